"""Frame pump: moves frames from one source to the cine buffer and the display.

The GUI thread must never decode, seek or wait on a device, so a
:class:`FramePump` owns its :class:`~fada_desk.sources.base.FrameSource` and a
background thread that is the *only* thread touching it:

* file sources are paced at their fps against ``time.monotonic()`` (frame ``k``
  is due at ``anchor + k / fps``), loop or stop at the end; seek/step requests
  from the GUI are coalesced (the newest wins, so a fast scrub never queues up);
* live sources are drained as frames arrive (through their latest-frame slot
  when they expose one, else through ``frames()``).

Every frame goes into the :class:`~fada_desk.core.cine.CineBuffer` and is
published into a :class:`~fada_desk.sources.base.LatestFrameSlot`; the display
polls :meth:`FramePump.take` from a timer and only ever gets the newest frame.
Failures never escape the thread: they become ``state``/``message``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from fada_desk.core.cancel import CancelToken
from fada_desk.core.cine import CineBuffer
from fada_desk.core.errors import DeviceLostError, FadaError, SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, LatestFrameSlot, SourceInfo

log = logging.getLogger(__name__)
T = TypeVar("T")

# States shown to the user.
STARTING, PLAYING, PAUSED, FROZEN, ENDED = "starting", "playing", "paused", "frozen", "ended"
RECONNECTING, LOST, ERROR, CLOSED = "reconnecting", "lost", "error", "closed"

_POLL_S = 0.05  # how often a blocked pump thread re-checks for close/commands
_WINDOW_S = 2.0  # fps measurement window
_LATENCY_SAMPLES = 1000


@dataclass(frozen=True)
class PumpStats:
    """A snapshot for the status bar / benchmark. Times in seconds."""

    state: str
    message: str
    produced: int  # frames the pump got from the source
    published: int  # frames offered to the display
    displayed: int  # frames the display took
    dropped_source: int  # grabbed by the device but overwritten before the pump took them
    dropped_display: int  # published but replaced before the display took them
    source_fps: float | None  # measured production rate
    display_fps: float | None  # measured take rate
    latency_p50: float | None  # source timestamp (or due time) -> publish
    latency_p99: float | None
    display_latency_p50: float | None  # source timestamp (or due time) -> take by the display
    display_latency_p99: float | None
    position: int | None  # file frame index last published
    frame_count: int | None
    reconnects: int = 0

    @property
    def dropped(self) -> int:
        return self.dropped_source + self.dropped_display


class _Rate:
    """Events per second over a sliding time window."""

    def __init__(self, window: float = _WINDOW_S) -> None:
        self._t: deque[float] = deque()
        self._window = window

    def add(self, t: float) -> None:
        self._t.append(t)
        while self._t and t - self._t[0] > self._window:
            self._t.popleft()

    def rate(self, now: float) -> float | None:
        while self._t and now - self._t[0] > self._window:
            self._t.popleft()
        if len(self._t) < 2:
            return None
        span = self._t[-1] - self._t[0]
        return (len(self._t) - 1) / span if span > 0 else None


def _percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    s = sorted(values)
    k = min(len(s) - 1, max(0, round(q / 100.0 * (len(s) - 1))))
    return s[k]


class FramePump:
    """Owns one source; a background thread feeds the cine buffer and the display slot."""

    def __init__(self, source: FrameSource, *, cine: CineBuffer | None = None, loop: bool = True,
                 autoplay: bool = True, name: str = "fada-pump",
                 on_publish: Callable[[], None] | None = None) -> None:
        """``on_publish`` is called on the publishing thread after each new display frame: it must
        only *schedule* work (e.g. post an event to the GUI thread), never block."""
        self._source = source
        self._on_publish = on_publish
        self._info: SourceInfo = source.info
        self._live = bool(self._info.live)
        self._seekable = bool(source.seekable) and not self._live
        self._count = self._info.frame_count if self._seekable else None
        fps = self._info.fps
        self._fps = float(fps) if fps and fps > 0 else None
        self.cine = cine if cine is not None else CineBuffer()
        self.display_slot = LatestFrameSlot()
        self._loop = loop
        self._clock = time.monotonic

        self._cv = threading.Condition()
        self._stop = False
        self._playing = bool(autoplay) and (self._live or (self._fps is not None and (self._count or 0) > 1))
        self._frozen = False
        self._ended = False
        self._error_state = ""  # "", ERROR or LOST
        self._message = ""
        self._seek_to: int | None = None
        self._calls: deque[tuple[Callable[[FrameSource], Any], Future[Any]]] = deque()
        self._position: int | None = None  # last published file index
        self._next_index = 0
        self._anchor: tuple[float, int] | None = None  # (time, index) of the pacing schedule

        self._produced = 0
        self._published = 0
        self._displayed = 0
        self._frozen_discarded = 0
        self._src_rate = _Rate()
        self._disp_rate = _Rate()
        self._lat: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._disp_lat: deque[float] = deque(maxlen=_LATENCY_SAMPLES)
        self._ref_times: dict[int, float] = {}  # display seq -> reference time for latency
        self._taken_seq = 0
        self._current: Frame | None = None
        self._stats_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._closed = False

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self) -> FramePump:
        if not self._started:
            self._started = True
            self._thread.start()
        return self

    def close(self, timeout: float = 1.0) -> bool:
        """Stop the thread and close the source. True when the thread ended within ``timeout``."""
        if self._closed:
            return not self._thread.is_alive()
        self._closed = True
        deadline = self._clock() + timeout
        with self._cv:
            self._stop = True
            self._cv.notify_all()
        self.display_slot.close()
        if self._started:
            # A live source blocked inside frames() only wakes when closed: give the
            # thread a moment to leave on its own, then close the source under it.
            self._thread.join(max(0.0, min(timeout * 0.6, deadline - self._clock())))
            if self._thread.is_alive() and self._live:
                self._close_source()
            self._thread.join(max(0.0, deadline - self._clock()))
        alive = self._thread.is_alive()
        if not alive or self._live:
            self._close_source()
        self._fail_pending_calls(SourceError("The source was closed."))
        if alive:
            log.warning("frame pump thread did not stop within %.1f s", timeout)
        return not alive

    def _close_source(self) -> None:
        try:
            self._source.close()
        except Exception:  # noqa: BLE001 - closing must never raise into the GUI
            log.exception("error while closing source %s", self._info.uri)

    def __enter__(self) -> FramePump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    # -- what it plays -------------------------------------------------------------------------
    @property
    def source(self) -> FrameSource:
        return self._source

    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def live(self) -> bool:
        return self._live

    @property
    def seekable(self) -> bool:
        return self._seekable

    @property
    def frame_count(self) -> int | None:
        return self._count

    @property
    def fps(self) -> float | None:
        return self._fps

    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def playing(self) -> bool:
        return self._playing and not self._frozen

    @property
    def position(self) -> int | None:
        return self._position

    @property
    def message(self) -> str:
        if self._message or not self._live:
            return self._message
        stats = getattr(self._source, "stats", None)
        if getattr(stats, "state", "") in (RECONNECTING, LOST):
            return str(getattr(stats, "last_error", "") or "")
        return ""

    @property
    def state(self) -> str:
        if self._closed:
            return CLOSED
        if self._error_state:
            return self._error_state
        if self._live:
            src_state = getattr(getattr(self._source, "stats", None), "state", "")
            if src_state in (RECONNECTING, LOST):
                return src_state
        if self._frozen:
            return FROZEN
        if not self._started:
            return STARTING
        if self._ended:
            return ENDED
        return PLAYING if self._playing else PAUSED

    # -- commands (any thread) -----------------------------------------------------------------
    def play(self) -> None:
        with self._cv:
            if self._error_state == LOST:
                return
            if self._error_state == ERROR:  # retry: the user asked for it
                self._error_state, self._message = "", ""
            if self._seekable and self._ended:
                self._next_index = 0
                self._ended = False
            self._playing = True
            self._frozen = False
            self._anchor = None
            self._cv.notify_all()

    def pause(self) -> None:
        with self._cv:
            if self._live:
                self._frozen = True
            self._playing = False
            self._cv.notify_all()

    def freeze(self) -> None:
        """Stop updating the display and the cine buffer (the scanner's Freeze)."""
        with self._cv:
            self._frozen = True
            if self._seekable:
                self._playing = False
            self._cv.notify_all()

    def unfreeze(self) -> None:
        with self._cv:
            self._frozen = False
            if self._seekable:
                if self._ended:
                    self._next_index = 0
                    self._ended = False
                self._playing = self._fps is not None and (self._count or 0) > 1
                self._anchor = None
            self._cv.notify_all()

    def toggle_freeze(self) -> bool:
        """Freeze or unfreeze; returns the new frozen flag."""
        if self._frozen:
            self.unfreeze()
        else:
            self.freeze()
        return self._frozen

    def seek(self, index: int) -> None:
        """Show file frame ``index`` (clamped); playback continues from there if playing."""
        if not self._seekable:
            raise SourceError(f"{self._info.kind} source cannot seek")
        n = self._count or 0
        with self._cv:
            self._seek_to = max(0, min(int(index), max(0, n - 1)))
            self._cv.notify_all()

    def step(self, delta: int) -> None:
        """Move ``delta`` frames from the current (or pending) position, without wrapping."""
        with self._cv:
            base = self._seek_to if self._seek_to is not None else (self._position or 0)
        self.seek(base + int(delta))

    def show_cine(self, index: int) -> Frame:
        """Publish cine entry ``index`` (0 = oldest) to the display; only while frozen."""
        if not self._frozen:
            raise SourceError("Freeze the image before scrubbing the cine buffer.")
        frame = self.cine.get(index)
        self._publish(frame, None, count=False)
        return frame

    def submit(self, fn: Callable[[FrameSource], T]) -> Future[T]:
        """Run ``fn(source)`` on the pump thread (the only thread allowed to read the source)."""
        fut: Future[T] = Future()
        with self._cv:
            if self._stop or self._closed:
                fut.set_exception(SourceError("The source was closed."))
                return fut
            self._calls.append((fn, fut))
            self._cv.notify_all()
        if not self._started:
            self.start()
        return fut

    def read_frames(self, start: int, stop: int, token: CancelToken | None = None,
                    max_bytes: int | None = None) -> list[Frame]:
        """File frames ``start`` .. ``stop - 1`` read on the pump thread (for "save clip")."""
        if not self._seekable:
            raise SourceError("Only file sources can be read by frame range.")
        n = self._count or 0
        start, stop = max(0, int(start)), min(int(stop), n)
        if stop <= start:
            raise SourceError(f"Empty frame range {start}..{stop}.")
        limit = max_bytes if max_bytes is not None else self.cine.max_bytes

        def job(src: FrameSource) -> list[Frame]:
            out: list[Frame] = []
            total = 0
            for i in range(start, stop):
                if token is not None:
                    token.check()
                f = src.read(i)
                total += f.pixels.nbytes
                if total > limit:
                    raise SourceError(f"Clip too large: more than {limit // (1024 * 1024)} MB "
                                      f"at frame {i}; choose a shorter range.")
                out.append(f)
            return out

        fut = self.submit(job)
        while True:
            if token is not None and token.cancelled:
                fut.cancel()
                token.check()
            try:
                return fut.result(timeout=0.1)
            except TimeoutError:
                continue

    # -- display side ----------------------------------------------------------------------------
    def take(self) -> Frame | None:
        """Newest published frame not yet taken, else None. Never blocks (call from the GUI timer)."""
        frame, seq = self.display_slot.wait_next(self._taken_seq, timeout=0)
        if frame is None:
            return None
        now = self._clock()
        self._taken_seq = seq
        with self._stats_lock:
            ref = self._ref_times.pop(seq, None)
            for old in [s for s in self._ref_times if s < seq]:
                del self._ref_times[old]
            self._displayed += 1
            self._disp_rate.add(now)
            if ref is not None:
                self._disp_lat.append(now - ref)
        return frame

    def current(self) -> Frame | None:
        """The frame most recently published (what the display shows or is about to)."""
        return self._current

    def stats(self) -> PumpStats:
        now = self._clock()
        src_stats = getattr(self._source, "stats", None) if self._live else None
        with self._stats_lock:
            lat = list(self._lat)
            dlat = list(self._disp_lat)
            return PumpStats(
                state=self.state, message=self.message, produced=self._produced,
                published=self._published, displayed=self._displayed,
                dropped_source=int(getattr(src_stats, "overwritten", 0) or 0),
                dropped_display=self.display_slot.overwritten,
                source_fps=self._src_rate.rate(now), display_fps=self._disp_rate.rate(now),
                latency_p50=_percentile(lat, 50), latency_p99=_percentile(lat, 99),
                display_latency_p50=_percentile(dlat, 50), display_latency_p99=_percentile(dlat, 99),
                position=self._position, frame_count=self._count,
                reconnects=int(getattr(src_stats, "reconnects", 0) or 0),
            )

    # -- pump thread ---------------------------------------------------------------------------
    def _publish(self, frame: Frame, ref_time: float | None, count: bool = True) -> None:
        now = self._clock()
        with self._stats_lock:
            self.display_slot.put(frame)
            _, seq = self.display_slot.latest()
            if ref_time is not None:
                self._ref_times[seq] = ref_time
                if count:
                    self._lat.append(now - ref_time)
            self._published += 1
            self._current = frame
        if self._on_publish is not None:
            try:
                self._on_publish()
            except Exception:  # noqa: BLE001 - a broken listener must not stop the stream
                log.exception("on_publish callback failed")

    def _set_error(self, err: BaseException) -> None:
        state = LOST if isinstance(err, DeviceLostError) else ERROR
        if isinstance(err, FadaError):
            msg = str(err)
        else:
            log.error("unexpected error in frame pump for %s", self._info.uri, exc_info=err)
            msg = f"Unexpected error reading {self._info.uri}: {type(err).__name__}: {err}"
        with self._cv:
            self._error_state = state
            self._message = msg
            self._playing = False

    def _run(self) -> None:
        try:
            if self._live:
                self._run_live()
            else:
                self._run_file()
        except BaseException as err:  # noqa: BLE001 - surfaced as state, never a crash
            self._set_error(err)
        finally:
            self._fail_pending_calls(SourceError("The source was closed."))

    def _run_calls(self) -> None:
        while True:
            with self._cv:
                if not self._calls:
                    return
                fn, fut = self._calls.popleft()
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(self._source))
            except BaseException as err:  # noqa: BLE001 - handed to the caller
                fut.set_exception(err)

    def _fail_pending_calls(self, err: Exception) -> None:
        with self._cv:
            calls = list(self._calls)
            self._calls.clear()
        for _, fut in calls:
            if fut.set_running_or_notify_cancel():
                fut.set_exception(err)

    # file sources
    def _read_publish(self, index: int, due: float | None) -> None:
        frame = self._source.read(index)
        now = self._clock()
        with self._stats_lock:
            self._produced += 1
            self._src_rate.add(now)
        self.cine.append(frame, now)
        self._position = index
        self._publish(frame, due)

    def _run_file(self) -> None:
        n = self._count or 0
        if n <= 0:
            raise SourceError(f"{self._info.uri}: the source has no frames")
        self._read_publish(0, None)
        self._anchor = (self._clock(), 0)  # frame k is due k / fps after the first one
        self._next_index = 1 % n if n > 1 else 0
        if n == 1:
            with self._cv:
                self._playing = False
        while True:
            with self._cv:
                if self._stop:
                    return
                seek = self._seek_to
                self._seek_to = None
                has_calls = bool(self._calls)
            if has_calls:
                self._run_calls()
            if seek is not None:
                self._do_seek(seek)
                continue
            with self._cv:
                if self._stop:
                    return
                if not (self._playing and not self._frozen) or self._fps is None:
                    if self._seek_to is None and not self._calls:
                        self._cv.wait(_POLL_S * 4)
                    continue
                now = self._clock()
                if self._anchor is None:
                    self._anchor = (now, self._next_index)
                t0, i0 = self._anchor
                k = self._next_index - i0
                if k < 0:
                    self._anchor = (now, self._next_index)
                    t0, k = now, 0
                due = t0 + k / self._fps
                if due - now > 0.0005:
                    self._cv.wait(min(due - now, _POLL_S))
                    continue
                index = self._next_index
            try:
                self._read_publish(index, due)
            except Exception as err:  # noqa: BLE001 - bad frame: surfaced, thread stays for seeks
                self._set_error(err)
                continue
            after = self._clock()
            with self._cv:
                if after - due > 2.0 / self._fps:
                    # Decoding fell behind: re-anchor (play slower) rather than skip frames.
                    self._anchor = (after, index)
                nxt = index + 1
                if nxt >= n:
                    if self._loop:
                        nxt = 0
                        t_last, i_last = self._anchor if self._anchor else (due, index)
                        self._anchor = (t_last + (index + 1 - i_last) / self._fps, 0)
                    else:
                        self._ended = True
                        self._playing = False
                        nxt = n - 1
                self._next_index = nxt

    def _do_seek(self, index: int) -> None:
        try:
            frame = self._source.read(index)
        except Exception as err:  # noqa: BLE001 - surfaced as state
            self._set_error(err)
            return
        with self._cv:
            if self._error_state == ERROR:
                self._error_state, self._message = "", ""
            self._position = index
            self._next_index = index + 1 if index + 1 < (self._count or 0) else (0 if self._loop else index)
            self._ended = False
            self._anchor = (self._clock(), index)
        self._publish(frame, None, count=False)

    # live sources
    def _run_live(self) -> None:
        slot = getattr(self._source, "slot", None)
        if isinstance(slot, LatestFrameSlot):
            self._run_live_slot(slot)
        else:
            self._run_live_iter(iter(self._source.frames()))

    def _accept_live(self, frame: Frame) -> None:
        now = self._clock()
        with self._cv:
            frozen = self._frozen
        if frozen:
            self._frozen_discarded += 1
            return
        with self._stats_lock:
            self._produced += 1
            self._src_rate.add(now)
        self.cine.append(frame, now)
        ref = frame.timestamp if 0 < frame.timestamp <= now + 1.0 else now
        self._publish(frame, ref)

    def _run_live_slot(self, slot: LatestFrameSlot) -> None:
        seq = 0
        while True:
            with self._cv:
                if self._stop:
                    return
                has_calls = bool(self._calls)
            if has_calls:
                self._run_calls()
            frame, seq = slot.wait_next(seq, timeout=_POLL_S)
            if frame is not None:
                self._accept_live(frame)
                continue
            stats = getattr(self._source, "stats", None)
            if getattr(stats, "state", "") == LOST:
                raise DeviceLostError(getattr(stats, "last_error", "") or
                                      f"{self._info.uri}: the device was lost")

    def _run_live_iter(self, frames: Iterator[Frame]) -> None:
        for frame in frames:
            with self._cv:
                if self._stop:
                    return
                has_calls = bool(self._calls)
            if has_calls:
                self._run_calls()
            self._accept_live(frame)
        with self._cv:
            if self._stop:
                return
        raise DeviceLostError(f"{self._info.uri}: the stream ended")


class FrameListSource(FrameSource):
    """A seekable source over frames already in memory (a stored clip, an exported cine range)."""

    kind = "memory"

    def __init__(self, frames: Sequence[Frame], fps: float | None = None, uri: str = "memory:",
                 metadata: dict[str, Any] | None = None) -> None:
        if not frames:
            raise SourceError("No frames to show.")
        self._frames = list(frames)
        first = self._frames[0]
        self._info = SourceInfo(kind=self.kind, uri=uri, width=first.width, height=first.height,
                                frame_count=len(self._frames), fps=fps, live=False,
                                calibration=first.calibration, metadata=dict(metadata or {}))

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    @property
    def info(self) -> SourceInfo:
        return self._info

    def read(self, index: int) -> Frame:
        if not 0 <= index < len(self._frames):
            raise SourceError(f"Frame {index} out of range (0..{len(self._frames) - 1}).")
        return self._frames[index]
