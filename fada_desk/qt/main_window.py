"""The workstation window: live view, freeze/cine, capture into the exam, calibration.

The window builds the view, menus, toolbar, docks and status bar, and wires
the controllers that do the work. They share one
:class:`~fada_desk.app.session_state.SessionState` (the pumps, the frame on
screen, the item under review, the exam) and own the widgets they drive:

- :class:`~fada_desk.qt.acquisition.AcquisitionController`: sources, pumps,
  the display loop, freeze, reconnect, reviewing a stored item;
- :class:`~fada_desk.qt.source_picker.SourcePicker`: File > Open file / folder / device / stream;
- :class:`~fada_desk.qt.cine_controller.CineController`: the cine / file slider and clip marks;
- :class:`~fada_desk.qt.exam_controller.ExamController`: the exam store, new / open exam,
  captures, the thumbnail strip;
- :class:`~fada_desk.qt.calibration_controller.CalibrationController`: manual calibration.

The window's methods and signals are the public API (the AI and review docks,
the tests and the benchmark use them); they delegate to the controllers.

Keys: every action is a window action with a window shortcut (the review
actions too: :attr:`ReviewDock.review_actions`), so its key works wherever the
focus is in the window; text fields keep their typing keys; without a window
manager :class:`~fada_desk.qt.window_keys.WindowKeys` keeps them working. Help ▸
Keyboard shortcuts lists them all, generated from the actions
(:mod:`fada_desk.qt.shortcuts_dialog`).
Settings ▸ Clinic… writes the clinic header the reports print; Settings ▸ Install
model… installs a model set and has the AI panel check its model again.
Threads: the GUI thread never waits; opening sources and every exam-store call
run as jobs (see :mod:`fada_desk.qt.acquisition` and :mod:`fada_desk.qt.exam_controller`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from fada_desk.app.session_state import SessionState
from fada_desk.core.calibration import Calibration, ManualCalibration
from fada_desk.core.frame import Frame
from fada_desk.core.review_types import FrameRef
from fada_desk.qt.acquisition import AcquisitionController
from fada_desk.qt.ai.dock import AIDock
from fada_desk.qt.calibration_controller import CalibrationController
from fada_desk.qt.cine_controller import CineController
from fada_desk.qt.dialogs import CalibrationDialog, DeviceDialog, StreamUrlDialog
from fada_desk.qt.exam_controller import ExamController
from fada_desk.qt.exam_dialogs import ExamBrowserDialog, ExamRequest, NewExamDialog
from fada_desk.qt.layout import limit_side_width, restore_window, save_window
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.review.dock import ReviewDock
from fada_desk.qt.settings_menus import SettingsMenus
from fada_desk.qt.source_picker import SourcePicker
from fada_desk.qt.thumbnails import CaptureDock
from fada_desk.qt.util import app_settings, show_message, vbox
from fada_desk.qt.window_keys import WindowKeys
from fada_desk.qt.window_menus import build_actions, build_menus, build_toolbar
from fada_desk.qt.workers import JobHandle
from fada_desk.sources.base import FrameSource
from fada_desk.sources.pump import FramePump

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Live view + cine + capture + exam. See the module docstring for who does what."""

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
        self.state = SessionState()
        self._error_box: QMessageBox | None = None
        self.last_error = ""
        self.keys = WindowKeys(self)  # window keys with or without a window manager
        self.view = LiveView(self)
        self.review_dock = ReviewDock(self.view, self, str(self.settings.value("exam/operator", "")))
        st, cfg, err = self.state, self.settings, self.show_error
        self.cine = CineController(self, st)
        self.acquisition = AcquisitionController(self, st, cfg, self.view, self.cine, self.review_dock, err)
        self.sources = SourcePicker(self, cfg, self.acquisition.jobs, self.acquisition.open_uri, err)
        self.exams = ExamController(self, st, cfg, self.acquisition, self.cine, self.review_dock, err,
                                    store_path)
        self.calibration = CalibrationController(self, st, cfg, self.view, self.acquisition, self.exams, err)
        # the controllers' widgets, under the window's names
        self.cine_bar, self.cine_slider = self.cine.bar, self.cine.slider
        self.state_label, self.stats_label = self.acquisition.state_label, self.acquisition.stats_label
        self.calibration_label, self.exam_label = self.calibration.label, self.exams.exam_label
        self.thumbs = self.exams.thumbs
        self._build_ui()
        st.changed.connect(self._update_actions)
        # the session's events as the window's Qt signals (the calibration label was connected first)
        st.calibration_changed.connect(self.calibrationChanged.emit)
        st.exam_changed.connect(self.examChanged.emit)
        st.exam_changed.connect(lambda *_: self._update_actions())
        st.source_opened.connect(self.sourceOpened.emit)
        st.item_saved.connect(self.itemSaved.emit)
        self.acquisition.start()
        restore_window(self, self.settings)  # as left, else fitted to the screen (qt/layout.py)
        st.refresh()

    # ------------------------------------------------------------------ UI construction
    def _build_ui(self) -> None:
        self.setCentralWidget(vbox((self.view, 1), self.cine_bar))
        self.centralWidget().layout().setSpacing(0)
        self.captures_dock = CaptureDock(self.thumbs, self.settings, self)  # folds to one line
        # the side docks run the full height; the strip sits under the image only
        self.setCorner(Qt.Corner.BottomRightCorner, Qt.DockWidgetArea.RightDockWidgetArea)
        self.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, self.captures_dock)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.review_dock)
        self.calibrationChanged.connect(self.review_dock.calibration_changed)
        self.review_dock.showFrameRequested.connect(self.review_frame)
        self._build_actions()
        self._build_status()
        self.ai_dock = AIDock(self)  # AI panel + AI menu; runs on the frozen / reviewed frame
        self.settings_menus = SettingsMenus(self, self.add_action)  # Settings, Help (after the AI menu)
        self.act_clinic = self.settings_menus.act_clinic
        self.act_install_model = self.settings_menus.act_install_model
        self.act_shortcuts = self.settings_menus.act_shortcuts
        # The image is the work: side panels may not take more than ~40% of a laptop screen,
        # whatever their tables would like (they scroll instead).
        limit_side_width(self, (self.review_dock, self.ai_dock))  # >= 460 px, ~1/3 of a wide window

    def add_action(self, text: str, slot: Callable[[], Any], shortcut: str | QKeySequence | None = None,
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
        build_actions(self)
        build_menus(self)
        self.brightness, self.contrast = build_toolbar(self)

    def _build_status(self) -> None:
        sb = self.statusBar()
        sb.addWidget(self.state_label)
        sb.addPermanentWidget(self.stats_label)
        sb.addPermanentWidget(self.calibration_label)
        sb.addPermanentWidget(self.exam_label)

    def apply_display(self) -> None:
        self.view.set_brightness_contrast(self.brightness.value(), self.contrast.value() / 100.0)

    def _reset_display(self) -> None:
        self.brightness.setValue(0)
        self.contrast.setValue(100)
        self.view.reset_display()

    # ------------------------------------------------------------------ sources (AcquisitionController)
    @property
    def pump(self) -> FramePump | None:
        """The acquisition pump (device / stream / file)."""
        return self.state.pump

    @property
    def review_pump(self) -> FramePump | None:
        return self.state.review

    def active_pump(self) -> FramePump | None:
        return self.state.active_pump()

    @property
    def shown_frame(self) -> Frame | None:
        return self.state.shown

    def choose_file(self) -> None:
        self.sources.choose_file()

    def choose_folder(self) -> None:
        self.sources.choose_folder()

    def choose_device(self) -> JobHandle:
        return self.sources.choose_device()

    def choose_stream(self) -> StreamUrlDialog:
        return self.sources.choose_stream()

    @property
    def device_dialog(self) -> DeviceDialog | None:
        return self.sources.device_dialog

    @property
    def stream_dialog(self) -> StreamUrlDialog | None:
        return self.sources.stream_dialog

    def open_uri(self, uri: str | Path, options: dict[str, Any] | None = None) -> JobHandle:
        """Open a file, folder, ``device:N`` or URL in a worker; the current source stays until it works."""
        return self.acquisition.open_uri(uri, options)

    def open_source(self, source: FrameSource, uri: str = "") -> FramePump:
        """Show an already opened source (tests, benchmark, other windows)."""
        return self.acquisition.open_source(source, uri)

    def reopen_source(self) -> JobHandle | None:
        return self.acquisition.reopen_source()

    def close_source(self) -> None:
        self.acquisition.close_source()

    # ------------------------------------------------------------------ freeze / cine (CineController)
    def toggle_freeze(self) -> None:
        self.acquisition.toggle_freeze()

    def step(self, delta: int) -> None:
        self.cine.step(delta)

    def scrub_to(self, index: int) -> None:
        self.cine.scrub_to(index)

    def mark_in(self) -> None:
        self.cine.mark_in()

    def mark_out(self) -> None:
        self.cine.mark_out()

    def clip_range(self) -> tuple[int, int]:
        return self.cine.clip_range()

    # ------------------------------------------------------------------ exam (ExamController)
    def store_call(self, fn: Callable[[Any], Any], name: str) -> JobHandle:
        """Run ``fn(store)`` on the serial store runner (opens the store on first use)."""
        return self.exams.store_call(fn, name)

    @property
    def exam(self) -> Any:
        return self.state.exam

    def new_exam(self, then: Callable[[Any], None] | None = None) -> NewExamDialog:
        return self.exams.new_exam(then)

    @property
    def exam_dialog(self) -> NewExamDialog | None:
        return self.exams.exam_dialog

    def create_exam(self, req: ExamRequest, then: Callable[[Any], None] | None = None) -> JobHandle:
        return self.exams.create_exam(req, then)

    def edit_exam(self) -> NewExamDialog | None:
        return self.exams.edit_exam()

    def open_exam_browser(self) -> ExamBrowserDialog:
        return self.exams.open_exam_browser()

    @property
    def exam_browser(self) -> ExamBrowserDialog | None:
        return self.exams.exam_browser

    def open_exam(self, exam_id: int) -> JobHandle:
        return self.exams.open_exam(exam_id)

    def capture_still(self) -> bool:
        """Store the frame on screen (frozen or live) in the current exam. False if nothing to store."""
        return self.exams.capture_still()

    def save_clip(self) -> bool:
        """Store the marked cine range (or the file range for seekable sources) as a clip."""
        return self.exams.save_clip()

    def show_item(self, item: Any) -> JobHandle:
        return self.exams.show_item(item)

    @property
    def review_item(self) -> Any:
        return self.state.review_item

    def leave_review(self) -> None:
        """Escape: cancel a calibration pick, else stop the review's drawing tool or clear its
        selection (wherever the focus is), else go back to the acquisition source."""
        if self.view.picking:
            self.view.cancel_pick()
            return
        editor = self.review_dock.editor
        if editor is not None and editor.escape():
            return
        self.acquisition.leave_review()

    def review_frame(self, frame: FrameRef) -> JobHandle | None:
        """Show the capture of ``frame`` for review (the export dialog's "Review them")."""
        item = next((it for it in self.thumbs.stored_items() if getattr(it, "id", None) == frame.item_id), None)
        if item is None:
            self.statusBar().showMessage(f"Capture #{frame.item_id} is not in the strip.", 6000)
            return None
        h = self.show_item(item)
        if frame.frame_index:
            h.result.connect(lambda _frames: self.scrub_to(frame.frame_index))
        return h

    # ------------------------------------------------------------------ settings, help (SettingsMenus)
    def install_model(self) -> Any:
        return self.settings_menus.install_model()

    def show_shortcuts(self) -> Any:
        return self.settings_menus.show_shortcuts()

    @property
    def clinic_dialog(self) -> Any:
        return self.settings_menus.clinic_dialog

    @property
    def model_install_dialog(self) -> Any:
        return self.settings_menus.model_install_dialog

    @property
    def shortcuts_dialog(self) -> Any:
        return self.settings_menus.shortcuts_dialog

    # ------------------------------------------------------------------ calibration (CalibrationController)
    def start_calibration(self) -> bool:
        return self.calibration.start()

    @property
    def calibration_dialog(self) -> CalibrationDialog | None:
        return self.calibration.dialog

    def apply_manual_calibration(self, p1: tuple[float, float], p2: tuple[float, float],
                                 distance_mm: float) -> ManualCalibration | None:
        return self.calibration.apply_manual(p1, p2, distance_mm)

    def active_calibration(self) -> Calibration | None:
        return self.state.active_calibration()

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
        p = self.state.active_pump()
        has = p is not None
        self.act_freeze.setEnabled(has)
        self.act_freeze.setText("Unfreeze" if p is not None and p.frozen else "Freeze")
        self.act_capture.setEnabled(has)
        self.act_clip.setEnabled(has)
        self.act_calibrate.setEnabled(has)
        self.act_live.setEnabled(self.state.review is not None)
        self.act_close_source.setEnabled(self.state.pump is not None)
        self.act_reopen.setEnabled(self.state.reopen is not None)
        self.act_edit_exam.setEnabled(self.state.exam is not None)

    # ------------------------------------------------------------------ drag & drop, close
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
        if self.state.closing:
            return
        self.keys.closing = True
        self.acquisition.begin_shutdown()
        save_window(self, self.settings)  # geometry and dock layout
        self.settings.sync()
        self.view.cancel_pick()
        self.settings_menus.shutdown()  # cancel a model copy in flight (nothing half-installed)
        self.review_dock.shutdown()  # the last review edit is saved before the store closes
        self.acquisition.jobs.shutdown(timeout=5.0, cancel=True)
        self.exams.finish_jobs()
        self.acquisition.close_all()
        self.exams.close_store()
