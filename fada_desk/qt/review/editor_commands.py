"""The annotation editor's commands: what accept, reject, delete, add a point... do.

:class:`EditorCommands` is a part of :class:`~fada_desk.qt.review.editor.AnnotationEditor`
(its review actions call these methods): each builds an undoable command of
:mod:`fada_desk.core.annotation_commands` for the selection and runs it through the
editor's :class:`~fada_desk.qt.review.undo.UndoAdapter` (a refused edit is reported
once through its ``error`` signal and changes nothing). Polygons lose and gain
vertices, keypoint sets landmarks (never below 3 vertices / 1 landmark).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fada_desk.app.annotation_edits import add_keypoint
from fada_desk.core.annotation_commands import (
    DeleteAnnotations,
    DeleteKeypoint,
    DeleteVertex,
    InsertVertex,
    Relabel,
    SetMeasure,
    SetStatus,
)
from fada_desk.core.annotations import Annotation, Keypoints, Polygon
from fada_desk.core.interpretation_commands import AcceptAll
from fada_desk.core.review_types import ReviewStatus


class EditorCommands:
    """The commands of an annotation editor (mixed into :class:`AnnotationEditor`)."""

    if TYPE_CHECKING:  # provided by the editor
        undo: Any
        doc: Any
        frame: Any
        image_size: tuple[int, int] | None
        selected: Annotation | None
        selected_id: str | None
        selected_vertex: int | None
        message: Any
        layer: Any

        def select(self, ann_id: str | None, vertex: int | None = None) -> None: ...

        def cancel_tool(self) -> None: ...

        def _shown(self, ann: Annotation) -> bool: ...

    def _insert_vertex(self, roi: Any, index: int, x: float, y: float) -> None:
        if self.undo.run(lambda: InsertVertex(self.doc, roi.ann_id, index, x, y)):
            self.select(roi.ann_id, index)

    def _need_selection(self) -> Annotation | None:
        ann = self.selected
        if ann is None:
            self.message.emit("Select an annotation first (click it).")
        return ann

    def accept_selected(self) -> bool:
        ann = self._need_selection()
        return ann is not None and self.undo.run(lambda: SetStatus(self.doc, [ann.id], ReviewStatus.ACCEPTED))

    def reject_selected(self) -> bool:
        ann = self._need_selection()
        return ann is not None and self.undo.run(lambda: SetStatus(self.doc, [ann.id], ReviewStatus.REJECTED))

    def accept_all(self) -> bool:
        """Accept every pending AI annotation and interpretation value of the shown frame."""
        if self.frame is None:
            return False
        frame = self.frame
        if any(not self._shown(a) for a in self.doc.pending(frame)):
            self.message.emit("Show all AI runs first: a hidden run would be accepted unseen.")
            return False
        return self.undo.run(lambda: AcceptAll(self.doc, frame))

    def delete_selected(self) -> bool:
        """Delete the selected polygon vertex / keypoint if one is selected, else the annotation."""
        ann = self._need_selection()
        if ann is None:
            return False
        if self.selected_vertex is not None and isinstance(ann, (Polygon, Keypoints)):
            return self.delete_vertex(ann.id, self.selected_vertex)
        return self.undo.run(lambda: DeleteAnnotations(self.doc, [ann.id]))

    def delete_vertex(self, ann_id: str, index: int) -> bool:
        """Remove vertex ``index`` of a polygon or landmark ``index`` of a keypoint set."""
        command = DeleteKeypoint if isinstance(self.doc.get(ann_id), Keypoints) else DeleteVertex
        ok = self.undo.run(lambda: command(self.doc, ann_id, index))
        if ok:
            self.select(ann_id, None)
        return ok

    def add_keypoint(self, ann_id: str, x: float, y: float) -> bool:
        """Add a landmark at image pixel (x, y) to keypoint set ``ann_id`` and select it."""
        made: list[int] = []

        def make() -> Any:
            cmd, index = add_keypoint(self.doc, self.doc.get(ann_id), x, y, self.image_size)
            made.append(index)
            return cmd

        if not self.undo.run(make):
            return False
        self.select(ann_id, made[0])
        return True

    def escape(self) -> bool:
        """Esc: stop the drawing tool, else clear the selection; False when there was neither."""
        if self.layer.active:
            self.cancel_tool()
            self.message.emit("Drawing cancelled.")
            return True
        if self.selected_id is not None:
            self.select(None)
            return True
        return False

    def relabel_selected(self, label: str) -> bool:
        ann = self._need_selection()
        if ann is None or label.strip() == ann.label:
            return False
        return self.undo.run(lambda: Relabel(self.doc, ann.id, label))

    def set_measure_selected(self, measure: str | None) -> bool:
        ann = self._need_selection()
        if ann is None or ann.measure == measure:
            return False
        return self.undo.run(lambda: SetMeasure(self.doc, ann.id, measure))
