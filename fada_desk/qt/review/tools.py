"""Drawing tools: a transparent layer over the image that turns mouse gestures into shapes.

While a tool is active the layer sits above every annotation and takes the
mouse (so drawing never drags an existing item or pans the view); it reports
a finished shape through ``on_done(kind, geometry)`` and shows a rubber-band
preview meanwhile. Geometry is in image pixels, clamped to the image.

* box, ellipse: press, drag, release (the ellipse fills the dragged rectangle);
* caliper: drag from one end to the other, or click both ends;
* polygon: click each vertex; double-click, Enter or a click on the first
  vertex closes it; Backspace removes the last vertex.

Esc (handled by the editor) cancels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsPathItem

TOOLS = ("box", "polygon", "ellipse", "caliper")
MIN_SIZE_PX = 2.0
CLOSE_RADIUS_SCREEN_PX = 8.0

Done = Callable[[str, dict[str, Any]], None]


class ToolLayer(pg.GraphicsObject):
    """Mouse catcher + preview for the active drawing tool (hidden when no tool)."""

    def __init__(self, on_done: Done) -> None:
        super().__init__()
        self.on_done = on_done
        self.tool = ""
        self.image_rect: QRectF | None = None
        self.points: list[tuple[float, float]] = []
        self._drag_start: tuple[float, float] | None = None
        self._hover: tuple[float, float] | None = None
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setZValue(1000)
        self.preview = QGraphicsPathItem(self)
        pen = QPen(pg.mkColor(255, 255, 0))
        pen.setCosmetic(True)
        pen.setWidthF(1.5)
        pen.setStyle(Qt.PenStyle.DashLine)
        self.preview.setPen(pen)
        self.hide()

    # -- activation ----------------------------------------------------------------------
    def start(self, tool: str) -> None:
        if tool not in TOOLS:
            raise ValueError(f"unknown tool {tool!r}")
        self.tool = tool
        self.points = []
        self._drag_start = None
        self._update_preview()
        self.show()

    def stop(self) -> None:
        self.tool = ""
        self.points = []
        self._drag_start = None
        self._hover = None
        self._update_preview()
        self.hide()

    @property
    def active(self) -> bool:
        return bool(self.tool)

    # -- QGraphicsItem -----------------------------------------------------------------
    def boundingRect(self) -> QRectF:  # noqa: N802 - Qt API
        return QRectF(-1e7, -1e7, 2e7, 2e7)

    def paint(self, *args: Any) -> None:
        pass

    # -- geometry helpers ------------------------------------------------------------------
    def _clamp(self, p: QPointF) -> tuple[float, float]:
        x, y = float(p.x()), float(p.y())
        r = self.image_rect
        if r is not None:
            x = min(max(x, r.left()), r.right())
            y = min(max(y, r.top()), r.bottom())
        return (x, y)

    def _screen_dist(self, a: tuple[float, float], b: tuple[float, float]) -> float:
        pa = self.mapToScene(QPointF(*a))
        pb = self.mapToScene(QPointF(*b))
        return math.hypot(pa.x() - pb.x(), pa.y() - pb.y())

    # -- pyqtgraph mouse events ----------------------------------------------------------
    def hoverEvent(self, ev: Any) -> None:  # noqa: N802 - pyqtgraph API
        if not self.tool or ev.isExit():
            self._hover = None
        else:
            ev.acceptDrags(Qt.MouseButton.LeftButton)
            ev.acceptClicks(Qt.MouseButton.LeftButton)
            self._hover = self._clamp(ev.pos())
        if self.tool in ("polygon", "caliper") and self.points:
            self._update_preview()

    def mouseDragEvent(self, ev: Any) -> None:  # noqa: N802 - pyqtgraph API
        if not self.tool or ev.button() != Qt.MouseButton.LeftButton or self.tool == "polygon":
            ev.ignore()
            return
        ev.accept()
        if ev.isStart():
            self._drag_start = self._clamp(ev.buttonDownPos())
            self.points = []
        if self._drag_start is None:
            return
        end = self._clamp(ev.pos())
        self._drag_preview(self._drag_start, end)
        if ev.isFinish():
            start, self._drag_start = self._drag_start, None
            self._update_preview()
            self._finish_drag(start, end)

    def mouseClickEvent(self, ev: Any) -> None:  # noqa: N802 - pyqtgraph API
        if not self.tool or ev.button() != Qt.MouseButton.LeftButton:
            ev.ignore()
            return
        ev.accept()
        p = self._clamp(ev.pos())
        if self.tool == "polygon":
            if ev.double():
                self.finish_polygon()
                return
            if len(self.points) >= 3 and self._screen_dist(p, self.points[0]) <= CLOSE_RADIUS_SCREEN_PX:
                self.finish_polygon()
                return
            self.points.append(p)
            self._update_preview()
        elif self.tool == "caliper":
            if ev.double():
                return
            self.points.append(p)
            if len(self.points) == 2:
                a, b = self.points
                self.points = []
                self._update_preview()
                self._emit_caliper(a, b)
            else:
                self._update_preview()

    # -- polygon editing keys (called by the editor) -------------------------------------------
    def finish_polygon(self) -> bool:
        """Close the polygon being drawn (needs 3 distinct vertices)."""
        pts = _dedupe(self.points)
        if self.tool != "polygon" or len(pts) < 3:
            return False
        self.points = []
        self._update_preview()
        self.on_done("polygon", {"points": [list(p) for p in pts]})
        return True

    def remove_last_point(self) -> bool:
        if self.points:
            self.points.pop()
            self._update_preview()
            return True
        return False

    # -- finishing -----------------------------------------------------------------------
    def _finish_drag(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        if self.tool == "caliper":
            self._emit_caliper(a, b)
            return
        x0, x1 = sorted((a[0], b[0]))
        y0, y1 = sorted((a[1], b[1]))
        if x1 - x0 < MIN_SIZE_PX or y1 - y0 < MIN_SIZE_PX:
            return  # a click, not a shape
        if self.tool == "box":
            self.on_done("box", {"x0": x0, "y0": y0, "x1": x1, "y1": y1})
        elif self.tool == "ellipse":
            centre = {"cx": (x0 + x1) / 2, "cy": (y0 + y1) / 2}
            self.on_done("ellipse", {**centre, "rx": (x1 - x0) / 2, "ry": (y1 - y0) / 2, "angle_deg": 0.0})

    def _emit_caliper(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        if math.dist(a, b) < MIN_SIZE_PX:
            return
        self.on_done("caliper", {"p1": list(a), "p2": list(b)})

    # -- preview -------------------------------------------------------------------------
    def _drag_preview(self, a: tuple[float, float], b: tuple[float, float]) -> None:
        path = QPainterPath()
        rect = QRectF(QPointF(*a), QPointF(*b)).normalized()
        if self.tool == "box":
            path.addRect(rect)
        elif self.tool == "ellipse":
            path.addEllipse(rect)
        elif self.tool == "caliper":
            path.moveTo(*a)
            path.lineTo(*b)
        self.preview.setPath(path)

    def _update_preview(self) -> None:
        path = QPainterPath()
        pts = list(self.points)
        if pts and self._hover is not None and self.tool in ("polygon", "caliper"):
            pts.append(self._hover)
        if pts:
            path.moveTo(*pts[0])
            for p in pts[1:]:
                path.lineTo(*p)
        self.preview.setPath(path)


def _dedupe(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    out: list[tuple[float, float]] = []
    for p in points:
        if not out or math.dist(out[-1], p) > 1e-6:
            out.append(p)
    if len(out) > 1 and math.dist(out[0], out[-1]) <= 1e-6:
        out.pop()
    return out
