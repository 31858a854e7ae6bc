"""The annotation editor's drawing tools: start, toggle, cancel a tool and add what it drew.

:class:`EditorTools` is a part of :class:`~fada_desk.qt.review.editor.AnnotationEditor`
(like :class:`~fada_desk.qt.review.editor_commands.EditorCommands`): the tool layer
(:mod:`fada_desk.qt.review.tools`) collects the clicks of a box, polygon, ellipse or
caliper; the finished shape becomes one undoable :class:`AddAnnotation`, named by the
measurement or label preset when the tool was started.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt

from fada_desk.app.annotation_edits import TOOL_HINTS, TOOL_TITLES, drawn_annotation
from fada_desk.core.annotation_commands import AddAnnotation
from fada_desk.core.annotations import MEASURES
from fada_desk.core.review_types import AnnotationError


class EditorTools:
    """Drawing-tool methods of the annotation editor (uses its layer, view, undo and signals)."""

    layer: Any
    graphics: Any
    frame: Any
    undo: Any
    doc: Any
    default_label: str
    _tool_preset: tuple[str | None, str]
    message: Any
    toolChanged: Any  # noqa: N815 - Qt signal of the editor
    created: Any

    @property
    def tool(self) -> str:
        return self.layer.tool

    def set_tool(self, tool: str, measure: str | None = None, label: str = "") -> bool:
        """Start drawing a new ``tool`` shape ("" stops). ``measure`` tags what is drawn
        (e.g. caliper as BPD), ``label`` names it (default: the measure or :attr:`default_label`)."""
        if not tool:
            self.cancel_tool()
            return True
        if self.frame is None:
            self.message.emit("Show a captured frame to draw on it.")
            self._update_actions()
            return False
        if measure is not None and measure not in MEASURES:
            raise ValueError(f"unknown measurement {measure!r}")
        self._tool_preset = (measure, label)
        self.select(None)
        self.layer.start(tool)
        self.graphics.setCursor(Qt.CursorShape.CrossCursor)
        self.graphics.setFocus()
        self._update_actions()
        self.toolChanged.emit(tool)
        self.message.emit(f"{TOOL_TITLES[tool]}: {TOOL_HINTS[tool]}. Esc cancels.")
        return True

    def toggle_tool(self, tool: str) -> None:
        if self.layer.tool == tool:
            self.cancel_tool()
        else:
            self.set_tool(tool)

    def cancel_tool(self) -> None:
        was = self.layer.active
        self.layer.stop()
        self._tool_preset = (None, "")
        self.graphics.unsetCursor()
        self._update_actions()
        if was:
            self.toolChanged.emit("")

    def _on_tool_done(self, kind: str, geom: dict[str, Any]) -> None:
        if self.frame is None:
            return
        measure, label = self._tool_preset
        try:
            label = label or measure or self.default_label.strip()
            ann = drawn_annotation(kind, geom, self.frame, label, measure)
        except AnnotationError as err:
            self.message.emit(str(err))
            return
        self.cancel_tool()
        if self.undo.run(lambda: AddAnnotation(self.doc, ann)):
            self.select(ann.id)
            self.created.emit(ann.id)
