"""The AI panel's result tabs: the interpretation, and the human-in-the-loop next steps.

:class:`InterpretationView` shows the view classification, the class mapping
and the 8 interpretation fields (of a run, or stored with a capture).
:class:`StepsView` offers the next steps after Interpret with the choices of
:func:`~fada_desk.app.analysis_steps.step_defaults` ticked, and reads the
sonographer's choice back through :func:`~fada_desk.app.analysis_steps.choose_steps`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.app.ai_results import StoredAI
from fada_desk.app.analysis_steps import KEYPOINT_CHOICES, STEP_CLASSES, choose_steps, step_defaults
from fada_desk.app.analysis_steps import mapping_text as run_mapping_text
from fada_desk.app.analysis_steps import stored_mapping_text
from fada_desk.core import vocabulary as V
from fada_desk.qt.layout import wrap_rows

NOTE = "AI output: review it before use (Review panel)."


def _swatch(cls: str) -> QPixmap:
    r, g, b = V.class_color(cls)
    pm = QPixmap(12, 12)
    pm.fill(QColor(r, g, b))
    return pm


def _read_only_table(rows: int, headers: list[str], name: str) -> QTableWidget:
    table = QTableWidget(rows, len(headers))
    table.setObjectName(name)
    table.setHorizontalHeaderLabels(headers)
    table.verticalHeader().setVisible(False)
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    return table


class InterpretationView(QWidget):
    """Classification, mapping and the interpretation fields (read-only: review edits them)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classification_label = QLabel("")
        self.classification_label.setObjectName("aiClassification")
        self.mapping_label = QLabel("")
        self.mapping_label.setObjectName("aiMapping")
        self.mapping_label.setWordWrap(True)
        self.table = _read_only_table(len(V.INTERPRETATION_FIELDS), ["Field", "AI interpretation"],
                                      "aiInterpretation")
        self.table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        wrap_rows(self.table)  # long answers wrap; rows follow the column width
        self.table.horizontalHeader().resizeSection(0, self.fontMetrics().horizontalAdvance("Recommendations") + 16)
        for row, (title, _key) in enumerate(V.INTERPRETATION_FIELDS):
            self.table.setItem(row, 0, QTableWidgetItem(title))
            self.table.setItem(row, 1, QTableWidgetItem("–"))
        self.note = QLabel(NOTE)
        self.note.setObjectName("aiInterpretationNote")
        self.note.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.classification_label)
        lay.addWidget(self.mapping_label)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.note)
        self.reset()

    def reset(self) -> None:
        self.classification_label.setText("Classification: –")
        self.mapping_label.setText("Mapped classes: –")
        for row in range(self.table.rowCount()):
            self.table.item(row, 1).setText("–")
            self.table.item(row, 1).setToolTip("")
        self.note.setText(NOTE)

    def show_classification(self, label: str | None) -> None:
        self.classification_label.setText(f"Classification: {label or 'Unknown'}")

    def show_mapping(self, mapping: Any) -> bool:
        """Show a run's mapping; True when the text changed (the step choices follow it)."""
        text = run_mapping_text(mapping)
        if self.mapping_label.text() == text:
            return False
        self.mapping_label.setText(text)
        return True

    def show_interpretation(self, interp: dict[str, Any] | None, parsed: bool) -> None:
        from fada_desk.inference.fada.parsing import format_interpretation

        if interp is None:
            for row in range(self.table.rowCount()):
                self.table.item(row, 1).setText("–")
            self.note.setText("The interpretation could not be parsed; the raw answer is in the "
                              "Progress tab.")
            return
        for row, (_title, text) in enumerate(format_interpretation(interp)):
            item = self.table.item(row, 1)
            item.setText(text)
            item.setToolTip(text)
        self.table.resizeRowsToContents()
        self.note.setText(NOTE + ("" if parsed else " Some fields could not be read."))

    def show_stored(self, stored: StoredAI) -> None:
        """The interpretation stored with a capture (its current, reviewed values)."""
        interp = stored.interpretation
        if interp is None:
            return
        values = stored.values()
        self.show_interpretation(stored.fields(), interp.parse_success)
        self.show_classification(values.get("classification"))
        self.mapping_label.setText(stored_mapping_text(values, interp.mapping_tier))

    def values(self) -> dict[str, str]:
        """Field title -> text shown."""
        t = self.table
        return {t.item(r, 0).text(): t.item(r, 1).text() for r in range(t.rowCount())}


class StepsView(QWidget):
    """The "Next step" tab: which steps to run after Interpret, on which structures."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.step_detect = QCheckBox("Detect (boxes)")
        self.step_detect.setObjectName("aiStepDetect")
        self.step_segment = QCheckBox("Segment (outlines)")
        self.step_segment.setObjectName("aiStepSegment")
        self.step_keypoints = QCheckBox("Keypoints")
        self.step_keypoints.setObjectName("aiStepKeypoints")
        self.keypoint_classes = QComboBox()
        self.keypoint_classes.setObjectName("aiKeypointClasses")
        for title, classes in KEYPOINT_CHOICES:
            self.keypoint_classes.addItem(title, classes)
        self.class_table = _read_only_table(len(STEP_CLASSES), ["Structure", "Detect", "Segment"],
                                            "aiClasses")
        self.class_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.run_selected_button = QPushButton("Run selected steps")
        self.run_selected_button.setObjectName("aiRunSelected")
        hint = QLabel("After Interpret: tick the steps and the structures, then run them.")
        hint.setWordWrap(True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(hint)
        srow = QHBoxLayout()
        srow.addWidget(self.step_detect)
        srow.addWidget(self.step_segment)
        lay.addLayout(srow)
        krow = QHBoxLayout()
        krow.addWidget(self.step_keypoints)
        krow.addWidget(self.keypoint_classes, 1)
        lay.addLayout(krow)
        lay.addWidget(self.class_table, 1)
        lay.addWidget(self.run_selected_button)
        self.fill(None)

    def fill(self, mapping: Any) -> None:
        """Offer the steps for ``mapping`` (None: nothing interpreted yet)."""
        d = step_defaults(mapping)
        self.class_table.setRowCount(len(d.classes))
        for row, cls in enumerate(d.classes):
            name = QTableWidgetItem(V.class_title(cls))  # FADA's name; the code is the data
            name.setData(Qt.ItemDataRole.UserRole, cls)
            name.setToolTip(f"{V.class_title(cls)} — code {cls}")
            name.setIcon(_swatch(cls))
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.class_table.setItem(row, 0, name)
            for col, chosen in ((1, cls in d.detect), (2, cls in d.segment)):
                item = QTableWidgetItem("")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)
                self.class_table.setItem(row, col, item)
        self.step_detect.setChecked(bool(d.detect))
        self.step_segment.setChecked(bool(d.segment))
        self.step_keypoints.setChecked(d.keypoints)
        self.keypoint_classes.setCurrentIndex(d.keypoint_choice)

    def _ticked(self, col: int) -> list[str]:
        t = self.class_table
        return [t.item(r, 0).data(Qt.ItemDataRole.UserRole) for r in range(t.rowCount())
                if t.item(r, col).checkState() == Qt.CheckState.Checked]

    def selected_steps(self) -> list[tuple[str, str]]:
        """(phase, classes) ticked, in run order. Raises FadaError if incomplete."""
        keypoints = str(self.keypoint_classes.currentData()) if self.step_keypoints.isChecked() else None
        return choose_steps(self._ticked(1) if self.step_detect.isChecked() else None,
                            self._ticked(2) if self.step_segment.isChecked() else None, keypoints)

    def set_step_classes(self, phase: str, classes: list[str]) -> None:
        """Tick exactly ``classes`` for ``phase`` ("detect" / "segment") and tick the step."""
        col = 1 if phase == "detect" else 2
        wanted = set(classes)
        for r in range(self.class_table.rowCount()):
            cls = self.class_table.item(r, 0).data(Qt.ItemDataRole.UserRole)
            self.class_table.item(r, col).setCheckState(
                Qt.CheckState.Checked if cls in wanted else Qt.CheckState.Unchecked)
        (self.step_detect if phase == "detect" else self.step_segment).setChecked(bool(wanted))
