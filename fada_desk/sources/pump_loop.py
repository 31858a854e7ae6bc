"""The frame pump's background thread: the only thread that touches the source.

:class:`PumpLoop` holds the playback state that the GUI's commands change
(under one condition variable) and runs the thread body:

* file sources are paced at their fps against ``time.monotonic()`` (frame ``k``
  is due at ``anchor + k / fps``), loop or stop at the end; seek requests are
  coalesced (the newest wins, so a fast scrub never queues up);
* live sources are drained as frames arrive (through their latest-frame slot
  when they expose one, else through ``frames()``);
* calls submitted with :meth:`~fada_desk.sources.pump.FramePump.submit` run
  between frames.

Failures never escape the thread: they become ``state``/``message``. The
public API is :class:`fada_desk.sources.pump.FramePump`, built on this.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from typing import Any

from fada_desk.core.cine import CineBuffer
from fada_desk.core.errors import DeviceLostError, FadaError, SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, LatestFrameSlot, SourceInfo
from fada_desk.sources.pump_stats import PumpCounters, PumpState

log = logging.getLogger(__name__)

POLL_S = 0.05  # how often a blocked pump thread re-checks for close/commands


class PumpLoop:
    """Playback state, publishing, and the pump thread's loops (file pacing, live draining)."""

    def __init__(self, source: FrameSource, *, cine: CineBuffer | None = None, loop: bool = True,
                 autoplay: bool = True, name: str = "fada-pump",
                 on_publish: Callable[[], None] | None = None) -> None:
        """``on_publish`` is called on the publishing thread after each new display frame: it must
        only *schedule* work (e.g. post an event to the GUI thread), never block."""
        # What it plays (fixed): read these, never assign them.
        self.source = source
        self.info: SourceInfo = source.info
        self.live = bool(self.info.live)
        self.seekable = bool(source.seekable) and not self.live
        self.frame_count = self.info.frame_count if self.seekable else None
        fps = self.info.fps
        self.fps = float(fps) if fps and fps > 0 else None
        self.cine = cine if cine is not None else CineBuffer()
        self.display_slot = LatestFrameSlot()
        self._on_publish = on_publish
        self._loop = loop
        self._clock = time.monotonic

        # Playback state: changed under _cv by the commands and by the thread.
        self._cv = threading.Condition()
        self._stop = False
        can_play = self.live or (self.fps is not None and (self.frame_count or 0) > 1)
        self._playing = bool(autoplay) and can_play
        self._frozen = False
        self._ended = False
        self._error_state: PumpState | None = None  # ERROR or LOST
        self._message = ""
        self._seek_to: int | None = None
        self._calls: deque[tuple[Callable[[FrameSource], Any], Future[Any]]] = deque()
        self._position: int | None = None  # last published file index
        self._next_index = 0
        self._anchor: tuple[float, int] | None = None  # (time, index) of the pacing schedule

        self._counters = PumpCounters()
        self._current: Frame | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False  # lifecycle and display side: see FramePump
        self._closed = False
        self._taken_seq = 0

    # -- publishing ------------------------------------------------------------------------------
    def _publish(self, frame: Frame, ref_time: float | None, count: bool = True) -> None:
        self._counters.publish(self.display_slot, frame, ref_time, self._clock(), count)
        self._current = frame
        if self._on_publish is not None:
            try:
                self._on_publish()
            except Exception:  # noqa: BLE001 - a broken listener must not stop the stream
                log.exception("on_publish callback failed")

    def _set_error(self, err: BaseException) -> None:
        state = PumpState.LOST if isinstance(err, DeviceLostError) else PumpState.ERROR
        if isinstance(err, FadaError):
            msg = str(err)
        else:
            log.error("unexpected error in frame pump for %s", self.info.uri, exc_info=err)
            msg = f"Unexpected error reading {self.info.uri}: {type(err).__name__}: {err}"
        with self._cv:
            self._error_state = state
            self._message = msg
            self._playing = False

    def _close_source(self) -> None:
        try:
            self.source.close()
        except Exception:  # noqa: BLE001 - closing must never raise into the GUI
            log.exception("error while closing source %s", self.info.uri)

    # -- thread body -----------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            if self.live:
                self._run_live()
            else:
                self._run_file()
        except BaseException as err:  # noqa: BLE001 - surfaced as state, never a crash
            self._set_error(err)
        finally:
            self._fail_pending_calls(SourceError("The source was closed."))

    def _serve_calls(self) -> bool:
        """Run the submitted calls; False when the pump is stopping."""
        with self._cv:
            if self._stop:
                return False
            has_calls = bool(self._calls)
        if has_calls:
            self._run_calls()
        return True

    def _run_calls(self) -> None:
        while True:
            with self._cv:
                if not self._calls:
                    return
                fn, fut = self._calls.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(self.source))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                fut.set_exception(err)

    def _fail_pending_calls(self, err: Exception) -> None:
        with self._cv:
            calls = list(self._calls)
            self._calls.clear()
        for _, fut in calls:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(err)

    # -- file sources ----------------------------------------------------------------------------
    def _read_publish(self, index: int, due: float | None) -> None:
        frame = self.source.read(index)
        now = self._clock()
        self._counters.produced_at(now)
        self.cine.append(frame, now)
        self._position = index
        self._publish(frame, due)

    def _run_file(self) -> None:
        n = self.frame_count or 0
        if n <= 0:
            raise SourceError(f"{self.info.uri}: the source has no frames")
        self._read_publish(0, None)
        self._anchor = (self._clock(), 0)  # frame k is due k / fps after the first one
        self._next_index = 1 % n if n > 1 else 0
        if n == 1:
            with self._cv:
                self._playing = False
        while self._serve_calls():
            with self._cv:
                seek, self._seek_to = self._seek_to, None
            if seek is not None:
                self._do_seek(seek)
                continue
            next_due = self._wait_due()
            if next_due is None:
                continue
            due, index = next_due
            try:
                self._read_publish(index, due)
            except Exception as err:  # noqa: BLE001 - bad frame: surfaced, thread stays for seeks
                self._set_error(err)
                continue
            self._advance(index, due, n)

    def _wait_due(self) -> tuple[float, int] | None:
        """(due time, index) of the next frame once it is due; None after waiting (re-check commands)."""
        with self._cv:
            if self._stop:
                return None
            if not (self._playing and not self._frozen) or self.fps is None:
                if self._seek_to is None and not self._calls:
                    self._cv.wait(POLL_S * 4)
                return None
            now = self._clock()
            if self._anchor is None:
                self._anchor = (now, self._next_index)
            t0, i0 = self._anchor
            k = self._next_index - i0
            if k < 0:
                self._anchor = (now, self._next_index)
                t0, k = now, 0
            due = t0 + k / self.fps
            if due - now > 0.0005:
                self._cv.wait(min(due - now, POLL_S))
                return None
            return due, self._next_index

    def _advance(self, index: int, due: float, n: int) -> None:
        """After frame ``index`` (due at ``due``) was shown: schedule the next one, loop or end."""
        assert self.fps is not None
        after = self._clock()
        with self._cv:
            if after - due > 2.0 / self.fps:
                # Decoding fell behind: re-anchor (play slower) rather than skip frames.
                self._anchor = (after, index)
            nxt = index + 1
            if nxt >= n:
                if self._loop:
                    nxt = 0
                    t_last, i_last = self._anchor if self._anchor else (due, index)
                    self._anchor = (t_last + (index + 1 - i_last) / self.fps, 0)
                else:
                    self._ended = True
                    self._playing = False
                    nxt = n - 1
            self._next_index = nxt

    def _do_seek(self, index: int) -> None:
        try:
            frame = self.source.read(index)
        except Exception as err:  # noqa: BLE001 - surfaced as state
            self._set_error(err)
            return
        n = self.frame_count or 0
        with self._cv:
            if self._error_state == PumpState.ERROR:
                self._error_state, self._message = None, ""
            self._position = index
            self._next_index = index + 1 if index + 1 < n else (0 if self._loop else index)
            self._ended = False
            self._anchor = (self._clock(), index)
        self._publish(frame, None, count=False)

    # -- live sources ----------------------------------------------------------------------------
    def _run_live(self) -> None:
        slot = getattr(self.source, "slot", None)
        if isinstance(slot, LatestFrameSlot):
            self._run_live_slot(slot)
        else:
            self._run_live_iter(iter(self.source.frames()))

    def _accept_live(self, frame: Frame) -> None:
        now = self._clock()
        with self._cv:
            frozen = self._frozen
        if frozen:  # the scanner's Freeze: frames keep coming, nobody shows or keeps them
            return
        self._counters.produced_at(now)
        self.cine.append(frame, now)
        ref = frame.timestamp if 0 < frame.timestamp <= now + 1.0 else now
        self._publish(frame, ref)

    def _run_live_slot(self, slot: LatestFrameSlot) -> None:
        seq = 0
        while self._serve_calls():
            frame, seq = slot.wait_next(seq, timeout=POLL_S)
            if frame is not None:
                self._accept_live(frame)
                continue
            stats = getattr(self.source, "stats", None)
            if getattr(stats, "state", "") == PumpState.LOST:
                raise DeviceLostError(getattr(stats, "last_error", "") or
                                      f"{self.info.uri}: the device was lost")

    def _run_live_iter(self, frames: Iterator[Frame]) -> None:
        for frame in frames:
            if not self._serve_calls():
                return
            self._accept_live(frame)
        with self._cv:
            if self._stop:
                return
        raise DeviceLostError(f"{self.info.uri}: the stream ended")
