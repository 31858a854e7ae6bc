"""The workstation window: live view, freeze/cine, capture into the exam, calibration.

Threads: the GUI thread never waits. It takes the newest frame from the
active :class:`~fada_desk.core.pump.FramePump` when the pump posts a wake-up
(at most one pending, so a slow GUI only skips to the newest frame) and on a
60 Hz timer that also follows the pump's state. Opening a source, reading a
file range, and every exam-store call run as jobs
(:mod:`fada_desk.qt.workers`). Store calls go through one serial runner so
writes happen in the order the sonographer made them.

Two pumps at most: the *acquisition* pump (device, stream or file) and,
while a stored item is being reviewed, a *review* pump over its frames. The
acquisition pump is frozen (not closed) during review, so going back to live
does not reopen the device.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QByteArray, QObject, Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeyEvent, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMessageBox,
    QSlider,
    QToolBar,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core import pump as P
from fada_desk.core.calibration import Calibration, ManualCalibration
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.cine import DEFAULT_MAX_BYTES, DEFAULT_SECONDS, CineBuffer
from fada_desk.core.errors import CalibrationError, Cancelled, FadaError
from fada_desk.core.frame import Frame
from fada_desk.core.pump import FrameListSource, FramePump
from fada_desk.qt.ai.dock import AIDock
from fada_desk.qt.dialogs import CalibrationDialog, DeviceDialog, StreamUrlDialog
from fada_desk.qt.exam_dialogs import ExamBrowserDialog, ExamRequest, NewExamDialog
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.review.dock import ReviewDock
from fada_desk.qt.thumbnails import ThumbnailStrip, make_thumbnail
from fada_desk.qt.util import app_settings, show_message, tracked_timer
from fada_desk.qt.workers import JobHandle, JobRunner, error_text
from fada_desk.sources.base import FrameSource

log = logging.getLogger(__name__)

DISPLAY_INTERVAL_MS = 15  # ~60 Hz poll of the display slot
STATUS_INTERVAL_MS = 500
FILE_FILTER = ("Ultrasound media (*.dcm *.DCM *.dicom *.mp4 *.avi *.mov *.mkv *.m4v *.png *.jpg *.jpeg "
               "*.bmp *.tif *.tiff);;DICOM (*.dcm *.dicom);;Video (*.mp4 *.avi *.mov *.mkv *.m4v);;"
               "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff);;All files (*)")
STATE_TEXT = {
    P.PLAYING: "Live", P.PAUSED: "Paused", P.FROZEN: "Frozen", P.ENDED: "End of file",
    P.RECONNECTING: "Signal lost — reconnecting…", P.LOST: "Device lost", P.ERROR: "Error",
    P.STARTING: "Starting…", P.CLOSED: "Closed",
}


def _json_safe(value: Any, depth: int = 0) -> Any:
    """Keep only what JSON can store (source metadata may hold DICOM objects)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if depth > 4:
        return str(value)
    if isinstance(value, dict):
        return {str(k): _json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    return str(value)


def _redact(uri: str) -> str:
    if "://" not in uri:
        return uri
    from fada_desk.sources.capture import redact_uri

    return redact_uri(uri)


def calibration_text(cal: Calibration | None) -> str:
    """One line for the status bar: which calibration is active and its scale."""
    if cal is None or not cal.is_calibrated:
        return "Uncalibrated"
    if cal.manual is not None:
        return f"Manual {cal.manual.mm_per_px:.4f} mm/px"
    regions = [r for r in cal.regions if r.is_spatial_cm]
    sx, sy = regions[0].mm_per_px
    scale = f"{sx:.4f} mm/px" if abs(sx - sy) < 1e-9 else f"{sx:.4f} × {sy:.4f} mm/px"
    more = f" ({len(regions)} regions)" if len(regions) > 1 else ""
    return f"DICOM region {scale}{more}"


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


class MainWindow(QMainWindow):
    """Live view + cine + capture + exam. See the module docstring for the threading model."""

    sourceOpened = Signal(object)  # SourceInfo
    itemSaved = Signal(object)  # CapturedItem
    examChanged = Signal(object)  # Exam | None
    errorShown = Signal(str)
    calibrationChanged = Signal(object)  # Calibration | None

    def __init__(self, store_path: Path | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("fadaMainWindow")
        self.setWindowTitle("fada_desk")
        self.setAcceptDrops(True)
        self.settings = app_settings()
        self._store_path = store_path
        self._store: Any = None
        self._store_lock = threading.Lock()
        self._jobs = JobRunner(max_threads=2, parent=self)
        self._store_jobs = JobRunner(max_threads=1, parent=self)
        self._pending_sources: list[FrameSource] = []
        self._pending_lock = threading.Lock()
        self._opening: JobHandle | None = None
        self._pump: FramePump | None = None
        self._review: FramePump | None = None
        self._review_item: Any = None
        self._source_uri = ""
        self._reopen: tuple[str, dict[str, Any]] | None = None
        self._shown: Frame | None = None
        self._manual: ManualCalibration | None = None
        self._exam: Any = None
        self._last_state = ""
        self._closing = False
        self._error_box: QMessageBox | None = None
        self.last_error = ""
        self._slider_guard = False
        self._mark_in: int | None = None
        self._slider_key: tuple[int, str] = (0, "")
        self._mark_out: int | None = None
        self._build_ui()
        self._waker = _FrameWaker(self)
        self._waker.woke.connect(self._on_tick, Qt.ConnectionType.QueuedConnection)
        self._tick = tracked_timer(self, DISPLAY_INTERVAL_MS)
        self._tick.setTimerType(Qt.TimerType.PreciseTimer)
        self._tick.timeout.connect(self._on_tick)
        self._status_timer = tracked_timer(self, STATUS_INTERVAL_MS)
        self._status_timer.timeout.connect(self._update_status)
        self._tick.start()
        self._status_timer.start()
        geo = self.settings.value("window/geometry")
        if isinstance(geo, QByteArray):
            self.restoreGeometry(geo)
        else:
            self.resize(1280, 860)
        self._update_actions()

    # ------------------------------------------------------------------ UI construction
    def _build_ui(self) -> None:
        self.view = LiveView(self)
        self.view.pointsPicked.connect(self._on_calibration_points)
        self.view.pickCancelled.connect(lambda: self.statusBar().showMessage("Calibration cancelled.", 4000))

        self.cine_slider = QSlider(Qt.Orientation.Horizontal)
        self.cine_slider.setObjectName("cineSlider")
        self.cine_slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.cine_slider.valueChanged.connect(self._on_slider)
        self.cine_label = QLabel("")
        self.cine_label.setMinimumWidth(190)
        self.range_label = QLabel("")
        self.cine_bar = QWidget()
        cb = QHBoxLayout(self.cine_bar)
        cb.setContentsMargins(6, 2, 6, 2)
        cb.addWidget(QLabel("Cine"))
        cb.addWidget(self.cine_slider, 1)
        cb.addWidget(self.cine_label)
        cb.addWidget(self.range_label)
        self.cine_bar.setVisible(False)

        central = QWidget()
        lay = QVBoxLayout(central)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(0)
        lay.addWidget(self.view, 1)
        lay.addWidget(self.cine_bar)
        self.setCentralWidget(central)

        self.thumbs = ThumbnailStrip()
        self.thumbs.itemChosen.connect(self.show_item)
        dock = QDockWidget("Exam captures", self)
        dock.setObjectName("capturesDock")
        dock.setWidget(self.thumbs)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
        self.review_dock = ReviewDock(self.view, self, str(self.settings.value("exam/operator", "")))
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.review_dock)
        self.calibrationChanged.connect(self.review_dock.calibration_changed)

        self._build_actions()
        self._build_status()
        self.ai_dock = AIDock(self)  # AI panel + AI menu; runs on the frozen / reviewed frame
        # The image is the work: side panels may not take more than ~40% of a laptop screen,
        # whatever their tables would like (they scroll instead).
        for side in (self.review_dock, self.ai_dock):
            side.setMaximumWidth(460)

    def _action(self, text: str, slot: Callable[[], Any], shortcut: str | QKeySequence | None = None,
                tip: str = "") -> QAction:
        a = QAction(text, self)
        a.triggered.connect(lambda _checked=False: slot())
        if shortcut is not None:
            a.setShortcut(QKeySequence(shortcut))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if tip:
            a.setStatusTip(tip)
        self.addAction(a)
        return a

    def _build_actions(self) -> None:
        self.act_open = self._action("&Open file…", self.choose_file, QKeySequence.StandardKey.Open)
        self.act_open_folder = self._action("Open &folder…", self.choose_folder)
        self.act_open_device = self._action("Open &device…", self.choose_device, "Ctrl+D")
        self.act_open_stream = self._action("Open &stream URL…", self.choose_stream, "Ctrl+U")
        self.act_reopen = self._action("&Reopen source", self.reopen_source, "Ctrl+R",
                                       "Open the current device, stream or file again")
        self.act_close_source = self._action("&Close source", self.close_source)
        self.act_quit = self._action("&Quit", self.close, QKeySequence.StandardKey.Quit)
        self.act_freeze = self._action("Freeze", self.toggle_freeze, Qt.Key.Key_Space,
                                       "Freeze / unfreeze the image (Space)")
        self.act_step_back = self._action("Previous frame", lambda: self.step(-1), Qt.Key.Key_Left)
        self.act_step_fwd = self._action("Next frame", lambda: self.step(1), Qt.Key.Key_Right)
        self.act_mark_in = self._action("Mark clip start", self.mark_in, Qt.Key.Key_I)
        self.act_mark_out = self._action("Mark clip end", self.mark_out, Qt.Key.Key_O)
        self.act_capture = self._action("Capture", self.capture_still, "Ctrl+S",
                                        "Store the image on screen in the exam")
        self.act_clip = self._action("Save clip", self.save_clip, "Ctrl+Shift+S",
                                     "Store the cine range in the exam")
        self.act_calibrate = self._action("Calibrate…", self.start_calibration, "Ctrl+K",
                                          "Click two marks on the depth scale, type the distance")
        self.act_live = self._action("Back to live", self.leave_review, Qt.Key.Key_Escape)
        self.act_new_exam = self._action("&New exam…", self.new_exam, QKeySequence.StandardKey.New)
        self.act_open_exam = self._action("Open e&xam…", self.open_exam_browser, "Ctrl+E")
        self.act_fit = self._action("Fit image", self.view.fit, "Ctrl+0")
        self.act_reset_display = self._action("Reset brightness/contrast", self._reset_display)

        mb = self.menuBar()
        m = mb.addMenu("&File")
        for a in (self.act_open, self.act_open_folder, self.act_open_device, self.act_open_stream,
                  self.act_reopen, self.act_close_source):
            m.addAction(a)
        m.addSeparator()
        m.addAction(self.act_quit)
        m = mb.addMenu("&Exam")
        for a in (self.act_new_exam, self.act_open_exam):
            m.addAction(a)
        m = mb.addMenu("&Review")
        m.addAction(self.review_dock.act_export)
        m.addAction(self.review_dock.toggleViewAction())
        m = mb.addMenu("&Image")
        for a in (self.act_freeze, self.act_step_back, self.act_step_fwd, self.act_mark_in, self.act_mark_out,
                  self.act_capture, self.act_clip, self.act_calibrate, self.act_live, self.act_fit,
                  self.act_reset_display):
            m.addAction(a)

        tb = QToolBar("Main")
        tb.setObjectName("mainToolbar")
        tb.setMovable(False)
        for a in (self.act_open, self.act_freeze, self.act_capture, self.act_clip, self.act_calibrate,
                  self.act_live, self.act_new_exam, self.act_open_exam):
            tb.addAction(a)
        tb.addSeparator()
        tb.addWidget(QLabel(" Brightness "))
        self.brightness = QSlider(Qt.Orientation.Horizontal)
        self.brightness.setObjectName("brightnessSlider")
        self.brightness.setRange(-100, 100)
        self.brightness.setFixedWidth(110)
        self.brightness.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb.addWidget(self.brightness)
        tb.addWidget(QLabel(" Contrast "))
        self.contrast = QSlider(Qt.Orientation.Horizontal)
        self.contrast.setObjectName("contrastSlider")
        self.contrast.setRange(25, 400)  # percent gain
        self.contrast.setValue(100)
        self.contrast.setFixedWidth(110)
        self.contrast.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        tb.addWidget(self.contrast)
        self.brightness.valueChanged.connect(self._apply_display)
        self.contrast.valueChanged.connect(self._apply_display)
        for w in tb.findChildren(QWidget):
            w.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.addToolBar(tb)

    def _build_status(self) -> None:
        sb = self.statusBar()
        self.state_label = QLabel("No source")
        self.state_label.setObjectName("stateLabel")
        self.stats_label = QLabel("")
        self.stats_label.setObjectName("statsLabel")
        self.calibration_label = QLabel("Uncalibrated")
        self.calibration_label.setObjectName("calibrationLabel")
        self.exam_label = QLabel("No exam")
        self.exam_label.setObjectName("examLabel")
        sb.addWidget(self.state_label)
        sb.addPermanentWidget(self.stats_label)
        sb.addPermanentWidget(self.calibration_label)
        sb.addPermanentWidget(self.exam_label)

    # ------------------------------------------------------------------ sources
    @property
    def pump(self) -> FramePump | None:
        """The acquisition pump (device / stream / file)."""
        return self._pump

    @property
    def review_pump(self) -> FramePump | None:
        return self._review

    def active_pump(self) -> FramePump | None:
        return self._review if self._review is not None else self._pump

    @property
    def shown_frame(self) -> Frame | None:
        return self._shown

    def choose_file(self) -> None:
        start = str(self.settings.value("paths/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self, "Open image, video or DICOM", start, FILE_FILTER)
        if path:
            self.settings.setValue("paths/last_dir", str(Path(path).parent))
            self.open_uri(path)

    def choose_folder(self) -> None:
        start = str(self.settings.value("paths/last_dir", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self, "Open a folder of images", start)
        if path:
            self.settings.setValue("paths/last_dir", path)
            self.open_uri(path)

    def choose_device(self) -> JobHandle:
        """List devices in a worker (probing can be slow on Windows), then show the dialog."""
        def job(token: CancelToken) -> list[Any]:
            from fada_desk.sources.capture import list_devices

            return list(list_devices())

        h = self._jobs.submit(job, "list-devices")
        h.result.connect(self._show_device_dialog)
        h.error.connect(lambda e: self.show_error("Cannot list capture devices", error_text(e)))
        return h

    def _show_device_dialog(self, devices: list[Any]) -> DeviceDialog:
        dlg = DeviceDialog(devices, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def accepted() -> None:
            choice = dlg.selection()
            if choice is not None:
                self.open_uri(choice.uri, choice.options)

        dlg.accepted.connect(accepted)
        dlg.open()
        self.device_dialog = dlg
        return dlg

    def choose_stream(self) -> StreamUrlDialog:
        dlg = StreamUrlDialog(str(self.settings.value("paths/last_stream", "")), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def accepted() -> None:
            self.settings.setValue("paths/last_stream", dlg.value())
            self.open_uri(dlg.value())

        dlg.accepted.connect(accepted)
        dlg.open()
        self.stream_dialog = dlg
        return dlg

    def open_uri(self, uri: str | Path, options: dict[str, Any] | None = None) -> JobHandle:
        """Open a file, folder, ``device:N`` or URL in a worker; the current source stays until it works."""
        text = str(uri)
        opts = dict(options or {})
        if self._opening is not None:
            self._opening.cancel()
        shown = _redact(text)
        self.state_label.setText(f"Opening {shown if '://' in shown else (Path(shown).name or shown)}…")

        opened: list[FrameSource] = []  # what this job opened: closed unless it got attached

        def job(token: CancelToken) -> Any:
            from fada_desk.sources import open_source

            yield Progress(f"Opening {text}")
            src = open_source(text, **opts)
            with self._pending_lock:
                if self._closing:  # the window closed while the device was opening
                    src.close()
                    raise Cancelled("window closed")
                opened.append(src)
                self._pending_sources.append(src)
            info = src.info  # some sources validate lazily: fail here, not in the pump
            if token.cancelled:
                raise Cancelled("cancelled by user")
            return src, info

        h = self._jobs.submit(job, "open-source")
        self._opening = h
        h.result.connect(lambda res: self._attach(res[0], text, opts))
        h.error.connect(lambda e: self._open_failed(text, e))
        h.finished.connect(lambda: self._close_unattached(h, opened))
        return h

    def _close_unattached(self, h: JobHandle, opened: list[FrameSource]) -> None:
        """After an open job: close what it opened unless it is now shown (cancelled / superseded)."""
        if self._opening is h:
            self._opening = None
        attached = self._pump.source if self._pump is not None else None
        for src in opened:
            with self._pending_lock:
                if src in self._pending_sources:
                    self._pending_sources.remove(src)
            if src is not attached:
                self._close_in_background(src.close, "close-source")

    def _open_failed(self, uri: str, err: BaseException) -> None:
        self._update_state_label()
        shown = _redact(uri)
        self.show_error(f"Cannot open {shown if '://' in shown else (Path(shown).name or shown)}",
                        error_text(err))

    def open_source(self, source: FrameSource, uri: str = "") -> FramePump:
        """Show an already opened source (tests, benchmark, other windows)."""
        return self._attach(source, uri or source.info.uri)

    def _attach(self, source: FrameSource, uri: str, options: dict[str, Any] | None = None) -> FramePump:
        with self._pending_lock:
            if source in self._pending_sources:
                self._pending_sources.remove(source)
        if self._closing:
            source.close()
            raise FadaError("The window is closing.")
        self._leave_review(show_acquisition=False)
        self._close_pump()
        self._manual = None
        cine = CineBuffer(max_seconds=float(self.settings.value("cine/seconds", DEFAULT_SECONDS)),
                          max_bytes=int(self.settings.value("cine/max_bytes", DEFAULT_MAX_BYTES)))
        self._pump = FramePump(source, cine=cine, on_publish=self._waker.wake).start()
        self._source_uri = _redact(uri)  # stored with every capture: never a stream password
        self._reopen = (uri, dict(options or {})) if not isinstance(source, FrameListSource) else None
        self._shown = None
        self._last_state = ""
        self._mark_in = self._mark_out = None
        self.view.clear()
        info = source.info
        shown = self._source_uri
        self.setWindowTitle(f"fada_desk — {shown if '://' in shown else (Path(shown).name or shown)}")
        self.statusBar().showMessage(
            f"Opened {info.kind} {info.width}×{info.height}"
            + (f", {info.frame_count} frames" if info.frame_count else "")
            + (f" at {info.fps:.1f} fps" if info.fps else ""), 5000)
        self._configure_slider()
        self._update_actions()
        self._update_calibration_label()
        self.sourceOpened.emit(info)
        return self._pump

    def reopen_source(self) -> JobHandle | None:
        """Open the current source again (after a lost device or a stream that ended)."""
        if self._reopen is None:
            self.statusBar().showMessage("Nothing to reopen.", 4000)
            return None
        uri, options = self._reopen
        return self.open_uri(uri, options)

    def close_source(self) -> None:
        self._leave_review(show_acquisition=False)
        self._close_pump()
        self.view.clear()
        self._shown = None
        self._source_uri = ""
        self.state_label.setText("No source")
        self.stats_label.setText("")
        self.setWindowTitle("fada_desk")
        self._configure_slider()
        self._update_actions()

    def _close_pump(self) -> None:
        p, self._pump = self._pump, None
        if p is not None:
            self._close_in_background(p.close, "close-pump")

    def _close_in_background(self, fn: Callable[[], Any], name: str) -> None:
        """Joining threads / releasing devices can take up to a second: not on the GUI thread."""
        if self._closing:
            fn()
            return
        self._jobs.submit(lambda token: fn(), name, cancellable=False)

    # ------------------------------------------------------------------ display loop
    def _on_tick(self) -> None:
        """Show the newest frame if there is one (timer poll or pump wake-up; never waits)."""
        self._waker.clear()
        if self._closing:
            return
        p = self.active_pump()
        if p is None:
            return
        frame = p.take()
        if frame is not None:
            prev = self._shown
            self.view.show_frame(frame)
            self._shown = frame
            self.review_dock.frame_shown(self._review_item if self._review is not None else None, frame)
            self._sync_slider(p)
            if prev is None or prev.calibration is not frame.calibration:
                self._update_calibration_label()
        state = p.state
        if state != self._last_state:
            self._on_state_changed(p, state)

    def _on_state_changed(self, p: FramePump, state: str) -> None:
        previous, self._last_state = self._last_state, state
        self._update_state_label()
        if state == P.RECONNECTING:
            self.statusBar().showMessage(p.message or "Signal lost, reconnecting…")
        elif state == P.LOST:
            self.show_error("Capture device lost", (p.message or "The capture device stopped sending frames.")
                            + " Check the cable, then use File > Reopen source (Ctrl+R).")
        elif state == P.ERROR:
            self.show_error("Cannot read the source", p.message or "Unknown error.")
        elif previous == P.RECONNECTING and state == P.PLAYING:
            self.statusBar().showMessage("Signal restored.", 5000)
        if state in (P.FROZEN, P.PAUSED, P.ENDED) or previous in (P.FROZEN, P.PAUSED, P.ENDED):
            self._configure_slider()
        self._update_actions()

    def _update_state_label(self) -> None:
        p = self.active_pump()
        if p is None:
            self.state_label.setText("No source")
            self.state_label.setStyleSheet("")
            return
        state = p.state
        text = STATE_TEXT.get(state, state)
        if self._review is not None:
            text = f"Reviewing capture #{getattr(self._review_item, 'id', '?')} — {text}"
        elif not p.live and state == P.PLAYING:
            text = "Playing"
        self.state_label.setText(text)
        colors = {P.RECONNECTING: "#ef6c00", P.LOST: "#c62828", P.ERROR: "#c62828", P.FROZEN: "#1565c0"}
        c = colors.get(state)
        self.state_label.setStyleSheet(f"color: white; background: {c}; padding: 1px 6px" if c else "")

    def _update_status(self) -> None:
        p = self.active_pump()
        if p is None:
            return
        st = p.stats()

        def fps(v: float | None) -> str:
            return f"{v:.1f}" if v is not None else "–"

        lat = f"{st.display_latency_p50 * 1000:.0f} ms" if st.display_latency_p50 is not None else "–"
        self.stats_label.setText(f"Source {fps(st.source_fps)} fps · Display {fps(st.display_fps)} fps · "
                                 f"Dropped {st.dropped} · Latency {lat}")
        self._update_state_label()

    # ------------------------------------------------------------------ freeze / cine
    def toggle_freeze(self) -> None:
        p = self.active_pump()
        if p is None or self.view.picking:
            return
        if p.state == P.LOST:
            self.statusBar().showMessage("The device is lost: reopen it (File > Open device).", 5000)
            return
        frozen = p.toggle_freeze()
        self._last_state = p.state
        if frozen:
            self._mark_in = self._mark_out = None
            if not p.seekable and len(p.cine):
                self._slider_guard = True
                p.show_cine(len(p.cine) - 1)
                self._slider_guard = False
        else:
            self.view.clear_overlay()
        self._configure_slider()
        self._update_state_label()
        self._update_actions()

    def _slider_mode(self, p: FramePump | None) -> str:
        if p is None:
            return ""
        if p.seekable and (p.frame_count or 0) > 1:
            return "file"
        if p.live and p.frozen and len(p.cine) > 0:
            return "cine"
        return ""

    def _configure_slider(self) -> None:
        """Show the slider for the active pump; keeps the scrub position while the mode is unchanged."""
        p = self.active_pump()
        mode = self._slider_mode(p)
        key = (id(p), mode)
        changed = key != self._slider_key
        self._slider_key = key
        self.cine_bar.setVisible(bool(mode))
        if not mode or p is None:
            return
        self._slider_guard = True
        try:
            if mode == "file":
                self.cine_slider.setRange(0, (p.frame_count or 1) - 1)
                if changed:
                    self.cine_slider.setValue(p.position or 0)
            elif changed:
                n = len(p.cine)
                self.cine_slider.setRange(0, n - 1)
                self.cine_slider.setValue(n - 1)
        finally:
            self._slider_guard = False
        self._update_cine_label()

    def _sync_slider(self, p: FramePump) -> None:
        if self._slider_mode(p) == "file" and not self.cine_slider.isSliderDown() and p.position is not None:
            self._slider_guard = True
            self.cine_slider.setValue(p.position)
            self._slider_guard = False
            self._update_cine_label()

    def _on_slider(self, value: int) -> None:
        self._update_cine_label()
        if self._slider_guard:
            return
        p = self.active_pump()
        mode = self._slider_mode(p)
        try:
            if mode == "file" and p is not None:
                p.seek(value)
            elif mode == "cine" and p is not None:
                p.show_cine(value)
        except (FadaError, IndexError) as err:
            self.statusBar().showMessage(str(err), 4000)

    def _update_cine_label(self) -> None:
        p = self.active_pump()
        mode = self._slider_mode(p)
        v, n = self.cine_slider.value(), self.cine_slider.maximum() + 1
        if mode == "cine" and p is not None:
            secs = p.cine.duration
            self.cine_label.setText(f"Cine {v + 1}/{n} ({secs:.1f} s)")
        elif mode == "file":
            self.cine_label.setText(f"Frame {v + 1}/{n}")
        else:
            self.cine_label.setText("")
        lo, hi = self.clip_range()
        self.range_label.setText(f"Clip {lo + 1}–{hi + 1}" if mode and hi >= lo else "")

    def step(self, delta: int) -> None:
        p = self.active_pump()
        mode = self._slider_mode(p)
        if not mode or p is None or not (p.frozen or not p.playing):
            return
        self.cine_slider.setValue(self.cine_slider.value() + delta)

    def scrub_to(self, index: int) -> None:
        """Move the cine/file slider (what dragging it does)."""
        self.cine_slider.setValue(index)

    def mark_in(self) -> None:
        if self._slider_mode(self.active_pump()):
            self._mark_in = self.cine_slider.value()
            if self._mark_out is not None and self._mark_out < self._mark_in:
                self._mark_out = None
            self._update_cine_label()

    def mark_out(self) -> None:
        if self._slider_mode(self.active_pump()):
            self._mark_out = self.cine_slider.value()
            if self._mark_in is not None and self._mark_in > self._mark_out:
                self._mark_in = None
            self._update_cine_label()

    def clip_range(self) -> tuple[int, int]:
        """Inclusive (start, end) of the clip to save, in slider units; defaults to everything."""
        p = self.active_pump()
        mode = self._slider_mode(p)
        if mode == "file" and p is not None:
            last = (p.frame_count or 1) - 1
        elif p is not None:
            last = len(p.cine) - 1
        else:
            return (0, -1)
        lo = self._mark_in if self._mark_in is not None else 0
        hi = self._mark_out if self._mark_out is not None else last
        return (max(0, min(lo, last)), max(0, min(hi, last)))

    # ------------------------------------------------------------------ display adjustments
    def _apply_display(self) -> None:
        self.view.set_brightness_contrast(self.brightness.value(), self.contrast.value() / 100.0)

    def _reset_display(self) -> None:
        self.brightness.setValue(0)
        self.contrast.setValue(100)
        self.view.reset_display()

    # ------------------------------------------------------------------ exam store
    def _ensure_store(self) -> Any:
        with self._store_lock:
            if self._store is None:
                from fada_desk.storage import ExamStore

                self._store = ExamStore.open(self._store_path)
            return self._store

    def store_call(self, fn: Callable[[Any], Any], name: str) -> JobHandle:
        """Run ``fn(store)`` on the serial store runner (opens the store on first use)."""
        def job(token: CancelToken) -> Any:
            return fn(self._ensure_store())

        return self._store_jobs.submit(job, name)

    @property
    def exam(self) -> Any:
        return self._exam

    def new_exam(self, then: Callable[[Any], None] | None = None) -> NewExamDialog:
        dlg = NewExamDialog(self, operator=str(self.settings.value("exam/operator", "")))
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def accepted() -> None:
            req = dlg.request()
            if req is not None:
                self.settings.setValue("exam/operator", req.operator)
                self.create_exam(req, then)

        def rejected() -> None:
            if then is not None:
                self.statusBar().showMessage("Not saved: no exam is open.", 6000)

        dlg.accepted.connect(accepted)
        dlg.rejected.connect(rejected)
        dlg.open()
        self.exam_dialog = dlg
        return dlg

    def create_exam(self, req: ExamRequest, then: Callable[[Any], None] | None = None) -> JobHandle:
        fallback = self.review_dock.operator_fallback

        def fn(store: Any) -> Any:
            store.upsert_patient(req.patient_id, name=req.name, dob=req.dob, sex=req.sex)
            exam = store.create_exam(req.patient_id, lmp=req.lmp, edd=req.edd, operator=req.operator,
                                     referring=req.referring, notes=req.notes)
            return exam, ReviewDock.open_session(store, exam, ReviewDock.reviewer(exam, fallback))

        h = self.store_call(fn, "create-exam")

        def done(res: tuple[Any, Any]) -> None:
            exam, review = res
            self._set_exam(exam, [], review)
            if then is not None:
                then(exam)

        h.result.connect(done)
        h.error.connect(lambda e: self.show_error("Cannot create the exam", error_text(e)))
        return h

    def _set_exam(self, exam: Any, items: list[tuple[Any, Any]], review: Any = None) -> None:
        """Show ``exam``; ``review`` is its review session (or the error opening it), opened in
        the store worker: reading the review document is not for the GUI thread."""
        if self._closing:
            if review is not None and not isinstance(review, BaseException):
                review.close()  # nothing edited yet: writes nothing
            return
        self._leave_review()
        self._exam = exam
        self.review_dock.set_exam(self._store, exam, session=review)
        self.thumbs.clear()
        for item, thumb in items:
            self.thumbs.add(item, thumb)
        pid = getattr(exam, "patient_id", None)
        if pid is None:
            patient = getattr(exam, "patient", None)
            pid = getattr(patient, "patient_id", "")
        label = f"Exam #{getattr(exam, 'id', '?')} · {pid}" if exam is not None else "No exam"
        self.exam_label.setText(label)
        self._update_actions()
        self.examChanged.emit(exam)

    def open_exam_browser(self) -> ExamBrowserDialog:
        dlg = ExamBrowserDialog(self._search_exams, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def accepted() -> None:
            exam_id = dlg.selected_exam_id()
            if exam_id is not None:
                self.open_exam(exam_id)

        dlg.accepted.connect(accepted)
        dlg.open()
        self.exam_browser = dlg
        return dlg

    def _search_exams(self, text: str, callback: Callable[[list[Any]], None]) -> None:
        h = self.store_call(lambda store: store.list_exams(text), "list-exams")
        h.result.connect(callback)
        h.error.connect(lambda e: self.show_error("Cannot search exams", error_text(e)))

    def open_exam(self, exam_id: int) -> JobHandle:
        """Load an exam, its items, their thumbnails and its review document in the store worker."""
        fallback = self.review_dock.operator_fallback

        def fn(store: Any) -> Any:
            exam = store.get_exam(exam_id)
            out = []
            for item in store.list_items(exam_id):
                try:
                    thumb = make_thumbnail(store.load_frame(item.id, 0).pixels)
                except FadaError as err:  # a damaged item must not hide the others
                    log.warning("thumbnail of item %s: %s", item.id, err)
                    thumb = None
                out.append((item, thumb))
            return exam, out, ReviewDock.open_session(store, exam, ReviewDock.reviewer(exam, fallback))

        h = self.store_call(fn, "open-exam")
        h.result.connect(lambda res: self._set_exam(*res))
        h.error.connect(lambda e: self.show_error("Cannot open the exam", error_text(e)))
        return h

    def _with_exam(self, action: Callable[[Any], None]) -> None:
        if self._exam is not None:
            action(self._exam)
        else:
            self.statusBar().showMessage("Create the exam to store this capture in.", 6000)
            self.new_exam(then=action)

    # ------------------------------------------------------------------ capture
    def _active_calibration(self, frame: Frame | None) -> Calibration | None:
        if self._review is not None:
            base = getattr(self._review_item, "calibration", None)
            return base if base is not None else (frame.calibration if frame else None)
        cal = frame.calibration if frame is not None else None
        if self._manual is not None:
            return (cal or Calibration()).with_manual(self._manual)
        if cal is None and self._pump is not None:
            cal = self._pump.info.calibration
        return cal

    def _capture_meta(self, frame: Frame | None, p: FramePump | None) -> dict[str, Any]:
        meta: dict[str, Any] = {"captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        if p is not None:
            info = p.info
            meta.update({"source_kind": info.kind, "live": info.live, "frozen": p.frozen,
                         "source_metadata": _json_safe(info.metadata)})
        if frame is not None and frame.index is not None:
            meta["frame_index"] = frame.index
        if self._review_item is not None:
            meta["from_item"] = getattr(self._review_item, "id", None)
        return meta

    def capture_still(self) -> bool:
        """Store the frame on screen (frozen or live) in the current exam. False if nothing to store."""
        frame = self._shown
        p = self.active_pump()
        if frame is None:
            self.statusBar().showMessage("Nothing to capture.", 4000)
            return False
        cal = self._active_calibration(frame)
        manual = cal.manual if cal is not None else None
        to_store = replace(frame, calibration=cal) if manual is None else frame
        meta = self._capture_meta(frame, p)
        uri = self._source_uri

        def save(exam: Any) -> None:
            def fn(store: Any) -> Any:
                item = store.add_image(exam.id, to_store, source_uri=uri, meta=meta)
                if manual is not None:
                    item = store.set_calibration(item.id, cal)
                return item, make_thumbnail(to_store.pixels)

            h = self.store_call(fn, "capture-image")
            h.result.connect(lambda res: self._item_saved(*res))
            h.error.connect(lambda e: self.show_error("The image was not saved", error_text(e)))

        self._with_exam(save)
        return True

    def save_clip(self) -> bool:
        """Store the marked cine range (or the file range for seekable sources) as a clip."""
        p = self.active_pump()
        if p is None:
            self.statusBar().showMessage("Nothing to save.", 4000)
            return False
        lo, hi = self.clip_range()
        mode = self._slider_mode(p)
        uri = self._source_uri
        cal = self._active_calibration(self._shown)
        manual = cal.manual if cal is not None else None
        meta = self._capture_meta(self._shown, p)
        meta["range"] = [lo, hi]
        if mode == "file":
            fps = p.fps
            frames: list[Frame] | None = None
        else:
            try:
                frames = p.cine.export(lo, hi + 1)
            except ValueError:
                self.statusBar().showMessage("The cine buffer is empty.", 4000)
                return False
            fps = p.cine.fps() or p.fps

        def save(exam: Any) -> None:
            def job(token: CancelToken) -> Any:
                clip = frames
                if clip is None:
                    yield Progress("Reading frames…")
                    clip = p.read_frames(lo, hi + 1, token)
                yield Progress(f"Saving {len(clip)} frames…")
                if manual is None and cal is not None:
                    clip = [f if f.calibration is not None else replace(f, calibration=cal) for f in clip]
                store = self._ensure_store()
                item = yield from store.add_clip_job(exam.id, clip, fps, source_uri=uri, meta=meta,
                                                     token=token)
                if manual is not None:
                    item = store.set_calibration(item.id, cal)
                return item, make_thumbnail(clip[0].pixels)

            h = self._store_jobs.submit(job, "save-clip")
            h.progress.connect(lambda pr: self.statusBar().showMessage(pr.message))
            h.result.connect(lambda res: self._item_saved(*res))
            h.error.connect(lambda e: self.show_error("The clip was not saved", error_text(e)))

        self._with_exam(save)
        return True

    def _item_saved(self, item: Any, thumb: Any) -> None:
        self.thumbs.add(item, thumb)
        kind = getattr(item, "kind", "item")
        self.statusBar().showMessage(f"Saved {kind} #{getattr(item, 'id', '?')} in the exam.", 5000)
        self.itemSaved.emit(item)

    # ------------------------------------------------------------------ review stored items
    def show_item(self, item: Any) -> JobHandle:
        def fn(store: Any) -> Any:
            if getattr(item, "kind", "image") == "clip":
                frames = list(store.iter_clip(item.id))
            else:
                frames = [store.load_frame(item.id, 0)]
            return frames

        h = self.store_call(fn, "load-item")
        h.result.connect(lambda frames: self._enter_review(item, frames))
        h.error.connect(lambda e: self.show_error("Cannot show the capture", error_text(e)))
        return h

    def _enter_review(self, item: Any, frames: list[Frame]) -> None:
        if self._closing:
            return
        if self._pump is not None and not self._pump.frozen:
            self._pump.freeze()
        old, self._review = self._review, None
        if old is not None:
            self._close_in_background(old.close, "close-review")
        fps = getattr(item, "fps", None) if len(frames) > 1 else None
        src = FrameListSource(frames, fps=fps, uri=f"exam item #{getattr(item, 'id', '?')}")
        self._review_item = item
        self._review = FramePump(src, loop=True, name="fada-review", on_publish=self._waker.wake).start()
        self._shown = None
        self._last_state = ""
        self._configure_slider()
        self._update_actions()
        self._update_calibration_label()

    def leave_review(self) -> None:
        if self.view.picking:
            self.view.cancel_pick()
            return
        self._leave_review()

    def _leave_review(self, show_acquisition: bool = True) -> None:
        r, self._review = self._review, None
        self._review_item = None
        if r is None:
            return
        self._close_in_background(r.close, "close-review")
        self.review_dock.frame_shown(None, None)
        self.view.clear_overlay()
        self._last_state = ""
        if show_acquisition and self._pump is not None:
            cur = self._pump.current()
            if cur is not None:
                self.view.show_frame(cur)
            self._shown = cur
        else:
            self._shown = None
            self.view.clear()
        self._configure_slider()
        self._update_actions()
        self._update_calibration_label()
        self._update_state_label()

    @property
    def review_item(self) -> Any:
        return self._review_item

    # ------------------------------------------------------------------ calibration
    def start_calibration(self) -> bool:
        p = self.active_pump()
        if p is None or self._shown is None:
            self.statusBar().showMessage("Open an image first.", 4000)
            return False
        if p.playing and not p.frozen:
            self.toggle_freeze()
        self.view.begin_pick(2)
        self.statusBar().showMessage("Calibrate: click two marks on the depth scale (Esc cancels).")
        return True

    def _on_calibration_points(self, pts: list[tuple[float, float]]) -> None:
        p1, p2 = pts[0], pts[1]
        length = ((p2[0] - p1[0]) ** 2 + (p2[1] - p1[1]) ** 2) ** 0.5
        dlg = CalibrationDialog(length, float(self.settings.value("calibration/last_mm", 10.0)), self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.accepted.connect(lambda: self.apply_manual_calibration(p1, p2, dlg.value()))
        dlg.rejected.connect(self.view.clear_overlay)
        dlg.open()
        self.calibration_dialog = dlg

    def apply_manual_calibration(self, p1: tuple[float, float], p2: tuple[float, float],
                                 distance_mm: float) -> ManualCalibration | None:
        try:
            manual = ManualCalibration(p1, p2, float(distance_mm))
        except CalibrationError as err:
            self.show_error("Calibration not set", str(err))
            return None
        self.settings.setValue("calibration/last_mm", float(distance_mm))
        item = self._review_item
        if item is not None:
            base = getattr(item, "calibration", None) or (self._shown.calibration if self._shown else None)
            cal = (base or Calibration()).with_manual(manual)

            h = self.store_call(lambda store: store.set_calibration(item.id, cal), "set-calibration")

            def stored(updated: Any) -> None:
                if self._review_item is not None and getattr(self._review_item, "id", None) == updated.id:
                    self._review_item = updated
                self.thumbs.replace(updated)
                self.statusBar().showMessage(f"Calibration stored with capture #{updated.id}.", 5000)
                self._update_calibration_label()

            h.result.connect(stored)
            h.error.connect(lambda e: self.show_error("Calibration not stored", error_text(e)))
        else:
            self._manual = manual
            self.statusBar().showMessage(
                "Calibration set; it is stored with every capture from this source.", 6000)
        self._update_calibration_label()
        return manual

    def active_calibration(self) -> Calibration | None:
        return self._active_calibration(self._shown)

    def _update_calibration_label(self) -> None:
        cal = self._active_calibration(self._shown)
        self.calibration_label.setText(calibration_text(cal))
        self.calibrationChanged.emit(cal)

    # ------------------------------------------------------------------ errors, actions
    def show_error(self, title: str, text: str) -> QMessageBox:
        """Non-blocking message box + status bar; the window stays usable."""
        self.last_error = text
        self.statusBar().showMessage(f"{title}: {text}", 15000)
        if self._error_box is not None:
            with contextlib.suppress(RuntimeError):  # already deleted (WA_DeleteOnClose)
                self._error_box.close()
        self._error_box = show_message(self, title, text)
        self.errorShown.emit(text)
        return self._error_box

    def _update_actions(self) -> None:
        p = self.active_pump()
        has = p is not None
        self.act_freeze.setEnabled(has)
        self.act_freeze.setText("Unfreeze" if p is not None and p.frozen else "Freeze")
        self.act_capture.setEnabled(has)
        self.act_clip.setEnabled(has)
        self.act_calibrate.setEnabled(has)
        self.act_live.setEnabled(self._review is not None)
        self.act_close_source.setEnabled(self._pump is not None)
        self.act_reopen.setEnabled(self._reopen is not None)
        self._update_calibration_label()

    # ------------------------------------------------------------------ keys, drag & drop, close
    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt API
        """Fallback for the scan keys when no shortcut fired (e.g. the window lost activation
        after a dialog closed): Space still freezes, arrows still step."""
        keys: dict[int, QAction] = {Qt.Key.Key_Space: self.act_freeze, Qt.Key.Key_Left: self.act_step_back,
                                    Qt.Key.Key_Right: self.act_step_fwd, Qt.Key.Key_Escape: self.act_live}
        action = keys.get(event.key())
        if action is not None and event.modifiers() == Qt.KeyboardModifier.NoModifier:
            if action.isEnabled():
                action.trigger()
            event.accept()
            return
        super().keyPressEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt API
        if event.mimeData().hasUrls():
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt API
        urls: list[QUrl] = event.mimeData().urls()
        if urls:
            u = urls[0]
            self.open_uri(u.toLocalFile() if u.isLocalFile() else u.toString())

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self.shutdown()
        super().closeEvent(event)

    def shutdown(self) -> None:
        """Stop timers, finish pending saves (no capture is lost), close pumps and the store."""
        if self._closing:
            return
        with self._pending_lock:
            self._closing = True
        self._tick.stop()
        self._status_timer.stop()
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.sync()
        self.view.cancel_pick()
        self.review_dock.shutdown()  # the last review edit is saved before the store closes
        self._jobs.shutdown(timeout=5.0, cancel=True)
        if not self._store_jobs.shutdown(timeout=30.0, cancel=False):  # saves must complete
            log.error("exam store jobs did not finish within 30 s")
        for pump in (self._review, self._pump):
            if pump is not None:
                pump.close()
        self._review = self._pump = None
        with self._pending_lock:
            stale = list(self._pending_sources)
            self._pending_sources.clear()
        for src in stale:
            src.close()
        with self._store_lock:
            if self._store is not None:
                try:
                    self._store.close()
                except Exception:  # noqa: BLE001 - closing must not stop the window closing
                    log.exception("error closing the exam store")
                self._store = None

