"""The review workspace: image + annotation editor + side panel + export, as one widget.

Two levels, so the main window can take either:

* :class:`ReviewPanel` — the side panel alone (tabs: annotations,
  interpretation, measurements) for an :class:`AnnotationEditor` attached to
  an existing view (the main window's LiveView, in a dock).
* :class:`ReviewWorkspace` — a complete, standalone review screen with its
  own LiveView, status line and Export button.
  :meth:`ReviewWorkspace.for_session` wires it to a
  :class:`~fada_desk.app.review_session.ReviewSession` (frames and calibrations
  from the exam store, export through :class:`fada_desk.app.export.ExamExport`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QSplitter, QTabWidget, QVBoxLayout, QWidget

from fada_desk.core.review_types import FrameRef
from fada_desk.app.export import ExamExport, MakeJob, ReviewCount
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import error_text
from fada_desk.core.frame import Frame
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.review.annotation_panel import AnnotationPanel
from fada_desk.qt.review.editor import AnnotationEditor
from fada_desk.qt.review.export_dialog import ExportDialog, running_export
from fada_desk.qt.review.interpretation_editor import InterpretationEditor
from fada_desk.qt.review.measurement_panel import CalibrationFor, MeasurementPanel
from fada_desk.qt.review.undo import ReviewTarget, UndoAdapter
from fada_desk.qt.workers import JobHandle, JobRunner


class ReviewPanel(QTabWidget):
    """Annotations / Interpretation / Measurements tabs for one editor."""

    def __init__(self, editor: AnnotationEditor, calibration_for: CalibrationFor,
                 ga_by_dates_days: Callable[[], float | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewPanel")
        self.editor = editor
        self.annotations = AnnotationPanel(editor)
        self.interpretation = InterpretationEditor(editor.undo)
        self.measurements = MeasurementPanel(editor, calibration_for, ga_by_dates_days)
        self.addTab(self.annotations, "Annotations")
        self.addTab(self.interpretation, "Interpretation")
        self.addTab(self.measurements, "Measurements")
        editor.frameChanged.connect(self._on_frame)
        self._on_frame(editor.frame)

    def _on_frame(self, frame: object) -> None:
        self.interpretation.set_frame(frame if isinstance(frame, FrameRef) else None)
        self.annotations.refresh()


class ReviewWorkspace(QWidget):
    """A standalone review screen over a :class:`ReviewTarget`."""

    def __init__(self, target: ReviewTarget, calibration_for: CalibrationFor,
                 ga_by_dates_days: Callable[[], float | None] | None = None,
                 make_export_job: MakeJob | None = None, operator: str = "",
                 load_frame: Callable[[FrameRef], Frame] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("reviewWorkspace")
        self.target = target
        self.operator = operator
        self.make_export_job = make_export_job
        self.load_frame = load_frame
        self.runner = JobRunner(max_threads=1, parent=self)
        self.export_dialog: ExportDialog | None = None
        #: counts the AI items pending review for the export dialog's warning (set by for_session)
        self.review_count: ReviewCount | None = None
        self._loading: JobHandle | None = None
        self._wanted: FrameRef | None = None

        self.view = LiveView(self)
        self.undo = UndoAdapter(target, self)
        self.editor = AnnotationEditor(self.view, self.undo, shortcut_host=self, parent=self)
        self.panel = ReviewPanel(self.editor, calibration_for, ga_by_dates_days)
        self.status = QLabel("")
        self.status.setObjectName("reviewStatus")
        self.status.setWordWrap(True)
        self.export_button = QPushButton("Export…")
        self.export_button.setObjectName("openExport")
        self.export_button.setEnabled(make_export_job is not None)
        self.export_button.clicked.connect(self.open_export_dialog)

        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.view)
        split.addWidget(self.panel)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 2)
        split.setChildrenCollapsible(False)
        split.setSizes([600, 400])  # the image gets most of the width (proportions kept on resize)
        self.splitter = split
        bottom = QHBoxLayout()
        bottom.addWidget(self.status, 1)
        bottom.addWidget(self.export_button)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(split, 1)
        lay.addLayout(bottom)

        self.undo.error.connect(lambda text: self.show_status(text, error=True))
        self.editor.message.connect(self.show_status)

    # ------------------------------------------------------------------ frames
    def show_frame(self, ref: FrameRef, frame: Frame) -> None:
        """Show ``frame`` (the pixels of ``ref``) and its annotations for editing."""
        self.view.show_frame(frame)
        self.editor.set_frame(ref, (frame.width, frame.height))
        self.view.graphics.setFocus()

    def open_frame(self, ref: FrameRef) -> JobHandle:
        """Load ``ref`` with :attr:`load_frame` in the worker, then show it (the latest request wins)."""
        if self.load_frame is None:
            raise RuntimeError("this workspace has no frame loader")
        load = self.load_frame
        h = self.runner.submit(lambda _t: (ref, load(ref)), name="load-frame")
        # bound methods, not lambdas, on the handle's signals (see export_dialog.start)
        h.result.connect(self._on_frame_loaded)
        h.error.connect(self._on_frame_error)
        self._loading = h
        self._wanted = ref
        return h

    def _on_frame_loaded(self, result: object) -> None:
        ref, frame = result  # type: ignore[misc]
        if ref == self._wanted:
            self.show_frame(ref, frame)

    def _on_frame_error(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self.show_status(f"Cannot show the frame: {text}", error=True)

    def show_status(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet("color: #c81e1e;" if error else "")

    # ------------------------------------------------------------------ export
    def open_export_dialog(self, out_dir: Path | str | None = None) -> ExportDialog | None:
        if self.make_export_job is None:
            return None
        if (again := running_export(self.export_dialog)) is not None:
            return again
        dlg = ExportDialog(self.make_export_job, self.runner, out_dir, self.operator,
                           before_export=self.target.flush, parent=self, review=self.review_count)
        dlg.exported.connect(lambda paths: self.show_status(f"Exported {len(paths)} file(s)."))
        self.export_dialog = dlg
        dlg.open()
        return dlg

    def shutdown(self, timeout: float = 10.0) -> None:
        """Finish the last edit and stop background work (call before closing)."""
        self.undo.flush()
        self.runner.shutdown(timeout)

    # ------------------------------------------------------------------ exam store
    @classmethod
    def for_session(cls, session: Any, parent: QWidget | None = None) -> ReviewWorkspace:
        """A workspace on an open :class:`~fada_desk.app.review_session.ReviewSession`."""
        store, exam_id = session.store, session.exam_id
        cache: dict[int, Calibration | None] = {}

        def calibration_for(frame: FrameRef) -> Calibration | None:
            if frame.item_id not in cache:
                cache[frame.item_id] = store.get_item(frame.item_id).calibration
            return cache[frame.item_id]

        def ga_days() -> float | None:
            ga = getattr(session.exam, "ga_days", None)
            return float(ga) if ga else None

        ws = cls(session, calibration_for, ga_days, ExamExport(store, exam_id).job, session.operator,
                 lambda ref: store.load_frame(ref.item_id, ref.frame_index), parent)
        ws.calibration_cache = cache
        ws.review_count = ReviewCount(store, exam_id, session.doc)
        return ws

    def calibration_changed(self, item_id: int | None = None) -> None:
        """Forget cached calibrations (after a calibration changed) and re-measure."""
        cache = getattr(self, "calibration_cache", None)
        if cache is not None:
            if item_id is None:
                cache.clear()
            else:
                cache.pop(item_id, None)
        self.panel.measurements.refresh()
