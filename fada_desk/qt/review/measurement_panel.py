"""Calibrated biometry: measurements on the shown frame, GA and EFW for the exam.

* The frame's calibration is stated first; without one (or when a shape spans
  two ultrasound regions) each row says why there is no value — never a crash,
  never a number in the wrong unit.
* One row per caliper / ellipse / outline of the frame: what it measures (a
  combo: BPD, HC, ...; an undoable command), its value in mm (Ramanujan II
  perimeter for ellipses, a Fitzgibbon least-squares ellipse fit for outlines).
* Buttons start the caliper / ellipse tool already tagged (e.g. "BPD"), and
  fit an ellipse to the selected outline (one undo step; the outline's HC/AC
  tag moves to the ellipse).
* GA and EFW by every applicable published equation (name, result, inputs,
  validity), computed from the exam's *accepted* tagged measurements, with
  the discordance warnings of :func:`fada_desk.core.biometry.biometry_report`.
* Each caliper / ellipse carries its value on the image too ("HC 197.2 mm"),
  written by the export's own caption (:attr:`AnnotationEditor.measurement_text`).

The frame's table and the exam's table share the panel through a splitter
(sizes remembered); each shows its rows on one line, long details elided with
the full text as tooltip, and the GA table's "Inputs" column steps aside on a
narrow panel (its text stays in the tooltips).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (
    QComboBox,
    QGroupBox,
    QGridLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.app.measurement_rows import (
    CIRCUMFERENCES,
    DISTANCES,
    calibration_text,
    choices_for,
    image_text,
    measurable,
    value_text,
)
from fada_desk.core.annotations import Annotation, Ellipse, Polygon
from fada_desk.core.review_doc import Change
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.biometry import (
    PARAMETERS,
    BiometryReport,
    Estimate,
    Measurement,
    densify,
    ellipse_geometry,
    fit_ellipse,
    fit_ellipse_calibrated,
    exam_biometry,
)
from fada_desk.core.dating import format_ga
from fada_desk.core.calibration import Calibration
from fada_desk.core.annotation_commands import AddAnnotation, SetMeasure
from fada_desk.core.errors import FadaError
from fada_desk.core.vocabulary import class_title
from fada_desk.qt.layout import min_rows, optional_columns, remember_splitter
from fada_desk.qt.review.editor import AnnotationEditor
from fada_desk.qt.review.undo import subscribe_while_alive
from fada_desk.qt.util import app_settings

CalibrationFor = Callable[[FrameRef], "Calibration | None"]
NO_MEASURE = "—"
ERROR_COLOR = QColor(200, 30, 30)
WARN_COLOR = QColor(150, 85, 0)
COL_INPUTS = 3
SPLIT_KEY = "layout/measurement_split"


class MeasurementPanel(QWidget):
    """Measurements of the editor's frame and the exam's GA/EFW table."""

    def __init__(self, editor: AnnotationEditor, calibration_for: CalibrationFor,
                 ga_by_dates_days: Callable[[], float | None] | None = None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.calibration_for = calibration_for
        self.ga_by_dates_days = ga_by_dates_days or (lambda: None)
        self.report: BiometryReport | None = None
        self.measurements: list[Measurement] = []
        self.problems: list[str] = []
        self.setObjectName("measurementPanel")

        self.cal_label = QLabel("")
        self.cal_label.setObjectName("calibrationStatus")
        self.cal_label.setWordWrap(True)

        self.table = QTableWidget(0, 4)
        self.table.setObjectName("measurementTable")
        self.table.setHorizontalHeaderLabels(["Annotation", "Measures", "Value", "Details"])
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(3, QHeaderView.ResizeMode.Stretch)
        self.table.setWordWrap(False)  # one line a row: the details elide, their tooltip has it all
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QTableWidget.SelectionBehavior.SelectRows)
        self.table.itemSelectionChanged.connect(self._on_row_selected)
        self.row_ids: list[str] = []
        self.combos: dict[str, QComboBox] = {}

        # two rows, so the panel fits a side dock on a laptop screen
        tools = QGridLayout()
        self.tool_buttons: dict[str, QPushButton] = {}
        for row_no, (title, names, kind) in enumerate(
            (("Caliper:", DISTANCES, "caliper"), ("Ellipse:", CIRCUMFERENCES, "ellipse"))
        ):
            tools.addWidget(QLabel(title), row_no, 0)
            for col, m in enumerate(names, start=1):
                tools.addWidget(self._tool_button(m, kind), row_no, col)
        self.fit_button = QPushButton("Fit to outline")
        self.fit_button.setObjectName("fitEllipse")
        self.fit_button.setToolTip("Fit an ellipse to the selected outline (polygon); its HC/AC tag moves "
                                   "to the ellipse")
        self.fit_button.clicked.connect(self.fit_ellipse_to_selected)
        tools.addWidget(self.fit_button, 1, 1 + len(CIRCUMFERENCES), 1, len(DISTANCES) - len(CIRCUMFERENCES))
        tools.setColumnStretch(tools.columnCount(), 1)
        self.message = QLabel("")
        self.message.setObjectName("measurementMessage")
        self.message.setWordWrap(True)
        self.message.setStyleSheet("color: #c81e1e;")

        self.results = QTableWidget(0, 5)
        self.results.setObjectName("biometryTable")
        self.results.setHorizontalHeaderLabels(["", "Equation", "Result", "Inputs", "Notes"])
        self.results.verticalHeader().setVisible(False)
        self.results.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        self.results.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.results.horizontalHeader().setSectionResizeMode(4, QHeaderView.ResizeMode.Stretch)
        self.results.setWordWrap(False)
        self._optional = optional_columns(self.results, (COL_INPUTS,), 560)
        self.warnings = QLabel("")
        self.warnings.setObjectName("biometryWarnings")
        self.warnings.setWordWrap(True)
        self.warnings.setTextFormat(Qt.TextFormat.PlainText)
        self.warnings.setStyleSheet("color: #b46e00;")

        frame_box = QGroupBox("This frame")
        fl = QVBoxLayout(frame_box)
        fl.addWidget(self.cal_label)
        fl.addLayout(tools)
        fl.addWidget(self.table, 1)
        fl.addWidget(self.message)
        exam_box = QGroupBox("GA and fetal weight (accepted measurements)")
        el = QVBoxLayout(exam_box)
        el.addWidget(self.results, 1)
        el.addWidget(self.warnings)
        for box in (fl, el):
            box.setContentsMargins(6, 4, 6, 4)
        line = self.fontMetrics().height()
        self.table.verticalHeader().setDefaultSectionSize(max(line + 8, QComboBox().sizeHint().height()))
        self.results.verticalHeader().setDefaultSectionSize(line + 8)
        min_rows(self.table, 2)
        min_rows(self.results, 5)
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("measurementSplit")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(frame_box)
        self.splitter.addWidget(exam_box)
        self.splitter.setStretchFactor(0, 1)
        self.splitter.setStretchFactor(1, 1)
        remember_splitter(self.splitter, app_settings(), SPLIT_KEY)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.splitter, 1)

        editor.measurement_text = self.image_text  # the values on the image, as in the export
        subscribe_while_alive(self, editor.doc.subscribe, self._on_change)
        editor.selectionChanged.connect(self._on_selection)
        editor.frameChanged.connect(lambda _f: self.refresh())
        self.refresh()

    def _tool_button(self, measure: str, tool: str) -> QPushButton:
        b = QPushButton(measure)
        b.setObjectName(f"measure_{measure}")
        b.setToolTip(f"Draw a {tool} measuring {PARAMETERS[measure]}")
        # compact: the style's 80 px minimum would make the side dock too wide for a laptop
        b.setMinimumWidth(44)
        b.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Fixed)
        b.clicked.connect(lambda _c=False: self.editor.set_tool(tool, measure=measure))
        self.tool_buttons[measure] = b
        return b

    # ------------------------------------------------------------------ refresh
    def _on_change(self, change: Change) -> None:
        if change.kind != "interpretation":
            self.refresh()

    def _on_selection(self, _ann_id: object) -> None:
        self._update_fit_button()
        with QSignalBlocker(self.table):
            self.table.clearSelection()
            if self.editor.selected_id in self.row_ids:
                self.table.selectRow(self.row_ids.index(self.editor.selected_id))

    def _update_fit_button(self) -> None:
        ann = self.editor.selected
        self.fit_button.setEnabled(isinstance(ann, Polygon))

    @property
    def calibration(self) -> Calibration | None:
        frame = self.editor.frame
        return None if frame is None else self.calibration_for(frame)

    def refresh(self) -> None:
        frame = self.editor.frame
        cal = self.calibration
        self.cal_label.setText("No frame shown." if frame is None else calibration_text(cal))
        for b in self.tool_buttons.values():
            b.setEnabled(frame is not None)
        self._fill_frame_table(cal)
        self._update_fit_button()
        self._fill_results()
        self.editor.refresh_labels()

    def image_text(self, ann: Annotation) -> str | None:
        """What ``ann``'s label shows on the image (:func:`~fada_desk.app.measurement_rows.image_text`)."""
        frame = self.editor.frame
        return None if frame is None or ann.frame != frame else image_text(ann, self.calibration_for(frame))

    def _fill_frame_table(self, cal: Calibration | None) -> None:
        anns = [a for a in self.editor.annotations() if measurable(a)]
        ids = [a.id for a in anns]
        # Same rows: update in place. Rebuilding would delete the "measures" combo whose
        # signal is being handled when the user just changed it.
        rebuild = ids != self.row_ids
        self.row_ids = ids
        with QSignalBlocker(self.table):
            if rebuild:
                self.table.clearContents()
                self.table.setRowCount(len(anns))
                self.combos = {}
            for row, ann in enumerate(anns):
                name = QTableWidgetItem(class_title(ann.label) if ann.label else ann.kind)
                name.setData(Qt.ItemDataRole.UserRole, ann.id)
                name.setToolTip(name.text())
                self.table.setItem(row, 0, name)
                if rebuild:
                    combo = QComboBox()
                    combo.setObjectName(f"measureAs_{ann.id}")
                    combo.addItem(NO_MEASURE)
                    combo.addItems(list(choices_for(ann)))
                    combo.currentTextChanged.connect(lambda text, i=ann.id: self.set_measure(i, text))
                    self.table.setCellWidget(row, 1, combo)
                    self.combos[ann.id] = combo
                combo = self.combos[ann.id]
                with QSignalBlocker(combo):
                    if ann.measure and combo.findText(ann.measure) < 0:
                        combo.addItem(ann.measure)
                    combo.setCurrentText(ann.measure or NO_MEASURE)
                try:
                    value, details = value_text(ann, cal)
                    color = None
                except FadaError as err:
                    value, details, color = "no value", str(err), ERROR_COLOR
                if ann.measure and ann.status is ReviewStatus.PENDING:
                    note = "pending review: accept it to use it for GA/EFW"
                    details = f"{details}; {note}" if details else note
                v, d = QTableWidgetItem(value), QTableWidgetItem(details)
                v.setToolTip(f"{value}\n{details}" if details else value)
                d.setToolTip(details)
                if color is not None:
                    v.setForeground(QBrush(color))
                    d.setForeground(QBrush(color))
                self.table.setItem(row, 2, v)
                self.table.setItem(row, 3, d)
            self.table.clearSelection()
            if self.editor.selected_id in ids:
                self.table.selectRow(ids.index(self.editor.selected_id))
        self.table.resizeColumnToContents(0)
        self.table.resizeColumnToContents(2)

    def _fill_results(self) -> None:
        measured = exam_biometry(self.editor.doc, self.calibration_for, self.ga_by_dates_days())
        self.measurements, self.problems = measured.measurements, measured.problems
        self.report = None
        warnings: list[str] = list(self.problems)
        values = measured.values
        if values:
            try:
                self.report = measured.report()
            except FadaError as err:
                warnings.append(str(err))
        rows: list[tuple[Estimate, bool]] = []
        if self.report is not None:
            rows = [(e, e is self.report.primary_ga) for e in self.report.ga]
            rows += [(e, e is self.report.primary_efw) for e in self.report.efw]
            warnings = list(self.report.warnings) + warnings
            if self.report.cephalic_index is not None:
                warnings.append(f"Cephalic index {self.report.cephalic_index:.0f}.")
        with QSignalBlocker(self.results):
            self.results.clearContents()
            self.results.setRowCount(len(rows))
            bold = QFont()
            bold.setBold(True)
            for r, (est, primary) in enumerate(rows):
                eq = est.equation
                inputs = ", ".join(f"{k} {v:.1f} mm" for k, v in est.inputs_mm.items())
                notes = "; ".join(est.warnings) or eq.validity
                cells = (eq.quantity + (" ★" if primary else ""), eq.name, est.text, inputs, notes)
                tip = f"{eq.name}: {est.text}\nInputs: {inputs}\n{notes}"
                for c, text in enumerate(cells):
                    it = QTableWidgetItem(text)
                    it.setToolTip(tip)
                    if c == 1:
                        it.setToolTip(f"{tip}\n{eq.formula}\n{eq.reference}")
                    if c == 4:
                        if est.warnings:
                            it.setForeground(QBrush(WARN_COLOR))
                    if primary:
                        it.setFont(bold)
                    self.results.setItem(r, c, it)
        self.results.resizeColumnToContents(0)
        self.results.resizeColumnToContents(2)
        if not values and not warnings:
            warnings.append("No accepted measurement yet: tag a caliper or ellipse (BPD, HC, ...) "
                            "and accept it.")
        if self.report is not None and self.report.ga_by_dates_days is not None:
            warnings.insert(0, f"GA by dates: {format_ga(self.report.ga_by_dates_days)}.")
        self.warnings.setText("\n".join(warnings))

    # ------------------------------------------------------------------ actions
    def result_rows(self) -> list[tuple[str, ...]]:
        return [tuple(self.results.item(r, c).text() for c in range(self.results.columnCount()))
                for r in range(self.results.rowCount())]

    def row_texts(self, ann_id: str) -> tuple[str, str]:
        r = self.row_ids.index(ann_id)
        return self.table.item(r, 2).text(), self.table.item(r, 3).text()

    def _on_row_selected(self) -> None:
        rows = self.table.selectionModel().selectedRows()
        if rows:
            ann_id = self.row_ids[rows[0].row()]
            if ann_id != self.editor.selected_id:
                self.editor.select(ann_id)

    def set_measure(self, ann_id: str, text: str) -> bool:
        measure = None if text == NO_MEASURE else text
        doc = self.editor.doc
        if ann_id not in doc or doc.get(ann_id).measure == measure:
            return False
        return self.editor.undo.run(lambda: SetMeasure(doc, ann_id, measure))

    def fit_ellipse_to_selected(self) -> bool:
        """Fit an ellipse (in mm when calibrated) to the selected outline; one undo step."""
        ann = self.editor.selected
        if not isinstance(ann, Polygon):
            self.message.setText("Select an outline (polygon) to fit an ellipse to it.")
            return False
        pts = densify(ann.points)
        cal = self.calibration
        try:
            if cal is not None and cal.is_calibrated:
                _, params_px = fit_ellipse_calibrated(cal, pts)
                note = "fitted in mm"
            else:
                params_px = fit_ellipse(pts)
                note = "fitted in pixels (frame not calibrated)"
        except FadaError as err:
            self.message.setText(f"Cannot fit an ellipse: {err}")
            return False
        measure = ann.measure if ann.measure in CIRCUMFERENCES else None
        ellipse = Ellipse(frame=ann.frame, label=ann.label or (measure or ""), provenance=Provenance.MANUAL,
                          measure=measure, note=f"ellipse {note} to outline {ann.id}",
                          **ellipse_geometry(params_px))
        doc = self.editor.doc
        makes = [lambda: AddAnnotation(doc, ellipse, f"Fit ellipse to {ann.label or 'outline'}")]
        if measure is not None:
            makes.append(lambda: SetMeasure(doc, ann.id, None))
        if not self.editor.undo.run_macro(f"Fit ellipse to {ann.label or 'outline'}", makes):
            self.message.setText(self.editor.undo.last_error)
            return False
        self.message.setText("")
        self.editor.select(ellipse.id)
        return True
