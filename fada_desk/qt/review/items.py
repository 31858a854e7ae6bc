"""pyqtgraph ROIs that show one annotation each and report what the user dragged.

The items never change the document. They are *views*: :func:`make_item`
builds the ROI for an annotation, :meth:`AnnotationItem.sync` moves it to the
annotation's geometry (without emitting edits), and :meth:`AnnotationItem.geometry`
reads what the user dragged, in the annotation's JSON geometry form, for the
editor to turn into a command. All coordinates are image pixels (the ViewBox
coordinates of the frame's ImageItem at the origin).

pyqtgraph's own editing shortcuts are disabled where they would change the
shape behind the document's back: a single click on a polygon edge no longer
inserts a vertex (a *double* click asks the editor to), and vertex handles
have no "Remove handle" menu (a right click asks the editor to delete it).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt

from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.qt.review import style

EPS = 1e-6
LEFT_RIGHT = Qt.MouseButton.LeftButton | Qt.MouseButton.RightButton

#: (handle position, scale centre) for a box: 4 corners and 4 edge midpoints, each scaling
#: about the opposite corner/edge.
BOX_HANDLES = (
    ((0.0, 0.0), (1.0, 1.0)),
    ((1.0, 0.0), (0.0, 1.0)),
    ((1.0, 1.0), (0.0, 0.0)),
    ((0.0, 1.0), (1.0, 0.0)),
    ((0.5, 0.0), (0.5, 1.0)),
    ((1.0, 0.5), (0.0, 0.5)),
    ((0.5, 1.0), (0.5, 0.0)),
    ((0.0, 0.5), (1.0, 0.5)),
)


def _close(a: Any, b: Any) -> bool:
    """Deep numeric comparison of two JSON geometries (tolerant to float noise)."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b))
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return abs(float(a) - float(b)) <= EPS * max(1.0, abs(float(a)))
    return bool(a == b)


def _angle_close(a: float, b: float) -> bool:
    return abs(math.remainder(a - b, 360.0)) <= 1e-6


class AnnotationItem:
    """Mixin of every annotation ROI: identity, style, sync and geometry read-back."""

    ann_id: str
    kind: str
    #: "move" while the body is dragged, "handle" while a handle is; None otherwise.
    drag_mode: str | None = None
    syncing: bool = False

    def _init_item(self, ann: Annotation) -> None:
        self.ann_id = ann.id
        self.kind = ann.kind
        self.annotation = ann
        self.selected = False
        self.drag_mode = None
        self.syncing = False
        roi: pg.ROI = self  # type: ignore[assignment]
        roi.setAcceptedMouseButtons(LEFT_RIGHT)

    # -- style -----------------------------------------------------------------------
    def apply_style(self, ann: Annotation, selected: bool) -> None:
        roi: pg.ROI = self  # type: ignore[assignment]
        self.annotation = ann
        self.selected = selected
        roi.hoverPen = style.pen_for(ann, selected=True, hover=True)
        roi.setPen(style.pen_for(ann, selected))
        for seg in getattr(roi, "segments", []):
            seg.hoverPen = roi.hoverPen
            seg.setZValue(1)  # below the vertex handles (z 11), so a vertex wins the click
        hp = style.handle_pen(ann)
        for h in roi.getHandles():
            h.pen = hp
            h.currentPen = hp
            h.update()
        for h in roi.getHandles():
            h.setVisible(selected)
        roi.setZValue(20 if selected else 10)

    # -- model -> view -----------------------------------------------------------------
    def sync(self, ann: Annotation) -> None:
        """Show ``ann``'s geometry (no-op when the ROI already shows it, e.g. mid-drag)."""
        if _close(self.geometry(), self.model_geometry(ann)):
            self.annotation = ann
            return
        self.syncing = True
        try:
            self._set_geometry(ann)
        finally:
            self.syncing = False
        self.annotation = ann

    def model_geometry(self, ann: Annotation) -> dict[str, Any]:
        return ann.geometry()

    def _set_geometry(self, ann: Annotation) -> None:
        raise NotImplementedError

    # -- view -> model -----------------------------------------------------------------
    def geometry(self) -> dict[str, Any]:
        raise NotImplementedError

    def moving_handle_index(self) -> int | None:
        """Index of the handle being dragged, if any."""
        roi: pg.ROI = self  # type: ignore[assignment]
        for i, h in enumerate(roi.getHandles()):
            if h.isMoving:
                return i
        return None

    def _points(self) -> list[tuple[float, float]]:
        roi: pg.ROI = self  # type: ignore[assignment]
        out = []
        for h in roi.getHandles():
            p = roi.mapToParent(h.pos())
            out.append((float(p.x()), float(p.y())))
        return out

    def _set_points(self, points: Sequence[tuple[float, float]]) -> None:
        """Move the existing free handles (same count) to ``points``."""
        roi: pg.ROI = self  # type: ignore[assignment]
        roi.setPos(pg.Point(0, 0), update=False, finish=False)
        for h, (x, y) in zip(roi.getHandles(), points):
            roi.movePoint(h, pg.Point(x, y), finish=False, coords="parent")
        roi.stateChanged(finish=False)
        roi.update()


class _DragModeROI:
    """Records whether a drag moves the body or a handle (set before the start signal)."""

    def _moveStarted(self) -> None:  # noqa: N802 - pyqtgraph API
        self.drag_mode = "move"  # type: ignore[attr-defined]
        super()._moveStarted()  # type: ignore[misc]

    def handleMoveStarted(self) -> None:  # noqa: N802 - pyqtgraph API
        self.drag_mode = "handle"  # type: ignore[attr-defined]
        super().handleMoveStarted()  # type: ignore[misc]


class BoxItem(_DragModeROI, AnnotationItem, pg.ROI):
    """A box: drag the body to move it, a corner or edge handle to resize it."""

    def __init__(self, ann: Box) -> None:
        pg.ROI.__init__(
            self,
            (ann.x0, ann.y0),
            (max(ann.width, 1e-3), max(ann.height, 1e-3)),
            rotatable=False,
            invertible=False,
            antialias=False,
            pen=style.pen_for(ann),
            handlePen=style.handle_pen(ann),
        )
        self._init_item(ann)
        for pos, centre in BOX_HANDLES:
            self.addScaleHandle(pos, centre)

    def geometry(self) -> dict[str, Any]:
        p, s = self.pos(), self.size()
        x0, y0 = float(p.x()), float(p.y())
        return {"x0": x0, "y0": y0, "x1": x0 + float(s.x()), "y1": y0 + float(s.y())}

    def _set_geometry(self, ann: Annotation) -> None:
        assert isinstance(ann, Box)
        self.setPos(pg.Point(ann.x0, ann.y0), update=False, finish=False)
        self.setSize(pg.Point(max(ann.width, 1e-3), max(ann.height, 1e-3)), update=False, finish=False)
        self.stateChanged(finish=False)


class EllipseItem(_DragModeROI, AnnotationItem, pg.EllipseROI):
    """An ellipse (HC/AC): drag to move, side handles set each axis, the top handle rotates."""

    def __init__(self, ann: Ellipse) -> None:
        pos, size, angle = self._state_of(ann)
        pg.EllipseROI.__init__(
            self, pos, size, pen=style.pen_for(ann), handlePen=style.handle_pen(ann), angle=angle
        )
        self._init_item(ann)

    def _addHandles(self) -> None:  # noqa: N802 - pyqtgraph API
        self.addScaleHandle([1.0, 0.5], [0.5, 0.5])
        self.addScaleHandle([0.0, 0.5], [0.5, 0.5])
        self.addScaleHandle([0.5, 1.0], [0.5, 0.5])
        self.addScaleHandle([0.5, 0.0], [0.5, 0.5])
        self.addRotateHandle([0.85355, 0.14645], [0.5, 0.5])

    @staticmethod
    def _state_of(ann: Ellipse) -> tuple[tuple[float, float], tuple[float, float], float]:
        t = math.radians(ann.angle_deg)
        c, s = math.cos(t), math.sin(t)
        # the ROI origin is the rotated top-left corner of the bounding rectangle
        ox = ann.cx - (c * ann.rx - s * ann.ry)
        oy = ann.cy - (s * ann.rx + c * ann.ry)
        return (ox, oy), (2 * ann.rx, 2 * ann.ry), ann.angle_deg

    def geometry(self) -> dict[str, Any]:
        state = self.getState()
        w, h = float(state["size"][0]), float(state["size"][1])
        centre = self.mapToParent(QPointF(w / 2.0, h / 2.0))
        return {
            "cx": float(centre.x()),
            "cy": float(centre.y()),
            "rx": abs(w) / 2.0,
            "ry": abs(h) / 2.0,
            "angle_deg": math.remainder(float(state["angle"]), 360.0),
        }

    def model_geometry(self, ann: Annotation) -> dict[str, Any]:
        return ann.geometry()

    def sync(self, ann: Annotation) -> None:
        mine, theirs = self.geometry(), ann.geometry()
        keys = ("cx", "cy", "rx", "ry")
        same = _close({k: mine[k] for k in keys}, {k: theirs[k] for k in keys})
        if same and _angle_close(mine["angle_deg"], theirs["angle_deg"]):
            self.annotation = ann
            return
        super().sync(ann)

    def _set_geometry(self, ann: Annotation) -> None:
        assert isinstance(ann, Ellipse)
        pos, size, angle = self._state_of(ann)
        self.setPos(pg.Point(*pos), update=False, finish=False)
        self.setSize(pg.Point(*size), update=False, finish=False)
        self.setAngle(angle, update=False, finish=False)
        self.stateChanged(finish=False)


class CaliperItem(_DragModeROI, AnnotationItem, pg.LineSegmentROI):
    """A two-point distance: drag an end point, or the line to move both."""

    def __init__(self, ann: Caliper) -> None:
        pg.LineSegmentROI.__init__(
            self, positions=(ann.p1, ann.p2), pen=style.pen_for(ann), handlePen=style.handle_pen(ann)
        )
        self._init_item(ann)

    def geometry(self) -> dict[str, Any]:
        p1, p2 = self._points()
        return {"p1": list(p1), "p2": list(p2)}

    def _set_geometry(self, ann: Annotation) -> None:
        assert isinstance(ann, Caliper)
        self._set_points([ann.p1, ann.p2])


class PolygonItem(_DragModeROI, AnnotationItem, pg.PolyLineROI):
    """A closed outline: drag a vertex, double-click an edge to add one, right-click a vertex
    to remove it (through the editor's callbacks, as undoable commands)."""

    closed_shape = True

    def __init__(self, ann: Polygon | Keypoints) -> None:
        self.on_insert: Callable[[PolygonItem, int, float, float], None] | None = None
        self.on_vertex_clicked: Callable[[PolygonItem, int, Any], None] | None = None
        pg.PolyLineROI.__init__(
            self,
            [tuple(p) for p in ann.control_points()],
            closed=self.closed_shape,
            pen=style.pen_for(ann),
            handlePen=style.handle_pen(ann),
        )
        self._init_item(ann)

    # -- pyqtgraph overrides: no silent structural edits ---------------------------------
    def addHandle(self, info: Any, index: int | None = None) -> Any:  # noqa: N802 - pyqtgraph API
        h = pg.PolyLineROI.addHandle(self, info, index=index)
        h.sigClicked.connect(self._handle_clicked)
        return h

    def addSegment(self, h1: Any, h2: Any, index: int | None = None) -> None:  # noqa: N802
        pg.PolyLineROI.addSegment(self, h1, h2, index=index)
        (self.segments[-1] if index is None else self.segments[index]).setZValue(1)
        for h in (h1, h2):
            h.setDeletable(False)  # no "Remove handle" menu: deletion is an undoable command
            h.setAcceptedMouseButtons(LEFT_RIGHT)

    def segmentClicked(self, segment: Any, ev: Any = None, pos: Any = None) -> None:  # noqa: N802
        if ev is None or not ev.double() or ev.button() != Qt.MouseButton.LeftButton:
            if ev is not None and ev.button() == Qt.MouseButton.LeftButton:
                self.sigClicked.emit(self, ev)  # a click on the outline selects the polygon
            return
        if not self.closed_shape:
            return
        local = segment.mapToParent(ev.pos())
        p = self.mapToParent(local)
        h1, h2 = (h["item"] for h in segment.handles)
        i1, i2 = self.indexOfHandle(h1), self.indexOfHandle(h2)
        n = len(self.handles)
        index = i1 + 1 if i2 == (i1 + 1) % n else i2 + 1
        ev.accept()
        if self.on_insert is not None:
            self.on_insert(self, index, float(p.x()), float(p.y()))

    def _handle_clicked(self, handle: Any, ev: Any) -> None:
        if self.on_vertex_clicked is not None:
            self.on_vertex_clicked(self, self.indexOfHandle(handle), ev)

    def checkRemoveHandle(self, h: Any) -> bool:  # noqa: N802
        return False

    # -- geometry ------------------------------------------------------------------------
    def geometry(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self._points()]}

    def model_geometry(self, ann: Annotation) -> dict[str, Any]:
        return {"points": [list(p) for p in ann.control_points()]}

    def _set_geometry(self, ann: Annotation) -> None:
        pts = [tuple(p) for p in ann.control_points()]
        if len(pts) == len(self.getHandles()):
            self._set_points(pts)
            return
        selected = self.selected
        self.setPos(pg.Point(0, 0), update=False, finish=False)
        self.setPoints(pts)
        # pyqtgraph routes the next click to the item that accepted the last hover; after a
        # rebuild under a still cursor that is a removed segment. Forget it: the next click
        # then goes to whatever is under the cursor now.
        scene = self.scene()
        if scene is not None and hasattr(scene, "lastHoverEvent"):
            scene.lastHoverEvent = None
        for h in self.getHandles():
            h.setVisible(selected)
        self.apply_style(ann, selected)

    def vertex_scene_pos(self, index: int) -> QPointF:
        h = self.getHandles()[index]
        return self.mapToParent(h.pos())


class KeypointsItem(PolygonItem):
    """Landmarks joined in order (open line); points can be dragged, not inserted."""

    closed_shape = False


ITEM_TYPES: dict[str, type[AnnotationItem]] = {
    "box": BoxItem,
    "ellipse": EllipseItem,
    "caliper": CaliperItem,
    "polygon": PolygonItem,
    "keypoints": KeypointsItem,
}


def make_item(ann: Annotation) -> Any:
    """The ROI for ``ann`` (a pg.ROI that is also an :class:`AnnotationItem`)."""
    cls = ITEM_TYPES.get(ann.kind)
    if cls is None:
        raise TypeError(f"no view for annotation kind {ann.kind!r}")
    return cls(ann)  # type: ignore[call-arg]


def scene_rect(item: Any) -> QRectF:
    return item.mapRectToScene(item.boundingRect())
