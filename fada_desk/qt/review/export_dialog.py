"""Export dialog: format, pending items, output folder; the export runs in a worker.

The dialog never writes a file itself: it builds
:class:`~fada_desk.export.options.ExportOptions` (:func:`fada_desk.app.export.export_options`,
as the CLI does) and hands a generator job (from the ``make_job`` factory,
normally :meth:`fada_desk.app.export.ExamExport.job` on the exam store) to a
:class:`~fada_desk.qt.workers.JobRunner`, so the window
stays responsive. Progress fills the bar; Cancel stops the job at its next
step (exporters write to a temporary name, so nothing half-written is left);
errors are shown in the dialog in one line.

``before_export`` runs on the GUI thread first (the review session flushes
its last edit there, so the export sees everything on screen).

With a :class:`~fada_desk.app.export.ReviewCount` the dialog warns *before*
exporting when AI items are still pending review: how many, and that they will be
left out (or, with "include pending", included and marked), in the words the
report itself will print. "Review them" closes the dialog and asks for the first
frame with a pending item (:attr:`ExportDialog.reviewRequested`); "Export anyway"
exports as chosen. The items of the exam are read in the worker; the counts follow
the review document while the dialog is open.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fada_desk.app.export import FORMAT_TITLES, MakeJob, ReviewCount, export_options, pending_warning
from fada_desk.core.cancel import Progress
from fada_desk.core.errors import FadaError, error_text
from fada_desk.core.review_tally import ReviewTally
from fada_desk.export.options import ExportOptions
from fada_desk.qt.job_dialog import JobDialogMixin
from fada_desk.qt.workers import JobHandle, JobRunner

WARNING_STYLE = "QFrame#exportReviewBox { background: #fff4d6; border: 1px solid #d9a400; border-radius: 4px; }"


class ExportDialog(JobDialogMixin, QDialog):
    """Choose and run an export. Open with ``open()`` (window-modal, no nested event loop)."""

    exported = Signal(list)  # the written paths
    reviewRequested = Signal(object)  # noqa: N815 - the first FrameRef with a pending AI item (or None)

    def __init__(self, make_job: MakeJob, runner: JobRunner | None = None, out_dir: Path | str | None = None,
                 operator: str = "", before_export: Callable[[], Any] | None = None,
                 parent: QWidget | None = None, review: ReviewCount | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export exam")
        self.setObjectName("exportDialog")
        self.make_job = make_job
        self.runner = runner or JobRunner(max_threads=1, parent=self)
        self.operator = operator
        self.before_export = before_export
        self.handle: JobHandle | None = None
        self.paths: list[Path] = []
        self.review = review
        self.review_job: JobHandle | None = None
        self.tally: ReviewTally | None = None
        self._item_ids: frozenset[int] | None = None
        self._unsubscribe: Callable[[], None] | None = None

        self.format_box = QComboBox()
        self.format_box.setObjectName("exportFormat")
        for key, title in FORMAT_TITLES.items():
            self.format_box.addItem(title, key)
        self.pending_box = QCheckBox("Include AI items still pending review (marked \"pending review\")")
        self.pending_box.setObjectName("includePending")
        self.pending_box.toggled.connect(lambda _on: self._show_review())
        self.dir_edit = QLineEdit(str(out_dir) if out_dir else str(Path.home() / "fada_exports"))
        self.dir_edit.setObjectName("exportDir")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.clicked.connect(self.browse)
        self.file_dialog: QFileDialog | None = None
        dir_row = QHBoxLayout()
        dir_row.addWidget(self.dir_edit, 1)
        dir_row.addWidget(self.browse_button)

        self.progress = QProgressBar()
        self.progress.setObjectName("exportProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("")
        self.status.setObjectName("exportStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.export_button = QPushButton("Export")
        self.export_button.setObjectName("exportButton")
        self.export_button.setDefault(True)
        self.export_button.clicked.connect(self.start)
        self.cancel_button = QPushButton("Close")
        self.cancel_button.setObjectName("exportCancel")
        self.cancel_button.clicked.connect(self.cancel_or_close)
        self.review_box = self._build_review_box()

        form = QFormLayout()
        form.addRow("Format", self.format_box)
        form.addRow("", self.pending_box)
        form.addRow("Folder", dir_row)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.cancel_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.review_box)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addLayout(buttons)
        if review is not None:
            self.count_review()

    # ------------------------------------------------------------------ review state
    def _build_review_box(self) -> QFrame:
        box = QFrame()
        box.setObjectName("exportReviewBox")
        box.setStyleSheet(WARNING_STYLE)
        self.review_label = QLabel("")
        self.review_label.setObjectName("exportReviewWarning")
        self.review_label.setWordWrap(True)
        self.review_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.review_button = QPushButton("Review them")
        self.review_button.setObjectName("exportReview")
        self.review_button.setToolTip("Close this dialog and show the first capture with AI items to review")
        self.review_button.clicked.connect(self.go_review)
        row = QHBoxLayout(box)
        row.addWidget(self.review_label, 1)
        row.addWidget(self.review_button, 0, Qt.AlignmentFlag.AlignTop)
        box.setVisible(False)
        return box

    def count_review(self) -> JobHandle | None:
        """Read the exam's items in the worker, then count (and keep counting) what is pending."""
        review = self.review
        if review is None:
            return None
        self.export_button.setEnabled(False)  # the warning comes before the export
        self.review_label.setText("Counting the AI items still to review…")
        self.review_button.setVisible(False)
        self.review_box.setVisible(True)
        h = self.runner.submit(review.item_ids, name="export-review-count")
        h.result.connect(self._on_items)
        h.error.connect(self._on_count_error)
        self.review_job = h
        return h

    def _on_items(self, ids: object) -> None:
        assert self.review is not None
        self._item_ids = frozenset(ids)  # type: ignore[arg-type]
        if self._unsubscribe is None and self.isVisible():  # recount while open (e.g. an AI run lands)
            self._unsubscribe = self.review.doc.subscribe(lambda _change: self._recount())
            self.destroyed.connect(self._unsubscribe)
        self._recount()

    def _recount(self) -> None:
        if self.review is not None and self._item_ids is not None:
            self.tally = self.review.tally(self._item_ids)
            self._show_review()

    def _on_count_error(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self.tally = None
        self.review_label.setText(f"Could not count the AI items pending review: {text}")
        self.review_box.setVisible(True)
        self._set_running(self.running)

    def _show_review(self) -> None:
        tally = self.tally
        if tally is None:
            return
        warning = pending_warning(tally, self.pending_box.isChecked())
        if warning:
            statement = tally.statement(self.pending_box.isChecked())
            self.review_label.setText(f"<b>{html.escape(warning)}</b><br>{html.escape(statement)}")
        self.review_box.setVisible(bool(warning))
        self.review_button.setVisible(bool(warning))
        self._set_running(self.running)

    @property
    def pending(self) -> int:
        """AI proposals still pending review (0 until counted)."""
        return self.tally.pending if self.tally is not None else 0

    def go_review(self) -> None:
        """Back to the review: close, asking for the first frame with a pending AI item."""
        frame = None
        if self.review is not None and self._item_ids is not None:
            frame = self.review.first_pending(self._item_ids)
        self.reject()
        self.reviewRequested.emit(frame)

    # ------------------------------------------------------------------ choices
    @property
    def fmt(self) -> str:
        return str(self.format_box.currentData())

    def set_format(self, fmt: str) -> None:
        i = self.format_box.findData(fmt)
        if i < 0:
            raise ValueError(f"unknown export format {fmt!r}")
        self.format_box.setCurrentIndex(i)

    def options(self) -> ExportOptions:
        return export_options(include_pending=self.pending_box.isChecked(), operator=self.operator)

    def browse(self) -> QFileDialog:
        """A non-blocking folder chooser (fills the folder box when accepted)."""
        return self.choose_folder("Export folder", self.dir_edit)

    # ------------------------------------------------------------------ run
    def start(self) -> JobHandle | None:
        """Run the export in the worker; returns its handle (None when refused)."""
        if self.running:
            return self.handle
        text = self.dir_edit.text().strip()
        if not text:
            self.fail("Choose a folder to export into.")
            return None
        out_dir = Path(text).expanduser()
        if out_dir.exists() and not out_dir.is_dir():
            self.fail(f"{out_dir} is a file, not a folder.")
            return None
        if self.before_export is not None:
            try:
                self.before_export()
            except FadaError as err:
                self.fail(f"Cannot save the last edit before exporting: {err}")
                return None
        fmt, options = self.fmt, self.options()
        self.paths = []
        self.progress.setValue(0)
        self.say(f"Exporting {fmt.upper()}…")
        make_job = self.make_job
        return self.run_job(lambda token: make_job(fmt, out_dir, options, token), f"export-{fmt}")

    def _set_running(self, running: bool) -> None:
        for w in (self.format_box, self.pending_box, self.dir_edit, self.browse_button, self.review_button):
            w.setEnabled(not running)
        counting = self.review_job is not None and not self.review_job.outcome
        self.export_button.setEnabled(not running and not counting)
        self.export_button.setText("Export anyway" if self.pending else "Export")
        self.cancel_button.setText("Cancel" if running else "Close")

    def _on_progress(self, p: Progress) -> None:
        self.show_progress(p)
        if p.message:
            self.status.setText(p.message)

    def _on_result(self, paths: object) -> None:
        self.paths = [Path(p) for p in (paths or [])]  # type: ignore[union-attr]
        self.progress.setValue(1000)
        names = ", ".join(p.name for p in self.paths[:4]) + (" …" if len(self.paths) > 4 else "")
        folder = self.paths[0].parent if self.paths else Path(self.dir_edit.text())
        self.status.setText(f"Wrote {len(self.paths)} file(s) to {folder}: {names}")
        self.exported.emit(list(self.paths))

    def _on_error(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self.fail(f"Export failed: {text}")

    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self.status.setText("Export cancelled; no partial file was left.")

    def done(self, result: int) -> None:  # noqa: D401 - Qt API
        """Closing while an export runs cancels it (the worker stops at its next step)."""
        self.cancel_running()
        if self._unsubscribe is not None:
            self._unsubscribe()
        super().done(result)


def running_export(current: ExportDialog | None) -> ExportDialog | None:
    """The export dialog to show again instead of a new one: ``current`` while it runs (raised);
    otherwise None, after retiring ``current`` (a fresh dialog counts the review state again)."""
    if current is not None and current.running:
        current.raise_()
        return current
    if current is not None:
        current.deleteLater()
    return None
