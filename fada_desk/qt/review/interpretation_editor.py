"""Review of FADA's interpretation of one frame: the 8 fields, the view, the mapped classes.

A table with one row per reviewed value: what it is, the current value
(editable in place), what the AI originally said (kept forever, also in the
tooltip), and the review status with accept / reject buttons. Every change is
a command from :mod:`fada_desk.core.commands` (undoable, audited by the
review session); the table is rebuilt from the document after each change, so
undo in any panel shows up here.

Typing a value accepts it (a human wrote it). Clearing a value stores
"no value". A frame without an AI interpretation can still be filled in by
hand (it becomes a manual interpretation).

Laid out for a side dock: the value gets the width and wraps (rows grow with
it), field names and status words wrap in narrow columns, accept / reject are
✓ / ✗ buttons, and the "AI original" column steps aside on a narrow panel
(the AI's text stays in the value's tooltip). Class lists are spelled out with
FADA's names in the tooltip.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.review_doc import Change
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.core.interpretation_commands import (
    EditInterpretationField,
    SetClassification,
    SetFieldStatus,
    SetInterpretation,
    SetMappedClasses,
)
from fada_desk.core.interpretation import (
    CLASSIFICATION,
    DET_CLASSES,
    FIELD_TITLES,
    INTERPRETATION_FIELDS,
    SEG_CLASSES,
    Interpretation,
    ReviewedValue,
    display_text,
)
from fada_desk.core.vocabulary import class_title
from fada_desk.qt.layout import optional_columns, wrap_rows
from fada_desk.qt.review import style
from fada_desk.qt.review.undo import UndoAdapter, subscribe_while_alive

ROWS: tuple[str, ...] = (CLASSIFICATION, DET_CLASSES, SEG_CLASSES, *INTERPRETATION_FIELDS)
TITLES: dict[str, str] = {
    CLASSIFICATION: "View classification",
    DET_CLASSES: "Detection classes",
    SEG_CLASSES: "Segmentation classes",
    **FIELD_TITLES,
}
COL_FIELD, COL_VALUE, COL_AI, COL_STATUS, COL_ACTIONS = range(5)
HEADERS = ("Field", "Value", "AI original", "Status", "")
WIDE_PX = 640  # narrower than this, the "AI original" column is hidden (its text is in the tooltip)


def classes_text(value: str) -> str:
    """A class list ("B, CRL, H") with FADA's names ("Body (B), Crown-Rump Length (CRL), Head (H)")."""
    return ", ".join(class_title(c.strip()) for c in value.split(",") if c.strip())


def status_text(v: ReviewedValue | None) -> str:
    if v is None or v.value is None and v.ai is None:
        return "—"
    text = style.STATUS_TEXT[v.status]
    if v.edited:
        text += " (edited)"
    elif not v.from_ai:
        text += " (manual)"
    return text


class InterpretationEditor(QWidget):
    """Edit / accept / reject the interpretation of :attr:`frame` through undoable commands."""

    def __init__(self, undo: UndoAdapter, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.undo = undo
        self.frame: FrameRef | None = None
        self.setObjectName("interpretationEditor")

        self.header = QLabel("No frame shown.")
        self.header.setObjectName("interpretationHeader")
        self.header.setWordWrap(True)
        self.table = QTableWidget(len(ROWS), len(HEADERS))
        self.table.setObjectName("interpretationTable")
        self.table.setHorizontalHeaderLabels(list(HEADERS))
        self.table.verticalHeader().setVisible(False)
        wrap_rows(self.table)
        hh = self.table.horizontalHeader()
        fm = self.fontMetrics()
        for col, widest in ((COL_FIELD, "Recommendations"), (COL_STATUS, "accepted")):
            hh.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            hh.resizeSection(col, fm.horizontalAdvance(widest) + 16)  # longer names wrap
        hh.setSectionResizeMode(COL_VALUE, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(COL_AI, QHeaderView.ResizeMode.Stretch)
        hh.setSectionResizeMode(COL_ACTIONS, QHeaderView.ResizeMode.ResizeToContents)
        self._optional = optional_columns(self.table, (COL_AI,), WIDE_PX)
        self.table.itemChanged.connect(self._on_item_changed)
        self.accept_buttons: dict[str, QToolButton] = {}
        self.reject_buttons: dict[str, QToolButton] = {}
        for row, name in enumerate(ROWS):
            self._init_row(row, name)

        self.accept_all_button = QPushButton("Accept all fields")
        self.accept_all_button.setObjectName("acceptAllFields")
        self.accept_all_button.clicked.connect(self.accept_all)
        self.raw = QPlainTextEdit()
        self.raw.setObjectName("interpretationRaw")
        self.raw.setReadOnly(True)
        self.raw.setMaximumHeight(90)
        self.raw.setVisible(False)

        top = QHBoxLayout()
        top.addWidget(self.header, 1)
        top.addWidget(self.accept_all_button)
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.raw)
        subscribe_while_alive(self, undo.doc.subscribe, self._on_change)
        self.refresh()

    # ------------------------------------------------------------------ table setup
    def _init_row(self, row: int, name: str) -> None:
        title = QTableWidgetItem(TITLES[name])
        title.setFlags(Qt.ItemFlag.ItemIsEnabled)
        title.setData(Qt.ItemDataRole.UserRole, name)
        self.table.setItem(row, COL_FIELD, title)
        for col in (COL_AI, COL_STATUS):
            it = QTableWidgetItem("")
            it.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
            self.table.setItem(row, col, it)
        self.table.setItem(row, COL_VALUE, QTableWidgetItem(""))
        box = QWidget()
        h = QHBoxLayout(box)
        h.setContentsMargins(2, 0, 2, 0)
        acc, rej = QToolButton(), QToolButton()
        acc.setText("✓")
        rej.setText("✗")
        acc.setToolTip(f"Accept the {TITLES[name].lower()}")
        rej.setToolTip(f"Reject the {TITLES[name].lower()}")
        acc.setObjectName(f"accept_{name}")
        rej.setObjectName(f"reject_{name}")
        acc.clicked.connect(lambda _c=False, n=name: self.set_status(n, ReviewStatus.ACCEPTED))
        rej.clicked.connect(lambda _c=False, n=name: self.set_status(n, ReviewStatus.REJECTED))
        h.addWidget(acc)
        h.addWidget(rej)
        self.table.setCellWidget(row, COL_ACTIONS, box)
        self.accept_buttons[name] = acc
        self.reject_buttons[name] = rej

    # ------------------------------------------------------------------ state
    def set_frame(self, frame: FrameRef | None) -> None:
        self.frame = frame
        self.refresh()

    @property
    def interpretation(self) -> Interpretation | None:
        return None if self.frame is None else self.undo.doc.interpretation(self.frame)

    def _on_change(self, change: Change) -> None:
        if change.kind == "reset" or (change.kind == "interpretation" and self.frame in change.frames):
            self.refresh()

    def row_of(self, name: str) -> int:
        return ROWS.index(name)

    def value_text(self, name: str) -> str:
        return self.table.item(self.row_of(name), COL_VALUE).text()

    def refresh(self) -> None:
        it = self.interpretation
        self.table.setEnabled(self.frame is not None)
        with QSignalBlocker(self.table):
            for row, name in enumerate(ROWS):
                v = it.values.get(name) if it is not None else None
                value = self.table.item(row, COL_VALUE)
                text = display_text(v.value) if v is not None else ""
                ai_text = display_text(v.ai) if v is not None and v.from_ai else ""
                value.setText(text)
                shown = classes_text(text) if name in (DET_CLASSES, SEG_CLASSES) else text
                value.setToolTip("\n".join(t for t in (shown, f"AI original: {ai_text}" if ai_text else "") if t))
                ai_item = self.table.item(row, COL_AI)
                ai_item.setText(ai_text or "—")
                ai_item.setToolTip(f"AI original: {ai_text}" if ai_text else "No AI value")
                st = self.table.item(row, COL_STATUS)
                st.setText(status_text(v))
                has = v is not None and v.value is not None
                status = v.status if v is not None else None
                st.setForeground(QBrush(style.STATUS_COLORS[status]) if has and status else QBrush())
                self.accept_buttons[name].setEnabled(has and status is not ReviewStatus.ACCEPTED)
                self.reject_buttons[name].setEnabled(has and status is not ReviewStatus.REJECTED)
        self.table.resizeRowsToContents()
        self.accept_all_button.setEnabled(bool(it is not None and it.pending_names()))
        if self.frame is None:
            self.header.setText("No frame shown.")
        elif it is None:
            self.header.setText("No AI interpretation for this frame; you can type one.")
        else:
            source = f"AI analysis {it.analysis_id[:8]}" if it.analysis_id else "Written by hand"
            tier = f", class mapping: {it.mapping_tier}" if it.mapping_tier else ""
            pending = len(it.pending_names())
            self.header.setText(f"{source}{tier}. {pending} value(s) pending review.")
            if not it.parse_success:
                self.header.setText(self.header.text() + " The model's answer could not be parsed; "
                                    "its raw text is shown below.")
        raw = it.raw_text if it is not None and not it.parse_success else ""
        self.raw.setPlainText(raw)
        self.raw.setVisible(bool(raw))

    # ------------------------------------------------------------------ edits -> commands
    def _on_item_changed(self, item: QTableWidgetItem) -> None:
        if item.column() != COL_VALUE:
            return
        name = ROWS[item.row()]
        self.set_value(name, item.text())

    def set_value(self, name: str, text: str) -> bool:
        """Apply a typed value (what editing the cell does)."""
        if self.frame is None:
            return False
        frame, doc = self.frame, self.undo.doc
        it = self.interpretation
        current = it.values[name].value if it is not None else None
        value: Any = text.strip() or None
        if (display_text(current) or None) == value:
            self.refresh()  # nothing changed (e.g. a list shown as text); show the stored value
            return False
        if name == CLASSIFICATION:
            ok = self.undo.run(lambda: SetClassification(doc, frame, value))
        elif name in (DET_CLASSES, SEG_CLASSES):
            det = value if name == DET_CLASSES else (it.values[DET_CLASSES].value if it else None)
            seg = value if name == SEG_CLASSES else (it.values[SEG_CLASSES].value if it else None)
            ok = self.undo.run(lambda: SetMappedClasses(doc, frame, det, seg))
        else:
            ok = self.undo.run(lambda: EditInterpretationField(doc, frame, name, value))
        if not ok:
            self.refresh()
        return ok

    def set_status(self, name: str, status: ReviewStatus) -> bool:
        if self.frame is None:
            return False
        frame, doc = self.frame, self.undo.doc
        return self.undo.run(lambda: SetFieldStatus(doc, frame, name, status))

    def accept_all(self) -> bool:
        """Accept every pending value of this frame's interpretation (annotations untouched)."""
        it = self.interpretation
        if self.frame is None or it is None:
            return False
        frame, doc = self.frame, self.undo.doc

        def make() -> SetInterpretation:
            cmd = SetInterpretation(doc, frame, it.with_all_accepted(), "Accept interpretation")
            cmd.action = "interpretation.accept_all"
            return cmd

        return self.undo.run(make)
