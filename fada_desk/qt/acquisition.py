"""Sources and pumps of the workstation: open, show, freeze, reconnect, review a stored item.

Threads: the GUI thread never waits. It takes the newest frame from the
active :class:`~fada_desk.sources.pump.FramePump` when the pump posts a
wake-up (at most one pending, so a slow GUI only skips to the newest frame)
and on a 60 Hz timer that also follows the pump's state. Opening a source
runs as a job (:mod:`fada_desk.qt.workers`); closing a pump or a source (a
thread join, a device release) runs in the background too. The File menu's
pickers are in :mod:`fada_desk.qt.source_picker`.

Two pumps at most (:class:`~fada_desk.app.session_state.SessionState`): the
*acquisition* pump (device, stream or file) and, while a stored item is being
reviewed, a *review* pump over its frames. The acquisition pump is frozen (not
closed) during review, so going back to live does not reopen the device.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QMainWindow

from fada_desk.app.session_state import SessionState
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.cine import DEFAULT_MAX_BYTES, DEFAULT_SECONDS, CineBuffer
from fada_desk.core.errors import Cancelled, FadaError, error_text
from fada_desk.core.frame import Frame
from fada_desk.qt.cine_controller import CineController
from fada_desk.qt.layout import ElidedLabel
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.review.dock import ReviewDock
from fada_desk.qt.util import tracked_timer
from fada_desk.qt.workers import JobHandle, JobRunner
from fada_desk.sources.base import FrameSource
from fada_desk.sources.memory import FrameListSource
from fada_desk.sources.pump import FramePump
from fada_desk.sources.pump_stats import PumpState

DISPLAY_INTERVAL_MS = 15  # ~60 Hz poll of the display slot
STATUS_INTERVAL_MS = 500
STATE_TEXT = {
    PumpState.PLAYING: "Live", PumpState.PAUSED: "Paused", PumpState.FROZEN: "Frozen",
    PumpState.ENDED: "End of file", PumpState.RECONNECTING: "Signal lost — reconnecting…",
    PumpState.LOST: "Device lost", PumpState.ERROR: "Error", PumpState.STARTING: "Starting…",
    PumpState.CLOSED: "Closed",
}
STATE_COLORS = {PumpState.RECONNECTING: "#ef6c00", PumpState.LOST: "#c62828", PumpState.ERROR: "#c62828",
                PumpState.FROZEN: "#1565c0"}
_STILL = (PumpState.FROZEN, PumpState.PAUSED, PumpState.ENDED)  # states in which the slider shows


def redact(uri: str) -> str:
    """``uri`` without a stream password (files and devices unchanged)."""
    if "://" not in uri:
        return uri
    from fada_desk.sources.live import redact_uri

    return redact_uri(uri)


def display_name(uri: str) -> str:
    """What the user sees for a source: a redacted URL, else the file / folder name."""
    shown = redact(uri)
    return shown if "://" in shown else (Path(shown).name or shown)


class _FrameWaker(QObject):
    """Wakes the GUI thread as soon as a pump publishes a frame (instead of waiting for the poll).

    ``wake()`` is called on the pump thread; the queued signal runs the display
    tick on the GUI thread. At most one wake-up is pending at a time, so a slow
    GUI is never flooded: the next tick simply takes the newest frame.
    """

    woke = Signal()

    def __init__(self, parent: QObject) -> None:
        super().__init__(parent)
        self._pending = threading.Event()

    def wake(self) -> None:
        if not self._pending.is_set():
            self._pending.set()
            self.woke.emit()

    def clear(self) -> None:
        self._pending.clear()


class AcquisitionController(QObject):
    """Owns the pumps and the source status labels (``state_label``, ``stats_label``)."""

    def __init__(self, window: QMainWindow, state: SessionState, settings: QSettings, view: LiveView,
                 cine: CineController, review_dock: ReviewDock,
                 show_error: Callable[[str, str], Any]) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._settings = settings
        self._view = view
        self._cine = cine
        self._review_dock = review_dock
        self._show_error = show_error
        self.jobs = JobRunner(max_threads=2, parent=self)
        self._pending_sources: list[FrameSource] = []  # opened by a job, not yet attached or closed
        self._pending_lock = threading.Lock()  # guards them and state.closing (open jobs read it)
        self._opening: JobHandle | None = None
        self._last_state = ""
        # status bar labels: they shrink with "…" (full text as tooltip) rather than widen the window
        self.state_label = ElidedLabel("No source")
        self.state_label.setObjectName("stateLabel")
        self.stats_label = ElidedLabel("")
        self.stats_label.setObjectName("statsLabel")
        self._waker = _FrameWaker(self)
        self._waker.woke.connect(self._on_tick, Qt.ConnectionType.QueuedConnection)
        self._tick = tracked_timer(self, DISPLAY_INTERVAL_MS)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.timeout.connect(self._on_tick)
        self._status_timer = tracked_timer(self, STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self.update_status)

    def start(self) -> None:
        """Start the display loop and the status poll."""
        self._tick.start()
        self._status_timer.start()

    # ------------------------------------------------------------------ opening and closing
    def open_uri(self, uri: str | Path, options: dict[str, Any] | None = None) -> JobHandle:
        """Open a file, folder, ``device:N`` or URL in a worker; the current source stays until it works."""
        text = str(uri)
        opts = dict(options or {})
        if self._opening is not None:
            self._opening.cancel()
        self.state_label.setText(f"Opening {display_name(text)}…")

        opened: list[FrameSource] = []  # what this job opened: closed unless it got attached

        def job(token: CancelToken) -> Any:
            from fada_desk.sources import open_source

            yield Progress(f"Opening {text}")
            src = open_source(text, **opts)
            with self._pending_lock:
                if self._state.closing:  # the window closed while the device was opening
                    src.close()
                    raise Cancelled("window closed")
                opened.append(src)
                self._pending_sources.append(src)
            info = src.info  # some sources validate lazily: fail here, not in the pump
            if token.cancelled:
                raise Cancelled("cancelled by user")
            return src, info

        h = self.jobs.submit(job, "open-source")
        self._opening = h
        h.result.connect(lambda res: self.attach(res[0], text, opts))
        h.error.connect(lambda e: self._open_failed(text, e))
        h.finished.connect(lambda: self._close_unattached(h, opened))
        return h

    def _close_unattached(self, h: JobHandle, opened: list[FrameSource]) -> None:
        """After an open job: close what it opened unless it is now shown (cancelled / superseded)."""
        if self._opening is h:
            self._opening = None
        attached = self._state.pump.source if self._state.pump is not None else None
        for src in opened:
            with self._pending_lock:
                if src in self._pending_sources:
                    self._pending_sources.remove(src)
            if src is not attached:
                self.close_in_background(src.close, "close-source")

    def _open_failed(self, uri: str, err: BaseException) -> None:
        self.update_state_label()
        self._show_error(f"Cannot open {display_name(uri)}", error_text(err))

    def open_source(self, source: FrameSource, uri: str = "") -> FramePump:
        """Show an already opened source (tests, benchmark, other windows)."""
        return self.attach(source, uri or source.info.uri)

    def attach(self, source: FrameSource, uri: str, options: dict[str, Any] | None = None) -> FramePump:
        """Show ``source`` as the acquisition source; ``uri``/``options`` open it again (Reopen)."""
        st = self._state
        with self._pending_lock:
            if source in self._pending_sources:
                self._pending_sources.remove(source)
        if st.closing:
            source.close()
            raise FadaError("The window is closing.")
        self.leave_review(show_acquisition=False)
        self._close_pump()
        st.manual = None
        cine = CineBuffer(max_seconds=float(self._settings.value("cine/seconds", DEFAULT_SECONDS)),
                          max_bytes=int(self._settings.value("cine/max_bytes", DEFAULT_MAX_BYTES)))
        pump = FramePump(source, cine=cine, on_publish=self._waker.wake).start()
        st.pump = pump
        st.source_uri = redact(uri)  # stored with every capture: never a stream password
        st.reopen = (uri, dict(options or {})) if not isinstance(source, FrameListSource) else None
        st.shown = None
        self._last_state = ""
        self._cine.reset_marks()
        self._view.clear()
        info = source.info
        self._window.setWindowTitle(f"fada_desk — {display_name(st.source_uri)}")
        self._window.statusBar().showMessage(
            f"Opened {info.kind} {info.width}×{info.height}"
            + (f", {info.frame_count} frames" if info.frame_count else "")
            + (f" at {info.fps:.1f} fps" if info.fps else ""), 5000)
        self._cine.configure()
        st.refresh()
        st.source_opened.emit(info)
        return pump

    def reopen_source(self) -> JobHandle | None:
        """Open the current source again (after a lost device or a stream that ended)."""
        if self._state.reopen is None:
            self._window.statusBar().showMessage("Nothing to reopen.", 4000)
            return None
        uri, options = self._state.reopen
        return self.open_uri(uri, options)

    def close_source(self) -> None:
        self.leave_review(show_acquisition=False)
        self._close_pump()
        self._view.clear()
        self._state.shown = None
        self._state.source_uri = ""
        self.state_label.setText("No source")
        self.stats_label.setText("")
        self._window.setWindowTitle("fada_desk")
        self._cine.configure()
        self._state.refresh()

    def _close_pump(self) -> None:
        p, self._state.pump = self._state.pump, None
        if p is not None:
            self.close_in_background(p.close, "close-pump")

    def close_in_background(self, fn: Callable[[], Any], name: str) -> None:
        """Joining threads / releasing devices can take up to a second: not on the GUI thread."""
        if self._state.closing:
            fn()
            return
        self.jobs.submit(lambda token: fn(), name, cancellable=False)

    # ------------------------------------------------------------------ display loop
    def _on_tick(self) -> None:
        """Show the newest frame if there is one (timer poll or pump wake-up; never waits)."""
        self._waker.clear()
        st = self._state
        if st.closing:
            return
        p = st.active_pump()
        if p is None:
            return
        frame = p.take()
        if frame is not None:
            prev = st.shown
            self._view.show_frame(frame)
            st.shown = frame
            self._review_dock.frame_shown(st.review_item if st.review is not None else None, frame)
            self._cine.sync(p)
            if prev is None or prev.calibration is not frame.calibration:
                st.refresh_calibration()
        state = p.state
        if state != self._last_state:
            self._on_state_changed(p, state)

    def _on_state_changed(self, p: FramePump, state: str) -> None:
        previous, self._last_state = self._last_state, state
        self.update_state_label()
        if state == PumpState.RECONNECTING:
            self._window.statusBar().showMessage(p.message or "Signal lost, reconnecting…")
        elif state == PumpState.LOST:
            self._show_error("Capture device lost",
                             (p.message or "The capture device stopped sending frames.")
                             + " Check the cable, then use File > Reopen source (Ctrl+R).")
        elif state == PumpState.ERROR:
            self._show_error("Cannot read the source", p.message or "Unknown error.")
        elif previous == PumpState.RECONNECTING and state == PumpState.PLAYING:
            self._window.statusBar().showMessage("Signal restored.", 5000)
        if state in _STILL or previous in _STILL:
            self._cine.configure()
        self._state.refresh()

    def update_state_label(self) -> None:
        p = self._state.active_pump()
        if p is None:
            self.state_label.setText("No source")
            self.state_label.setStyleSheet("")
            return
        state = p.state
        text = STATE_TEXT.get(state, state)
        if self._state.review is not None:
            text = f"Reviewing capture #{getattr(self._state.review_item, 'id', '?')} — {text}"
        elif not p.live and state == PumpState.PLAYING:
            text = "Playing"
        self.state_label.setText(text)
        c = STATE_COLORS.get(state)
        self.state_label.setStyleSheet(f"color: white; background: {c}; padding: 1px 6px" if c else "")

    def update_status(self) -> None:
        """Rates and latency of the active pump in ``stats_label`` (every STATUS_INTERVAL_MS)."""
        p = self._state.active_pump()
        if p is None:
            return
        st = p.stats()

        def fps(v: float | None) -> str:
            return f"{v:.1f}" if v is not None else "–"

        lat = f"{st.display_latency_p50 * 1000:.0f} ms" if st.display_latency_p50 is not None else "–"
        self.stats_label.setText(f"Source {fps(st.source_fps)} fps · Display {fps(st.display_fps)} fps · "
                                 f"Dropped {st.dropped} · Latency {lat}")
        self.update_state_label()

    # ------------------------------------------------------------------ freeze
    def toggle_freeze(self) -> None:
        p = self._state.active_pump()
        if p is None or self._view.picking:
            return
        if p.state == PumpState.LOST:
            self._window.statusBar().showMessage("The device is lost: reopen it (File > Open device).", 5000)
            return
        frozen = p.toggle_freeze()
        self._last_state = p.state
        if frozen:
            self._cine.reset_marks()
            if not p.seekable and len(p.cine):
                p.show_cine(len(p.cine) - 1)
        else:
            self._view.clear_overlay()
        self._cine.configure()
        self.update_state_label()
        self._state.refresh()

    # ------------------------------------------------------------------ review of a stored item
    def enter_review(self, item: Any, frames: list[Frame]) -> None:
        """Show the frames of stored ``item`` (the acquisition pump stays open, frozen)."""
        st = self._state
        if st.closing:
            return
        if st.pump is not None and not st.pump.frozen:
            st.pump.freeze()
        old, st.review = st.review, None
        if old is not None:
            self.close_in_background(old.close, "close-review")
        fps = getattr(item, "fps", None) if len(frames) > 1 else None
        src = FrameListSource(frames, fps=fps, uri=f"exam item #{getattr(item, 'id', '?')}")
        st.review_item = item
        st.review = FramePump(src, loop=True, name="fada-review", on_publish=self._waker.wake).start()
        st.shown = None
        self._last_state = ""
        self._cine.configure()
        st.refresh()

    def leave_review(self, show_acquisition: bool = True) -> None:
        """Close the review pump; show the acquisition's current frame (or nothing)."""
        st = self._state
        r, st.review = st.review, None
        st.review_item = None
        if r is None:
            return
        self.close_in_background(r.close, "close-review")
        self._review_dock.frame_shown(None, None)
        self._view.clear_overlay()
        self._last_state = ""
        if show_acquisition and st.pump is not None:
            cur = st.pump.current()
            if cur is not None:
                self._view.show_frame(cur)
            st.shown = cur
        else:
            st.shown = None
            self._view.clear()
        self._cine.configure()
        st.refresh()
        self.update_state_label()

    # ------------------------------------------------------------------ shutdown
    def begin_shutdown(self) -> None:
        """Refuse new sources (an open job still running closes what it opens) and stop the loop."""
        with self._pending_lock:
            self._state.closing = True
        self._tick.stop()
        self._status_timer.stop()

    def close_all(self) -> None:
        """Close both pumps and every source opened but not shown (after the jobs finished)."""
        st = self._state
        for pump in (st.review, st.pump):
            if pump is not None:
                pump.close()
        st.review = st.pump = None
        with self._pending_lock:
            stale = list(self._pending_sources)
            self._pending_sources.clear()
        for src in stale:
            src.close()
