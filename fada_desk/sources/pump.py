"""Frame pump: moves frames from one source to the cine buffer and the display.

The GUI thread must never decode, seek or wait on a device, so a
:class:`FramePump` owns its :class:`~fada_desk.sources.base.FrameSource` and a
background thread that is the *only* thread touching it (the thread's loops
are in :mod:`fada_desk.sources.pump_loop`: file sources paced at their fps,
live sources drained as frames arrive).

Every frame goes into the :class:`~fada_desk.core.cine.CineBuffer` and is
published into a :class:`~fada_desk.sources.base.LatestFrameSlot`; the display
polls :meth:`FramePump.take` from a timer and only ever gets the newest frame.
Commands (play, freeze, seek, ...) may come from any thread; seeks are
coalesced. Failures never escape the thread: they become ``state``/``message``
(a :class:`~fada_desk.sources.pump_stats.PumpState`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import TypeVar

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource
from fada_desk.sources.pump_loop import PumpLoop
from fada_desk.sources.pump_stats import PumpState, PumpStats

log = logging.getLogger(__name__)
T = TypeVar("T")

_LIVE_TROUBLE = (PumpState.RECONNECTING, PumpState.LOST)


class FramePump(PumpLoop):
    """Owns one source; a background thread feeds the cine buffer and the display slot.

    ``FramePump(source, cine=None, loop=True, autoplay=True, name="fada-pump", on_publish=None)``;
    ``source``, ``info``, ``live``, ``seekable``, ``frame_count`` and ``fps``
    describe what it plays and never change.
    """

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
            if self._thread.is_alive() and self.live:
                self._close_source()
            self._thread.join(max(0.0, deadline - self._clock()))
        alive = self._thread.is_alive()
        if not alive or self.live:
            self._close_source()
        self._fail_pending_calls(SourceError("The source was closed."))
        if alive:
            log.warning("frame pump thread did not stop within %.1f s", timeout)
        return not alive

    def __enter__(self) -> FramePump:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    # -- where it is ---------------------------------------------------------------------------
    @property
    def frozen(self) -> bool:
        return self._frozen

    @property
    def playing(self) -> bool:
        return self._playing and not self._frozen

    @property
    def position(self) -> int | None:
        return self._position

    def _live_trouble(self) -> tuple[PumpState, str] | None:
        """(RECONNECTING or LOST, the source's message) while a live source reports trouble."""
        stats = getattr(self.source, "stats", None)
        state = getattr(stats, "state", "")
        if not self.live or state not in _LIVE_TROUBLE:
            return None
        return PumpState(state), str(getattr(stats, "last_error", "") or "")

    @property
    def message(self) -> str:
        if self._message:
            return self._message
        trouble = self._live_trouble()
        return trouble[1] if trouble else ""

    @property
    def state(self) -> PumpState:
        if self._closed:
            return PumpState.CLOSED
        if self._error_state is not None:
            return self._error_state
        trouble = self._live_trouble()
        if trouble is not None:
            return trouble[0]
        if self._frozen:
            return PumpState.FROZEN
        if not self._started:
            return PumpState.STARTING
        if self._ended:
            return PumpState.ENDED
        return PumpState.PLAYING if self._playing else PumpState.PAUSED

    # -- commands (any thread) -----------------------------------------------------------------
    def play(self) -> None:
        with self._cv:
            if self._error_state == PumpState.LOST:
                return
            if self._error_state == PumpState.ERROR:  # retry: the user asked for it
                self._error_state, self._message = None, ""
            self._restart_if_ended()
            self._playing = True
            self._frozen = False
            self._anchor = None
            self._cv.notify_all()

    def pause(self) -> None:
        with self._cv:
            if self.live:
                self._frozen = True
            self._playing = False
            self._cv.notify_all()

    def freeze(self) -> None:
        """Stop updating the display and the cine buffer (the scanner's Freeze)."""
        with self._cv:
            self._frozen = True
            if self.seekable:
                self._playing = False
            self._cv.notify_all()

    def unfreeze(self) -> None:
        with self._cv:
            self._frozen = False
            if self.seekable:
                self._restart_if_ended()
                self._playing = self.fps is not None and (self.frame_count or 0) > 1
                self._anchor = None
            self._cv.notify_all()

    def _restart_if_ended(self) -> None:
        """(under _cv) A file that played to its end starts again from frame 0."""
        if self.seekable and self._ended:
            self._next_index = 0
            self._ended = False

    def toggle_freeze(self) -> bool:
        """Freeze or unfreeze; returns the new frozen flag."""
        if self._frozen:
            self.unfreeze()
        else:
            self.freeze()
        return self._frozen

    def seek(self, index: int) -> None:
        """Show file frame ``index`` (clamped); playback continues from there if playing."""
        if not self.seekable:
            raise SourceError(f"{self.info.kind} source cannot seek")
        n = self.frame_count or 0
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
        if not self.seekable:
            raise SourceError("Only file sources can be read by frame range.")
        n = self.frame_count or 0
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
        self._taken_seq = seq
        self._counters.taken(seq, self._clock())
        return frame

    def current(self) -> Frame | None:
        """The frame most recently published (what the display shows or is about to)."""
        return self._current

    def stats(self) -> PumpStats:
        src_stats = getattr(self.source, "stats", None) if self.live else None
        return self._counters.snapshot(
            self._clock(), state=self.state, message=self.message,
            dropped_source=int(getattr(src_stats, "overwritten", 0) or 0),
            dropped_display=self.display_slot.overwritten,
            position=self._position, frame_count=self.frame_count,
            reconnects=int(getattr(src_stats, "reconnects", 0) or 0),
        )
