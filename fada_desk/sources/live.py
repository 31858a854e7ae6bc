"""The reader-thread machinery of every live source (capture devices, network streams).

A reader thread grabs continuously into a :class:`LatestFrameSlot`: the
newest frame always wins, so the display never lags behind a full driver or
network buffer (dropped frames are counted in ``stats.overwritten``).
``Frame.timestamp`` is ``time.monotonic()`` taken right after the grab.

When frames stop (cable pulled, scanner rebooted, stream sender gone) the
state goes ``running -> reconnecting``; the thread re-opens with exponential
backoff and goes back to ``running`` when frames flow again. After
``give_up_s`` without a frame the state becomes ``lost`` and consumers get
:class:`DeviceLostError`. ``close()`` returns within about a second.

The concrete sources are in :mod:`fada_desk.sources.capture`.
"""

from __future__ import annotations

import threading
import time
from abc import abstractmethod
from collections import deque
from collections.abc import Iterator
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from fada_desk.core.errors import DeviceLostError, SourceError, first_line
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, LatestFrameSlot, LiveStats, SourceInfo
from fada_desk.sources.video import bgr_to_rgb, sane_fps

__all__ = ["LiveSource", "redact_uri"]


def redact_uri(uri: str) -> str:
    """The URI without a password (rtsp://user:secret@cam -> rtsp://user:***@cam) for display and logs."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class LiveSource(FrameSource):
    """Reader-thread machinery shared by capture devices and streams.

    Subclasses implement :meth:`_open_capture` (return an opened
    ``cv2.VideoCapture`` or raise :class:`SourceError`).
    """

    kind = "live"

    def __init__(
        self,
        uri: str,
        *,
        read_timeout_s: float = 3.0,
        give_up_s: float = 15.0,
        backoff_s: tuple[float, float] = (0.25, 2.0),
    ) -> None:
        import cv2

        if give_up_s <= 0 or read_timeout_s <= 0:
            raise SourceError("timeouts must be positive")
        self._cv2 = cv2
        self._uri = uri
        self._read_timeout_s = float(read_timeout_s)
        self._give_up_s = float(give_up_s)
        self._backoff = (float(backoff_s[0]), float(backoff_s[1]))
        self._slot = LatestFrameSlot()
        self._stats = LiveStats(state="idle")
        self._stats_lock = threading.Lock()
        self._stop = threading.Event()
        self._error: DeviceLostError | None = None
        self._closed = False
        self._times: deque[float] = deque(maxlen=64)
        self._last_frame_t = 0.0
        self._loops = 0

        cap = self._open_capture()
        first = self._grab(cap)
        if first is None:
            cap.release()
            raise SourceError(f"{self._display_uri()}: opened, but no frame arrived")
        self._cap: Any = cap
        self._publish(first)
        self._info = SourceInfo(
            kind=self.kind,
            uri=self._display_uri(),
            width=first.width,
            height=first.height,
            frame_count=None,
            fps=self._nominal_fps(cap),
            live=True,
            metadata=self._metadata(cap),
        )
        self._set_state("running")
        self._thread = threading.Thread(target=self._run, name=f"fada-{self.kind}-reader", daemon=True)
        self._thread.start()

    # -- subclass hooks -------------------------------------------------
    @abstractmethod
    def _open_capture(self, budget_s: float | None = None) -> Any:
        """An opened cv2.VideoCapture, or raise SourceError.

        ``budget_s``: time left before the source gives up; an open that can
        block (network) should not wait longer than that.
        """

    def _display_uri(self) -> str:
        return redact_uri(self._uri)

    def _metadata(self, cap: Any) -> dict[str, Any]:
        return {}

    def _pace(self) -> None:
        """Hook for sources that must not run faster than real time (files)."""

    def _on_end(self) -> bool:
        """Called when grabbing fails; True = re-open at once without counting a loss (file looping)."""
        return False

    # -- reader thread ------------------------------------------------------
    def _nominal_fps(self, cap: Any) -> float | None:
        return sane_fps(cap.get(self._cv2.CAP_PROP_FPS))

    def _grab(self, cap: Any) -> Frame | None:
        try:
            if not cap.grab():
                return None
            t = time.monotonic()
            ok, bgr = cap.retrieve()
        except Exception:  # noqa: BLE001 - cv2.error from a dying driver is a lost frame, not a crash
            return None
        if not ok or bgr is None or bgr.size == 0:
            return None
        return Frame(pixels=bgr_to_rgb(bgr), index=None, timestamp=t)

    def _publish(self, frame: Frame) -> None:
        self._times.append(frame.timestamp)
        self._last_frame_t = frame.timestamp
        self._slot.put(frame)

    def _set_state(self, state: str, error: str | None = None) -> None:
        with self._stats_lock:
            self._stats.state = state
            if error is not None:
                self._stats.last_error = error

    def _run(self) -> None:
        cap = self._cap
        self._cap = None  # owned by this thread from now on
        delay = self._backoff[0]
        failing_since: float | None = None
        try:
            while not self._stop.is_set():
                if cap is None:
                    now = time.monotonic()
                    assert failing_since is not None
                    if now - failing_since >= self._give_up_s:
                        self._lose(failing_since)
                        return
                    if self._stop.wait(min(delay, max(0.0, self._give_up_s - (now - failing_since)))):
                        return
                    delay = min(delay * 2.0, self._backoff[1])
                    budget = self._give_up_s - (time.monotonic() - failing_since)
                    if budget <= 0:
                        continue
                    try:
                        cap = self._open_capture(budget)
                    except Exception as err:  # noqa: BLE001 - SourceError, or cv2.error while re-opening
                        self._set_state("reconnecting", first_line(err))
                        cap = None
                    continue
                self._pace()
                frame = self._grab(cap)
                if self._stop.is_set():
                    return
                if frame is None:
                    cap.release()
                    cap = None
                    if self._on_end():
                        try:
                            cap = self._open_capture()
                            self._loops += 1
                            continue
                        except Exception as err:  # noqa: BLE001
                            self._set_state("reconnecting", first_line(err))
                    if failing_since is None:
                        failing_since = self._last_frame_t or time.monotonic()
                    self._set_state("reconnecting", f"no frames from {self._display_uri()}")
                    continue
                self._publish(frame)
                if failing_since is not None:
                    with self._stats_lock:
                        self._stats.reconnects += 1
                    failing_since = None
                    delay = self._backoff[0]
                if self._stats.state != "running":
                    self._set_state("running")
        except Exception as err:  # noqa: BLE001 - never die silently: consumers must learn the source is gone
            msg = f"{self._display_uri()}: reader failed ({type(err).__name__}: {first_line(err)})"
            self._error = DeviceLostError(msg)
            self._set_state("lost", msg)
            self._slot.close()
        finally:
            if cap is not None:
                cap.release()
            if self._stats.state not in ("lost",):
                self._set_state("stopped")

    def _lose(self, since: float) -> None:
        waited = time.monotonic() - since
        msg = f"{self._display_uri()}: no frames for {waited:.0f} s; the device or stream is lost"
        self._error = DeviceLostError(msg)
        self._set_state("lost", msg)
        self._slot.close()

    # -- consumer API -------------------------------------------------------
    @property
    def slot(self) -> LatestFrameSlot:
        """The latest-frame mailbox (for pumps that wait on it directly)."""
        return self._slot

    @property
    def stats(self) -> LiveStats:
        """A snapshot: produced/overwritten from the slot, reconnects and state from the thread."""
        with self._stats_lock:
            snap = replace(self._stats)
        snap.produced = self._slot.produced
        snap.overwritten = self._slot.overwritten
        return snap

    @property
    def error(self) -> DeviceLostError | None:
        return self._error

    @property
    def measured_fps(self) -> float | None:
        """Frame rate over the last (up to 64) grabbed frames."""
        ts = list(self._times)
        if len(ts) < 2 or ts[-1] <= ts[0]:
            return None
        return (len(ts) - 1) / (ts[-1] - ts[0])

    def next_frame(self, after_seq: int = 0, timeout: float | None = None) -> tuple[Frame | None, int]:
        """The newest frame after ``after_seq`` (waits up to ``timeout``).

        Raises DeviceLostError once the source is lost.
        """
        frame, seq = self._slot.wait_next(after_seq, timeout)
        if frame is None and self._error is not None:
            raise self._error
        return frame, seq

    def frames(self, start: int = 0) -> Iterator[Frame]:
        """Newest frames as they arrive, until close(); raises DeviceLostError when the source is lost."""
        seq = 0
        while not self._closed:
            frame, seq = self._slot.wait_next(seq, timeout=0.25)
            if frame is not None:
                yield frame
            elif self._error is not None:
                raise self._error

    def close(self, timeout: float = 1.0) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._slot.close()
        thread = getattr(self, "_thread", None)
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            # A blocked grab returns within the read timeout; the daemon thread then releases the device.
            thread.join(timeout)
        if self._stats.state != "lost":
            self._set_state("stopped")
