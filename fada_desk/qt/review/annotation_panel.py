"""The list of annotations on the shown frame, with review actions and relabelling.

One row per annotation: label, kind, where it came from (AI / AI, edited /
manual) and its review status. A class is listed by FADA's full name with a
swatch of its colour ("Abdomen (AB)"; the image keeps the short code), in the
palette's text colour so that yellow and pink classes stay readable. The row selection follows the editor's
selection both ways. Accept, reject, accept all, delete and the drawing tools
are the editor's own actions (same shortcuts, same enabled state); the label
box offers FADA's class names and takes free text; Enter applies it to the
selected annotation (undoable) or names the next drawn shape.
"""

from __future__ import annotations

from PySide6.QtCore import QSignalBlocker, Qt
from PySide6.QtGui import QBrush
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_doc import Change
from fada_desk.core.vocabulary import ALL_CLASSES_SORTED, class_title
from fada_desk.qt.review import style
from fada_desk.qt.review.editor import AnnotationEditor
from fada_desk.qt.review.undo import subscribe_while_alive

COLUMNS = ("Label", "Kind", "Source", "Status")
ID_ROLE = Qt.ItemDataRole.UserRole


class AnnotationPanel(QWidget):
    """Annotation list + review buttons for one :class:`AnnotationEditor`."""

    def __init__(self, editor: AnnotationEditor, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.editor = editor
        self.setObjectName("annotationPanel")

        self.tree = QTreeWidget()
        self.tree.setObjectName("annotationList")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(COLUMNS)):  # short words: the class names get the rest
            self.tree.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._on_row_selected)

        self.label_box = QComboBox()
        self.label_box.setObjectName("labelBox")
        self.label_box.setEditable(True)
        self.label_box.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        for code in sorted(ALL_CLASSES_SORTED, key=lambda c: class_title(c).lower()):
            self.label_box.addItem(style.swatch(code), class_title(code), code)
        self.label_box.setCurrentIndex(-1)
        self.label_box.setToolTip("FADA class or free text. Enter relabels the selected annotation "
                                  "(or names the next shape you draw).")
        self.label_box.lineEdit().setPlaceholderText("Label…")
        self.label_box.lineEdit().returnPressed.connect(self.apply_label)
        self.label_box.activated.connect(lambda _i: self.apply_label())
        self.relabel_button = QPushButton("Relabel")
        self.relabel_button.setObjectName("relabelButton")
        self.relabel_button.clicked.connect(self.apply_label)

        buttons = QGridLayout()
        e = editor
        for i, act in enumerate((e.act_accept, e.act_reject, e.act_accept_all, e.act_delete,
                                 e.act_undo, e.act_redo)):
            b = QToolButton()
            b.setDefaultAction(act)
            b.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
            b.setObjectName(f"button_{act.objectName()}")
            buttons.addWidget(b, i // 3, i % 3)
        tools = QHBoxLayout()
        tools.addWidget(QLabel("Draw:"))
        for tool, act in e.tool_actions.items():
            b = QToolButton()
            b.setDefaultAction(act)
            b.setObjectName(f"tool_{tool}")
            tools.addWidget(b)
        tools.addStretch(1)
        label_row = QHBoxLayout()
        label_row.addWidget(self.label_box, 1)
        label_row.addWidget(self.relabel_button)

        self.summary = QLabel("")
        self.summary.setObjectName("reviewSummary")
        self.summary.setWordWrap(True)

        lay = QVBoxLayout(self)
        lay.addLayout(tools)
        lay.addWidget(self.tree, 1)
        lay.addLayout(label_row)
        lay.addLayout(buttons)
        lay.addWidget(self.summary)

        subscribe_while_alive(self, editor.doc.subscribe, self._on_change)
        editor.selectionChanged.connect(self._on_editor_selection)
        self.refresh()

    # ------------------------------------------------------------------ content
    def _on_change(self, change: Change) -> None:
        if change.kind != "interpretation":
            self.refresh()

    def refresh(self) -> None:
        """Rebuild the rows for the editor's frame (cheap: a few dozen rows at most)."""
        anns = self.editor.annotations()
        with QSignalBlocker(self.tree):
            self.tree.clear()
            for ann in anns:
                self.tree.addTopLevelItem(self._row(ann))
            self._select_row(self.editor.selected_id)
        pending = sum(1 for a in anns if a.status.value == "pending")
        self.summary.setText(
            "No frame shown." if self.editor.frame is None else
            f"{len(anns)} annotation(s) on this frame, {pending} pending review."
        )
        self.relabel_button.setEnabled(self.editor.selected_id is not None)

    def _row(self, ann: Annotation) -> QTreeWidgetItem:
        item = QTreeWidgetItem([class_title(ann.label) if ann.label else ann.kind, ann.kind,
                                style.PROVENANCE_TEXT[ann.provenance], style.STATUS_TEXT[ann.status]])
        item.setData(0, ID_ROLE, ann.id)
        item.setIcon(0, style.swatch_of(ann))  # the class colour as a swatch, the text in the palette's
        item.setForeground(3, QBrush(style.STATUS_COLORS[ann.status]))
        if ann.ai_original:
            orig = ann.ai_original
            item.setToolTip(2, f"AI original: {orig.get('label', '')} {orig.get('geometry')}")
        tip = f"{class_title(ann.label)} — code {ann.label}" if ann.label else ann.kind
        item.setToolTip(0, tip + (f"; measured as {ann.measure}" if ann.measure else ""))
        return item

    def row_ids(self) -> list[str]:
        return [self.tree.topLevelItem(i).data(0, ID_ROLE) for i in range(self.tree.topLevelItemCount())]

    def row_for(self, ann_id: str) -> QTreeWidgetItem | None:
        for i in range(self.tree.topLevelItemCount()):
            it = self.tree.topLevelItem(i)
            if it.data(0, ID_ROLE) == ann_id:
                return it
        return None

    # ------------------------------------------------------------------ selection sync
    def _select_row(self, ann_id: str | None) -> None:
        with QSignalBlocker(self.tree):
            self.tree.clearSelection()
            row = self.row_for(ann_id) if ann_id else None
            if row is not None:
                row.setSelected(True)
                self.tree.setCurrentItem(row)
                self.tree.scrollToItem(row)

    def _on_editor_selection(self, ann_id: object) -> None:
        self._select_row(ann_id if isinstance(ann_id, str) else None)
        self.relabel_button.setEnabled(ann_id is not None)
        ann = self.editor.selected
        if ann is not None:
            self.label_box.setEditText(ann.label)  # the code, as stored (the list spells it out)

    def _on_row_selected(self) -> None:
        rows = self.tree.selectedItems()
        ann_id = rows[0].data(0, ID_ROLE) if rows else None
        if ann_id != self.editor.selected_id:
            self.editor.select(ann_id)

    # ------------------------------------------------------------------ relabel
    def label_code(self, text: str) -> str:
        """The label for what the box shows: a class's code for its listed name, else the text."""
        text = text.strip()
        i = self.label_box.findText(text, Qt.MatchFlag.MatchFixedString)  # case-insensitive
        return str(self.label_box.itemData(i)) if i >= 0 and text else text

    def apply_label(self) -> bool:
        """Relabel the selected annotation with the label box text (or set the default label)."""
        text = self.label_code(self.label_box.currentText())
        if self.editor.selected_id is None:
            self.editor.default_label = text
            if text:
                self.editor.message.emit(f"New shapes will be labelled {text!r}.")
            return False
        if not text:
            self.editor.message.emit("Type or choose a label first.")
            return False
        return self.editor.relabel_selected(text)
