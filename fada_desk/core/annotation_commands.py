"""Undoable edits of annotations: add, delete, move, reshape, add/remove points, relabel, tag, review.

Snapshot commands (see :mod:`fada_desk.core.commands`): each keeps the affected
annotations before and after the edit. Constructors validate and raise
:class:`~fada_desk.core.review_types.AnnotationError` before anything changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any, TypeVar

from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.commands import AuditAction, Command
from fada_desk.core.points import Keypoint, Point, finite_number
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import STATUS_VERBS, AnnotationError, Provenance, ReviewStatus

A = TypeVar("A", bound=Annotation)

#: Kinds whose vertices can be moved one at a time (the index addresses ``vertices()``).
VERTEX_KINDS = ("polygon", "keypoints", "caliper")


def vertices(ann: Annotation) -> list[Point]:
    """Individually editable vertices of a polygon, keypoint set or caliper."""
    if isinstance(ann, (Polygon, Keypoints, Caliper)):
        return ann.control_points()
    raise AnnotationError(f"A {ann.kind} has no individually editable vertices.")


def with_vertex(ann: A, index: int, x: float, y: float) -> A:
    """Copy of ``ann`` with vertex ``index`` moved to (x, y) (as an edit)."""
    n = len(vertices(ann))
    if not 0 <= index < n:
        raise AnnotationError(f"Vertex {index} does not exist (the {ann.kind} has {n}).")
    x, y = finite_number(x, "x"), finite_number(y, "y")
    if isinstance(ann, Polygon):
        pts = list(ann.points)
        pts[index] = (x, y)
        return ann.edited(points=tuple(pts))  # type: ignore[return-value]
    if isinstance(ann, Keypoints):
        kps = list(ann.points)
        kps[index] = replace(kps[index], x=x, y=y)
        return ann.edited(points=tuple(kps))  # type: ignore[return-value]
    assert isinstance(ann, Caliper)
    return ann.edited(**{"p1" if index == 0 else "p2": (x, y)})  # type: ignore[return-value]


class AddAnnotation(Command):
    def __init__(self, doc: AnnotationSet, annotation: Annotation, text: str = "") -> None:
        if annotation.id in doc:
            raise AnnotationError(f"An annotation with id {annotation.id!r} already exists.")
        super().__init__(text or f"Add {annotation.kind} {annotation.label}".strip())
        self.annotation = annotation

    def redo(self, doc: AnnotationSet) -> None:
        doc.insert(self.annotation)

    def undo(self, doc: AnnotationSet) -> None:
        doc.remove_many([self.annotation.id])

    def audit(self) -> list[AuditAction]:
        return [AuditAction("annotation.add", self.annotation.id, None, self.annotation.to_dict())]


class DeleteAnnotations(Command):
    def __init__(self, doc: AnnotationSet, ids: Sequence[str], text: str = "") -> None:
        ids = list(dict.fromkeys(ids))
        if not ids:
            raise AnnotationError("Nothing to delete.")
        self.snapshot = sorted(((doc.index_of(i), doc.get(i)) for i in ids), key=lambda t: t[0])
        super().__init__(text or ("Delete annotation" if len(ids) == 1 else f"Delete {len(ids)} annotations"))

    def redo(self, doc: AnnotationSet) -> None:
        doc.remove_many([a.id for _, a in self.snapshot])

    def undo(self, doc: AnnotationSet) -> None:
        doc.insert_many([a for _, a in self.snapshot], [i for i, _ in self.snapshot])

    def audit(self) -> list[AuditAction]:
        return [AuditAction("annotation.delete", a.id, a.to_dict(), None) for _, a in self.snapshot]


def reviewed_by_edit(before: Annotation, after: Annotation) -> Annotation:
    """A human edit is a review: a *pending* AI annotation whose label or geometry the
    sonographer changed is accepted (as "AI, edited"). An edit that ends exactly where it
    started (a drag back to the start) reviews nothing and leaves it pending. Rejected and
    accepted annotations keep their status; manual ones are not AI proposals."""
    if before.provenance is Provenance.MANUAL or before.status is not ReviewStatus.PENDING:
        return after
    changed = after.original_snapshot() != before.original_snapshot()
    status = ReviewStatus.ACCEPTED if changed else ReviewStatus.PENDING
    return after if after.status is status else replace(after, status=status)


class ReplaceAnnotations(Command):
    """Generic snapshot edit of existing annotations (base of most edit commands).

    ``gesture``: an opaque token (e.g. one per mouse drag); consecutive commands
    of the same class, on the same ids, with the same non-None gesture merge.
    ``content_edit``: the command changes label or geometry, so it is also the review
    of a pending AI annotation (:func:`reviewed_by_edit`, judged against the state
    before the whole gesture; undo restores both).
    """

    action = "annotation.edit"
    content_edit = True

    def __init__(
        self,
        doc: AnnotationSet,
        after: Sequence[Annotation],
        text: str,
        gesture: object | None = None,
        detail: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(text)
        if not after:
            raise AnnotationError("Nothing to change.")
        self.before = tuple(doc.get(a.id) for a in after)
        self.after = self._reviewed(tuple(after))
        self.gesture = gesture
        self.detail = detail

    def _reviewed(self, after: tuple[Annotation, ...]) -> tuple[Annotation, ...]:
        if not self.content_edit:
            return after
        return tuple(reviewed_by_edit(b, a) for b, a in zip(self.before, after))

    def redo(self, doc: AnnotationSet) -> None:
        doc.replace_many(self.after)

    def undo(self, doc: AnnotationSet) -> None:
        doc.replace_many(self.before)

    def _merge_key(self) -> tuple[Any, ...] | None:
        if self.gesture is None:
            return None
        return (type(self), self.gesture, tuple(a.id for a in self.after), self.detail)

    def merge_with(self, other: Command) -> bool:
        if not isinstance(other, ReplaceAnnotations):
            return False
        key = self._merge_key()
        if key is None or key != other._merge_key():
            return False
        self.after = self._reviewed(other.after)
        self._reapply = self.after != other.after
        return True

    def after_merge(self, doc: AnnotationSet) -> None:
        if getattr(self, "_reapply", False):
            doc.replace_many(self.after)
            self._reapply = False

    def is_obsolete(self) -> bool:
        return self.before == self.after

    def audit(self) -> list[AuditAction]:
        return [
            AuditAction(self.action, b.id, b.to_dict(), a.to_dict())
            for b, a in zip(self.before, self.after)
            if a != b
        ]


class MoveAnnotation(ReplaceAnnotations):
    merge_id = 1
    action = "annotation.move"

    def __init__(
        self, doc: AnnotationSet, ann_id: str, dx: float, dy: float, gesture: object | None = None
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(doc, [ann.translated(dx, dy)], f"Move {ann.label or ann.kind}", gesture)


class SetGeometry(ReplaceAnnotations):
    """Replace an annotation's geometry (resize a box, reshape an ellipse...)."""

    merge_id = 2
    action = "annotation.geometry"

    def __init__(
        self,
        doc: AnnotationSet,
        ann_id: str,
        geometry: dict[str, Any],
        gesture: object | None = None,
        text: str = "",
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc,
            [ann.with_geometry({**ann.geometry(), **geometry})],
            text or f"Reshape {ann.label or ann.kind}",
            gesture,
        )


class ResizeBox(SetGeometry):
    merge_id = 3

    def __init__(
        self,
        doc: AnnotationSet,
        ann_id: str,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        gesture: object | None = None,
    ) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Box):
            raise AnnotationError(f"Only boxes can be resized this way, not a {ann.kind}.")
        super().__init__(
            doc, ann_id, {"x0": x0, "y0": y0, "x1": x1, "y1": y1}, gesture, f"Resize {ann.label or 'box'}"
        )


class EditEllipse(SetGeometry):
    merge_id = 4

    def __init__(
        self, doc: AnnotationSet, ann_id: str, gesture: object | None = None, **params: float
    ) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Ellipse):
            raise AnnotationError(f"Not an ellipse: {ann.kind}.")
        unknown = set(params) - set(Ellipse.geometry_fields)
        if unknown:
            raise AnnotationError(f"Unknown ellipse parameter(s): {', '.join(sorted(unknown))}.")
        super().__init__(doc, ann_id, params, gesture, f"Reshape {ann.label or 'ellipse'}")


class MoveVertex(ReplaceAnnotations):
    merge_id = 5
    action = "annotation.vertex.move"

    def __init__(
        self, doc: AnnotationSet, ann_id: str, index: int, x: float, y: float, gesture: object | None = None
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc, [with_vertex(ann, index, x, y)], f"Move point of {ann.label or ann.kind}", gesture, (index,)
        )


class InsertVertex(ReplaceAnnotations):
    """Insert a polygon vertex *before* position ``index`` (``index == len`` appends)."""

    action = "annotation.vertex.insert"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int, x: float, y: float) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Polygon):
            raise AnnotationError(f"Vertices can be inserted into polygons only, not a {ann.kind}.")
        if not 0 <= index <= len(ann.points):
            raise AnnotationError(f"Cannot insert at {index}: the polygon has {len(ann.points)} vertices.")
        pts = list(ann.points)
        pts.insert(index, (x, y))
        super().__init__(doc, [ann.edited(points=tuple(pts))], f"Add point to {ann.label or 'polygon'}")


class DeleteVertex(ReplaceAnnotations):
    action = "annotation.vertex.delete"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Polygon):
            raise AnnotationError(f"Vertices can be deleted from polygons only, not a {ann.kind}.")
        n = len(vertices(ann))
        if not 0 <= index < n:
            raise AnnotationError(f"Vertex {index} does not exist (the polygon has {n}).")
        if n <= 3:
            raise AnnotationError("A polygon needs at least 3 vertices; delete the polygon instead.")
        pts = list(ann.points)
        del pts[index]
        super().__init__(doc, [ann.edited(points=tuple(pts))], f"Remove point from {ann.label or 'polygon'}")


class AddKeypoint(ReplaceAnnotations):
    """Insert a landmark into a keypoint set *before* position ``index`` (``index == len`` appends)."""

    action = "annotation.keypoint.add"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int, x: float, y: float,
                 visibility: int = 2, name: str = "") -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Keypoints):
            raise AnnotationError(f"Points can be added to keypoint sets only, not a {ann.kind}.")
        if not 0 <= index <= len(ann.points):
            raise AnnotationError(f"Cannot add a point at {index}: the set has {len(ann.points)} points.")
        point = Keypoint(finite_number(x, "x"), finite_number(y, "y"), visibility, name)
        pts = list(ann.points)
        pts.insert(index, point)
        super().__init__(doc, [ann.edited(points=tuple(pts))], f"Add point to {ann.label or 'keypoints'}")


class DeleteKeypoint(ReplaceAnnotations):
    """Remove landmark ``index`` of a keypoint set (the last one cannot go: delete the set)."""

    action = "annotation.keypoint.delete"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Keypoints):
            raise AnnotationError(f"Points can be removed from keypoint sets only, not a {ann.kind}.")
        n = len(ann.points)
        if not 0 <= index < n:
            raise AnnotationError(f"Point {index} does not exist (the set has {n}).")
        if n <= 1:
            raise AnnotationError("A keypoint set needs at least 1 point; delete the annotation instead.")
        pts = list(ann.points)
        del pts[index]
        super().__init__(doc, [ann.edited(points=tuple(pts))],
                         f"Remove point from {ann.label or 'keypoints'}")


class Relabel(ReplaceAnnotations):
    action = "annotation.relabel"

    def __init__(self, doc: AnnotationSet, ann_id: str, label: str) -> None:
        ann = doc.get(ann_id)
        if not isinstance(label, str) or not label.strip():
            raise AnnotationError("A label cannot be empty.")
        super().__init__(
            doc, [ann.edited(label=label)], f"Relabel {ann.label or ann.kind} as {label.strip()}"
        )


class SetMeasure(ReplaceAnnotations):
    """Tag an annotation as a biometry measurement (BPD, HC, ...) or untag it (None)."""

    action = "annotation.measure"
    content_edit = False

    def __init__(self, doc: AnnotationSet, ann_id: str, measure: str | None) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc,
            [ann.edited(measure=measure)],
            f"Use {ann.label or ann.kind} as {measure or 'no'} measurement",
        )


class SetStatus(ReplaceAnnotations):
    action = "annotation.status"
    content_edit = False

    def __init__(
        self, doc: AnnotationSet, ids: Sequence[str], status: ReviewStatus | str, text: str = ""
    ) -> None:
        st = ReviewStatus(status)
        anns = [doc.get(i) for i in dict.fromkeys(ids)]
        verb = STATUS_VERBS[st]
        super().__init__(
            doc,
            [a.edited(status=st) for a in anns],
            text
            or (
                f"{verb} {anns[0].label or anns[0].kind}"
                if len(anns) == 1
                else f"{verb} {len(anns)} annotations"
            ),
        )
