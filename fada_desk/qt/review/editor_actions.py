"""The annotation editor's actions, keys and context menu.

:func:`build_actions` gives an :class:`~fada_desk.qt.review.editor.AnnotationEditor`
its ``QAction`` s (menus, toolbars and shortcuts on the host widget: Del, A, R,
Ctrl+Shift+A, undo / redo, B / P / E / C for the tools) and
:func:`update_actions` enables them for the editor's state. :class:`EditorKeys`
is the key filter on the view: Esc / Enter / Backspace while drawing, and Esc
to clear the selection, take precedence over window shortcuts (e.g. the main
window's Esc "back to live"). :func:`context_menu` is the right-click menu of
the selected annotation.
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


def build_actions(editor: Any, host: QWidget) -> None:
    """Create the editor's actions (``editor.act_*``, ``editor.tool_actions``) on ``host``."""

    def act(text: str, slot: Callable[[], Any], keys: list[QKeySequence | str], name: str) -> QAction:
        a = QAction(text, editor)
        a.setObjectName(name)
        a.setShortcuts([QKeySequence(k) for k in keys])
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        a.setToolTip(f"{text} ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})")
        a.triggered.connect(lambda _c=False: slot())
        host.addAction(a)
        return a

    editor.act_delete = act("Delete", editor.delete_selected, ["Delete", "Backspace"], "reviewDelete")
    editor.act_accept = act("Accept", editor.accept_selected, ["A"], "reviewAccept")
    editor.act_reject = act("Reject", editor.reject_selected, ["R"], "reviewReject")
    editor.act_accept_all = act("Accept all on this frame", editor.accept_all, ["Ctrl+Shift+A"],
                                "reviewAcceptAll")
    editor.act_undo = editor.undo.create_undo_action(editor)
    editor.act_redo = editor.undo.create_redo_action(editor)
    for a in (editor.act_undo, editor.act_redo):
        a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        host.addAction(a)
    editor.tool_group = QActionGroup(editor)
    editor.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
    editor.tool_actions = {}
    for tool in TOOLS:
        a = act(f"{TOOL_TITLES[tool]} tool", lambda t=tool: editor.toggle_tool(t), [TOOL_KEYS[tool]],
                f"reviewTool_{tool}")
        a.setCheckable(True)
        editor.tool_group.addAction(a)
        editor.tool_actions[tool] = a
    editor.act_cancel = QAction("Cancel tool", editor)  # Esc is handled by the key filter (EditorKeys)
    editor.act_cancel.setObjectName("reviewCancelTool")
    editor.act_cancel.triggered.connect(lambda _c=False: editor.cancel_tool())


def all_actions(editor: Any) -> list[QAction]:
    return [editor.act_accept, editor.act_reject, editor.act_accept_all, editor.act_delete, editor.act_undo,
            editor.act_redo, *editor.tool_actions.values(), editor.act_cancel]


def update_actions(editor: Any) -> None:
    """Enable what applies to the selection, the frame shown and the tool in use."""
    sel = editor.selected
    for a in (editor.act_accept, editor.act_reject, editor.act_delete):
        a.setEnabled(sel is not None)
    editor.act_accept_all.setEnabled(editor.frame is not None)
    for tool, a in editor.tool_actions.items():
        a.setEnabled(editor.frame is not None)
        a.setChecked(editor.layer.tool == tool)
    editor.act_cancel.setEnabled(editor.layer.active)


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
            if layer.active:
                ed.cancel_tool()
                ed.message.emit("Drawing cancelled.")
            else:
                ed.select(None)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not layer.finish_polygon():
                ed.message.emit("A polygon needs at least 3 points.")
        elif key == Qt.Key.Key_Backspace:
            layer.remove_last_point()
        return True


def context_menu(editor: Any, screen_pos: QPointF | None = None) -> QMenu | None:
    """Accept / reject / delete / measure-as menu for the selected annotation (None: nothing selected)."""
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
