"""What the review editor's gestures on the image do to the review document, without Qt.

The Qt editor (:class:`fada_desk.qt.review.editor.AnnotationEditor`) turns mouse
gestures into the geometry of a shape; this module decides what that means:

* a drag (:func:`drag_step`): moving a whole shape (kept on the image), resizing
  a box, reshaping an ellipse, or moving one vertex / caliper end; each step is
  an undoable command of :mod:`fada_desk.core.annotation_commands`, all steps of
  one gesture carry its token so the undo stack merges them into one step;
* a finished drawing (:func:`drawn_annotation`): the new manual annotation of a
  box, ellipse, caliper or polygon, labelled and tagged with its measurement;
* a point added to a keypoint set (:func:`add_keypoint`): where in the ordered
  landmarks it goes (:func:`keypoint_insert_index`), as an undoable command.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fada_desk.core.annotation_commands import AddKeypoint, EditEllipse, MoveAnnotation, MoveVertex, ResizeBox
from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.commands import Command
from fada_desk.core.review_types import FrameRef, Provenance

#: The drawing tools: keyboard shortcut, title, what to do.
TOOL_KEYS = {"box": "B", "polygon": "P", "ellipse": "E", "caliper": "C"}
TOOL_TITLES = {"box": "Box", "polygon": "Polygon", "ellipse": "Ellipse", "caliper": "Caliper"}
TOOL_HINTS = {"box": "drag a rectangle", "ellipse": "drag the ellipse's bounding box",
              "caliper": "drag (or click) from one end to the other",
              "polygon": "click each point; double-click or Enter to close"}

Size = tuple[int, int]


def anchor(geom: Mapping[str, Any]) -> tuple[float, float]:
    """A point that moves with the whole shape (to turn a body drag into dx, dy)."""
    if "x0" in geom:
        return (float(geom["x0"]), float(geom["y0"]))
    if "cx" in geom:
        return (float(geom["cx"]), float(geom["cy"]))
    if "p1" in geom:
        return (float(geom["p1"][0]), float(geom["p1"][1]))
    p = geom["points"][0]
    return (float(p[0]), float(p[1]))


def clamp_point(size: Size | None, x: float, y: float) -> tuple[float, float]:
    """Keep a dragged point on the image (measurements outside it mean nothing)."""
    if size is None:
        return (x, y)
    w, h = size
    return (min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h)))


def clamp_delta(size: Size | None, ann: Annotation, dx: float, dy: float) -> tuple[float, float]:
    """Limit a move so a shape that fits on the image stays on it."""
    if size is None:
        return (dx, dy)
    w, h = size
    x0, y0, x1, y1 = ann.bounds()
    if x1 - x0 <= w:
        dx = min(max(dx, -x0), w - x1)
    if y1 - y0 <= h:
        dy = min(max(dy, -y0), h - y1)
    return (dx, dy)


@dataclass(frozen=True)
class DragStep:
    """What one step of a drag does: ``command`` (None: nothing), the ``vertex`` it moves,
    ``held``: the shape is held at the image border (redraw it where it is)."""

    command: Callable[[], Command] | None = None
    vertex: int | None = None
    held: bool = False


def drag_step(doc: Any, ann: Annotation, geom: Mapping[str, Any], moving: bool, handle: int | None,
              size: Size | None, gesture: object) -> DragStep:
    """The command for ``ann`` dragged to ``geom`` (its shape's new geometry).

    ``moving``: the whole shape is dragged; else ``handle`` is the handle dragged (None:
    found from the one control point that changed).
    """
    if moving:
        (x, y), (x0, y0) = anchor(geom), anchor(ann.geometry())
        dx, dy = clamp_delta(size, ann, x - x0, y - y0)
        if abs(dx) < 1e-9 and abs(dy) < 1e-9:
            return DragStep(held=True)
        return DragStep(lambda: MoveAnnotation(doc, ann.id, dx, dy, gesture=gesture))
    if isinstance(ann, Box):
        x0, y0 = clamp_point(size, geom["x0"], geom["y0"])
        x1, y1 = clamp_point(size, geom["x1"], geom["y1"])
        return DragStep(lambda: ResizeBox(doc, ann.id, x0, y0, x1, y1, gesture=gesture))
    if isinstance(ann, Ellipse):
        return DragStep(lambda: EditEllipse(doc, ann.id, gesture=gesture, **geom))
    pts = [tuple(p[:2]) for p in geom["points"]] if "points" in geom else [geom["p1"], geom["p2"]]
    index = handle
    if index is None:
        old = ann.control_points()
        changed = [i for i, (a, b) in enumerate(zip(pts, old)) if abs(a[0] - b[0]) + abs(a[1] - b[1]) > 1e-9]
        if len(changed) != 1 or len(pts) != len(old):
            return DragStep()
        index = changed[0]
    x, y = clamp_point(size, *pts[index])
    return DragStep(lambda: MoveVertex(doc, ann.id, index, x, y, gesture=gesture), vertex=index)


def drawn_annotation(kind: str, geom: Mapping[str, Any], frame: FrameRef, label: str,
                     measure: str | None) -> Annotation:
    """The manual annotation a finished drawing of ``kind`` makes (AnnotationError if invalid)."""
    common = {"frame": frame, "label": label, "provenance": Provenance.MANUAL, "measure": measure}
    if kind == "box":
        return Box(**common, **geom)
    if kind == "ellipse":
        return Ellipse(**common, **geom)
    if kind == "caliper":
        return Caliper(**common, p1=tuple(geom["p1"]), p2=tuple(geom["p2"]))
    return Polygon(**common, points=tuple(tuple(p) for p in geom["points"]))


def keypoint_insert_index(points: Sequence[tuple[float, float]], x: float, y: float) -> int:
    """Where a new landmark at (x, y) goes in an ordered, open line of ``points``: the place
    that lengthens the line least (between two neighbours when it lies between them, else
    before the first or after the last point)."""
    if not points:
        return 0
    p = (x, y)
    best, best_cost = len(points), math.dist(points[-1], p)
    if math.dist(points[0], p) < best_cost:
        best, best_cost = 0, math.dist(points[0], p)
    for i in range(1, len(points)):
        a, b = points[i - 1], points[i]
        cost = math.dist(a, p) + math.dist(p, b) - math.dist(a, b)
        if cost < best_cost - 1e-9:
            best, best_cost = i, cost
    return best


def add_keypoint(doc: Any, ann: Annotation, x: float, y: float, size: Size | None) -> tuple[Command, int]:
    """The command adding a landmark at (x, y) (kept on the image) to keypoint set ``ann``,
    and the index the new point gets (AnnotationError from the command when refused)."""
    x, y = clamp_point(size, x, y)
    index = keypoint_insert_index(ann.control_points(), x, y) if isinstance(ann, Keypoints) else 0
    return AddKeypoint(doc, ann.id, index, x, y), index
