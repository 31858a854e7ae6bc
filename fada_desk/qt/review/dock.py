"""Review inside the main window: a dock with the review panel, editing on the main view.

The main window owns the image view and decides what is shown; it tells the
dock three things: which exam is open (:meth:`ReviewDock.set_exam`), which
frame is on screen (:meth:`ReviewDock.frame_shown`, with the stored item when
a capture is being reviewed, ``None`` while live) and when a calibration
changed (:meth:`ReviewDock.calibration_changed`). The dock keeps one
:class:`~fada_desk.app.review_session.ReviewSession` per open exam (every edit
autosaved and audited under the exam's operator) and an
:class:`~fada_desk.qt.review.editor.AnnotationEditor` on the main view.

Other panels that produce review content (the AI panel) must go through
:attr:`ReviewDock.session` (``session.import_analysis``): one session per exam,
so the editor shows the new items at once and undo/audit stay consistent.

The review actions (:attr:`ReviewDock.review_actions`: accept, reject, delete,
undo, the drawing tools) belong to the window for its whole life, with window
shortcuts; each exam's editor is bound to them. The export dialog warns about AI
items still pending review; its "Review them" comes back here
(:meth:`ReviewDock.review_pending`), which asks the window to show that capture
(:attr:`ReviewDock.showFrameRequested`) and selects its first pending item.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QStackedWidget, QVBoxLayout, QWidget

from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.app.export import ExamExport, ReviewCount
from fada_desk.app.review_session import open_review, reviewer
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import FadaError
from fada_desk.qt.review.editor import AnnotationEditor
from fada_desk.qt.review.editor_actions import ReviewActions
from fada_desk.qt.review.export_dialog import ExportDialog, running_export
from fada_desk.qt.review.undo import UndoAdapter
from fada_desk.qt.review.workspace import ReviewPanel
from fada_desk.qt.review.report_actions import ReportActions
from fada_desk.qt.workers import JobRunner

log = logging.getLogger(__name__)

IDLE_TEXT = ("Open or create an exam, then click a capture in the strip below to review it: "
             "accept or correct the AI, draw and measure.")


class ReviewDock(QDockWidget):
    """The "Review" dock of the main window (see the module docstring for the hooks)."""

    showFrameRequested = Signal(object)  # noqa: N815 - a FrameRef the window should show for review

    def __init__(self, view: Any, window: QMainWindow, operator_fallback: str = "") -> None:
        super().__init__("Review", window)
        self.setObjectName("reviewDock")
        self.view = view
        self.window_ = window
        self.operator_fallback = operator_fallback
        self.store: Any = None
        self.exam: Any = None
        self.session: Any = None
        self.undo: UndoAdapter | None = None
        self.editor: AnnotationEditor | None = None
        self.panel: ReviewPanel | None = None
        self.export_dialog: ExportDialog | None = None
        self.runner = JobRunner(max_threads=1, parent=self)
        self._cal_cache: dict[int, Calibration | None] = {}
        self._shown: tuple[FrameRef, tuple[int, int]] | None = None
        self._select_pending_on: FrameRef | None = None
        #: the window's review actions (window shortcuts), bound to the open exam's editor
        self.review_actions = ReviewActions(window, self)

        self.message = QLabel(IDLE_TEXT)
        self.message.setObjectName("reviewDockMessage")
        self.message.setWordWrap(True)
        self.message.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.message)
        box = QWidget()
        lay = QVBoxLayout(box)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.stack)
        self.setWidget(box)

        self.act_export = QAction("Export exam…", self)
        self.act_export.setObjectName("reviewExport")
        self.act_export.triggered.connect(self.open_export_dialog)
        self.act_export.setEnabled(False)
        self.report = ReportActions(window, self.runner, lambda: self.session, self._show_message)
        QTimer.singleShot(0, self.share_side)

    def share_side(self) -> bool:
        """Stack this dock as a tab with the AI dock when the window has one: a laptop
        screen cannot give the image its room next to two side panels."""
        ai = self.window_.findChild(QDockWidget, "aiDock")
        if ai is None or ai is self or self.window_.dockWidgetArea(ai) == Qt.DockWidgetArea.NoDockWidgetArea:
            return False
        if ai not in self.window_.tabifiedDockWidgets(self):
            self.window_.tabifyDockWidget(ai, self)
            ai.raise_()
        return True

    # ------------------------------------------------------------------ exam
    @staticmethod
    def reviewer(exam: Any, fallback: str = "", operator: str = "") -> str:
        """Who signs the review of ``exam`` (:func:`fada_desk.app.review_session.reviewer`)."""
        return reviewer(exam, fallback, operator)

    @staticmethod
    def open_session(store: Any, exam: Any, who: str) -> Any:
        """Open the review session of ``exam`` (any thread: it reads the exam's whole review
        document, so the main window calls it in its store worker). Returns the session, the
        FadaError that refused it, or None without an operator name
        (:func:`~fada_desk.app.review_session.open_review`)."""
        return open_review(store, exam.id, who)

    def set_exam(self, store: Any, exam: Any, operator: str = "", session: Any = None) -> bool:
        """Open ``exam`` for review (closing the previous one). False with a message when it
        cannot be opened (no operator name, store error); live work is not affected.

        ``session``: what :meth:`open_session` returned for ``exam`` off the GUI thread
        (a session or its FadaError); without it the session is opened here.
        """
        current = getattr(self.session, "exam_id", None) if self.session is not None else None
        same = exam is not None and current == exam.id
        self.close_exam()
        if session is not None and (same or store is None or exam is None
                                    or getattr(session, "exam_id", exam.id) != exam.id):
            # Reopening the exam under review: the session just closed wrote its last edit after
            # the preloaded one read the document, so read it again (rare; small).
            if not isinstance(session, BaseException):
                session.close()
            session = None
        if store is None or exam is None:
            return False
        self.store, self.exam = store, exam
        if session is None:
            session = self.open_session(store, exam, self.reviewer(exam, self.operator_fallback, operator))
        if session is None:
            self._idle("Enter the operator's name on the exam to review it: every review action is signed.")
            return False
        if isinstance(session, BaseException):
            self._idle(f"Cannot open the exam's review: {session}")
            return False
        self.session = session
        self.undo = UndoAdapter(self.session, self)
        self.editor = AnnotationEditor(self.view, self.undo, parent=self, actions=self.review_actions)
        self.panel = ReviewPanel(self.editor, self.calibration_for, self._ga_days)
        self.stack.addWidget(self.panel)
        self.stack.setCurrentWidget(self.panel)
        self.undo.error.connect(self._show_error)
        self.editor.message.connect(self._show_message)
        self.act_export.setEnabled(True)
        self.report.set_enabled(True)
        return True

    def close_exam(self) -> None:
        """Save the last edit and close the session (on exam change and on quit)."""
        self._shown = None
        if self.export_dialog is not None:
            self.export_dialog.close()
            self.export_dialog.deleteLater()
            self.export_dialog = None
        if self.editor is not None:
            self.editor.set_frame(None)
            self.editor.detach()
        if self.panel is not None:
            self.stack.removeWidget(self.panel)
            self.panel.deleteLater()
        if self.editor is not None:
            self.editor.deleteLater()
        if self.undo is not None:
            self.undo.deleteLater()
        if self.session is not None:
            try:
                self.session.close()
            except FadaError as err:
                log.error("closing the review session: %s", err)
                self._show_error(f"The last review edit could not be saved: {err}")
        self.session = self.undo = self.editor = self.panel = None
        self.store = self.exam = None
        self._cal_cache.clear()
        self.act_export.setEnabled(False)
        self.report.set_enabled(False)
        self._idle(IDLE_TEXT)

    def shutdown(self, timeout: float = 30.0) -> None:
        self.close_exam()
        self.runner.shutdown(timeout, cancel=False)

    def _idle(self, text: str) -> None:
        self.message.setText(text)
        self.stack.setCurrentWidget(self.message)

    # ------------------------------------------------------------------ frames
    def frame_shown(self, item: Any, frame: Any) -> None:
        """The main view now shows ``frame``; ``item`` is the stored capture it belongs to
        (None while live or for a file that is not in the exam: nothing to edit)."""
        if self.editor is None:
            return
        ref = None
        if item is not None and frame is not None and getattr(item, "exam_id", None) == self.exam.id:
            ref = FrameRef(int(item.id), int(frame.index or 0))
            self._cal_cache[ref.item_id] = getattr(item, "calibration", None)
        size = (int(frame.width), int(frame.height)) if frame is not None else (0, 0)
        shown = (ref, size) if ref is not None else None
        if shown == self._shown:
            return
        entering = self._shown is None and shown is not None
        self._shown = shown
        self.editor.set_frame(ref, size if ref is not None else None)
        if entering and self.isVisible():
            self.raise_()  # reviewing a capture: bring the review tab forward
        if ref is not None and ref == self._select_pending_on:
            self._select_first_pending()

    @property
    def frame(self) -> FrameRef | None:
        return self._shown[0] if self._shown else None

    # ------------------------------------------------------------------ calibration / biometry
    def calibration_for(self, frame: FrameRef) -> Calibration | None:
        if frame.item_id not in self._cal_cache:
            try:
                self._cal_cache[frame.item_id] = self.store.get_item(frame.item_id).calibration
            except FadaError as err:
                log.warning("calibration of item %s: %s", frame.item_id, err)
                return None
        return self._cal_cache[frame.item_id]

    def calibration_changed(self, *_: object) -> None:
        """A calibration was set: re-read calibrations on next use and re-measure."""
        self._cal_cache.clear()
        if self.panel is not None:
            self.panel.measurements.refresh()

    def _ga_days(self) -> float | None:
        ga = getattr(self.exam, "ga_days", None)
        return float(ga) if ga else None

    # ------------------------------------------------------------------ export
    def open_export_dialog(self) -> ExportDialog | None:
        if self.session is None:
            return None
        if (again := running_export(self.export_dialog)) is not None:
            return again
        dlg = ExportDialog(ExamExport(self.store, self.exam.id).job, self.runner, None, self.session.operator,
                           before_export=self.session.flush, parent=self.window_,
                           review=ReviewCount(self.store, self.exam.id, self.session.doc))
        dlg.exported.connect(self._exported)
        dlg.reviewRequested.connect(self.review_pending)
        self.export_dialog = dlg
        dlg.open()
        return dlg

    def _exported(self, paths: list) -> None:
        self._show_message(f"Exported {len(paths)} file(s).")

    def review_pending(self, frame: object) -> None:
        """Back from the export dialog to review ``frame`` (a FrameRef with pending AI items):
        the window is asked to show it, then its first pending item is selected (A / R)."""
        self.show()
        self.raise_()
        if not isinstance(frame, FrameRef) or self.editor is None:
            self._show_message("Click a capture in the strip to review its AI items.")
            return
        self._select_pending_on = frame
        if frame == self.frame:
            self._select_first_pending()
        else:
            self.showFrameRequested.emit(frame)

    def _select_first_pending(self) -> None:
        self._select_pending_on = None
        if self.editor is None:
            return
        pending = [a for a in self.editor.annotations() if a.status is ReviewStatus.PENDING]
        if pending:
            self.editor.select(pending[0].id)
            self._show_message("Accept (A) or reject (R) each AI item; Ctrl+Shift+A accepts all on the frame.")
        elif self.panel is not None:
            self.panel.setCurrentWidget(self.panel.interpretation)  # pending values of the interpretation

    # ------------------------------------------------------------------ messages
    def _status(self) -> Any:
        return self.window_.statusBar() if hasattr(self.window_, "statusBar") else None

    def _show_message(self, text: str) -> None:
        sb = self._status()
        if sb is not None:
            sb.showMessage(text, 6000)

    def _show_error(self, text: str) -> None:
        sb = self._status()
        if sb is not None:
            sb.showMessage(f"Review: {text}", 15000)
