"""The annotation editor's actions, keys and context menu.

:class:`ReviewActions` is the set of review ``QAction`` s (Accept A, Reject R,
Accept all Ctrl+Shift+A, Delete Del/Backspace, Undo / Redo, the B / P / E / C
drawing tools), bound to whichever :class:`~fada_desk.qt.review.editor.AnnotationEditor`
is in use (none: all disabled). The main window owns one set for its whole life
(the review dock binds each exam's editor to it), so its menus, its shortcut
sheet and its shortcuts are the same whether or not an exam is open. Shortcuts
have the *window* context: they fire wherever the focus is in the window (the
strip, a panel, a button), never only when the image has it; text fields keep
their typing keys (Qt lets a focused line edit take letters, Delete and Undo first).

:class:`EditorKeys` is the key filter on the view: Esc / Enter / Backspace
while drawing, and Esc to clear the selection, take precedence over window
shortcuts (e.g. the main window's Esc "back to live"). :func:`context_menu` is
the right-click menu of the selected annotation.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QActionGroup, QCursor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from fada_desk.app.annotation_edits import TOOL_KEYS, TOOL_TITLES
from fada_desk.core.annotations import MEASURES
from fada_desk.qt.review.tools import TOOLS
from fada_desk.qt.review.undo import REDO_KEYS, UNDO_KEYS

Keys = list[QKeySequence.StandardKey | str]


class ReviewActions(QObject):
    """The review actions of one window (or standalone view), bound to the editor in use."""

    def __init__(self, host: QWidget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.host = host
        self.editor: Any = None
        self.accept = self._act("Accept", ["A"], "reviewAccept", "Accept the selected AI item",
                                lambda ed: ed.accept_selected())
        self.reject = self._act("Reject", ["R"], "reviewReject", "Reject the selected AI item",
                                lambda ed: ed.reject_selected())
        self.accept_all = self._act("Accept all on this frame", ["Ctrl+Shift+A"], "reviewAcceptAll",
                                    "Accept every pending AI item and value of the frame shown",
                                    lambda ed: ed.accept_all())
        self.delete = self._act("Delete", ["Delete", "Backspace"], "reviewDelete",
                                "Delete the selected annotation (or its selected point)",
                                lambda ed: ed.delete_selected())
        self.undo = self._act("Undo", UNDO_KEYS, "reviewUndo", "Undo the last review edit",
                              lambda ed: ed.undo.undo())
        self.redo = self._act("Redo", REDO_KEYS, "reviewRedo", "Redo the review edit undone",
                              lambda ed: ed.undo.redo())
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tools: dict[str, QAction] = {}
        for tool in TOOLS:
            a = self._act(f"{TOOL_TITLES[tool]} tool", [TOOL_KEYS[tool]], f"reviewTool_{tool}",
                          f"Draw a {TOOL_TITLES[tool].lower()} (press again to stop)",
                          lambda ed, t=tool: ed.toggle_tool(t))
            a.setCheckable(True)
            self.tool_group.addAction(a)
            self.tools[tool] = a
        # Esc is the key filter's (EditorKeys) and the main window's: no shortcut of its own
        self.cancel = self._act("Cancel tool", [], "reviewCancelTool", "Stop drawing (Esc)",
                                lambda ed: ed.cancel_tool())
        self.update()

    def _act(self, text: str, keys: Keys, name: str, tip: str, slot: Callable[[Any], Any]) -> QAction:
        a = QAction(text, self)
        a.setObjectName(name)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        if keys:
            key = QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)
            a.setToolTip(f"{text} ({key})")
        a.setStatusTip(tip)
        a.triggered.connect(lambda _c=False: self._call(slot))
        self.host.addAction(a)
        return a

    def _call(self, slot: Callable[[Any], Any]) -> None:
        if self.editor is not None:
            slot(self.editor)

    def actions(self) -> list[QAction]:
        return [self.accept, self.reject, self.accept_all, self.delete, self.undo, self.redo,
                *self.tools.values(), self.cancel]

    def bind(self, editor: Any) -> None:
        """Act on ``editor`` from now on (None: nothing to act on, every action disabled)."""
        self.editor = editor
        self.update()

    def remove_from_host(self) -> None:
        for a in self.actions():
            self.host.removeAction(a)

    def update(self) -> None:
        """Enable what applies to the editor's selection, frame and tool."""
        ed = self.editor
        sel = ed.selected if ed is not None else None
        frame = ed is not None and ed.frame is not None
        for a in (self.accept, self.reject, self.delete):
            a.setEnabled(sel is not None)
        self.accept_all.setEnabled(frame)
        for tool, a in self.tools.items():
            a.setEnabled(frame)
            a.setChecked(ed is not None and ed.layer.tool == tool)
        self.cancel.setEnabled(ed is not None and ed.layer.active)
        undo, redo = (ed.undo.undo_state(), ed.undo.redo_state()) if ed else ((False, "Undo"), (False, "Redo"))
        for a, (enabled, text) in ((self.undo, undo), (self.redo, redo)):
            a.setEnabled(enabled)
            a.setText(text)


class EditorKeys(QObject):
    """Key filter on the editor's view (see the module docstring)."""

    def __init__(self, editor: Any) -> None:
        super().__init__(editor)
        self.editor = editor

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        et = event.type()
        if et not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if event.modifiers() not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            return False
        ed, layer = self.editor, self.editor.layer
        drawing_poly = layer.tool == "polygon"
        mine = (
            (key == Qt.Key.Key_Escape and (layer.active or ed.selected_id is not None))
            or (key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and drawing_poly)
            or (key == Qt.Key.Key_Backspace and layer.active)
        )
        if not mine:
            return False
        if et == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if key == Qt.Key.Key_Escape:
            ed.escape()
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not layer.finish_polygon():
                ed.message.emit("A polygon needs at least 3 points.")
        elif key == Qt.Key.Key_Backspace:
            layer.remove_last_point()
        return True


def context_menu(editor: Any, screen_pos: QPointF | None = None,
                 image_pos: tuple[float, float] | None = None) -> QMenu | None:
    """Accept / reject / delete / measure-as menu for the selected annotation (None: nothing
    selected); "Add point here" on a keypoint set when ``image_pos`` (where it was clicked) is known."""
    ann = editor.selected
    if ann is None:
        return None
    if editor.context_menu is not None:
        editor.context_menu.close()
        editor.context_menu.deleteLater()
    menu = QMenu(editor.graphics)
    menu.setObjectName("reviewContextMenu")
    menu.addAction(editor.act_accept)
    menu.addAction(editor.act_reject)
    menu.addAction(editor.act_delete)
    if ann.kind == "keypoints" and image_pos is not None:
        add = menu.addAction("Add point here")
        add.setObjectName("reviewAddPoint")
        add.triggered.connect(lambda _c=False, a=ann.id, p=image_pos: editor.add_keypoint(a, *p))
    if ann.kind in ("caliper", "ellipse", "polygon", "keypoints"):
        sub = menu.addMenu("Measure as")
        none = sub.addAction("(not a measurement)")
        none.triggered.connect(lambda _c=False: editor.set_measure_selected(None))
        for m in MEASURES:
            a = sub.addAction(m)
            a.setCheckable(True)
            a.setChecked(ann.measure == m)
            a.triggered.connect(lambda _c=False, m=m: editor.set_measure_selected(m))
    editor.context_menu = menu
    pos = QCursor.pos() if screen_pos is None else QPoint(int(screen_pos.x()), int(screen_pos.y()))
    menu.popup(pos)
    return menu
