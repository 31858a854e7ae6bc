"""AI results drawn on the image view, read-only, in the FADA class palette.

What is drawn are the same :class:`~fada_desk.core.annotations.Annotation`
objects the review editor edits (:func:`fada_desk.app.ai_results.annotations_for`
converts an analysis), and the
pens, labels and colours come from :mod:`fada_desk.qt.review.style` (palette:
``fada_desk.core.vocabulary`` through the exporters' ``annotation_color``),
so a result looks the same here, in the review editor, in the PNG and the PDF.

Why a second, read-only layer at all: a frozen *live* frame is not in the
exam yet, so there is nothing for the review editor to edit; and while an
analysis runs, phases are drawn as they finish. Once a result is stored in
the exam and the review editor shows that frame, the panel hides this layer
(the editor draws the very same annotations, editable). The items of hidden AI
runs (:meth:`AIOverlay.set_hidden`) are not drawn.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainterPath
from PySide6.QtWidgets import QGraphicsPathItem

from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.qt.review import style

Z_OVERLAY = 18  # above the image and the calibration picks (10), below the review editor's labels (30)


def _path(points: Sequence[tuple[float, float]], closed: bool) -> QPainterPath:
    path = QPainterPath()
    if not points:
        return path
    path.moveTo(QPointF(*points[0]))
    for p in points[1:]:
        path.lineTo(QPointF(*p))
    if closed:
        path.closeSubpath()
    return path


def shape_path(ann: Annotation) -> QPainterPath:
    """The outline of an annotation in image pixels."""
    if isinstance(ann, Box):
        path = QPainterPath()
        path.addRect(QRectF(QPointF(ann.x0, ann.y0), QPointF(ann.x1, ann.y1)).normalized())
        return path
    if isinstance(ann, Polygon):
        return _path(list(ann.points), True)
    if isinstance(ann, Ellipse):
        return _path(ann.sample(72), True)
    if isinstance(ann, Caliper):
        return _path([ann.p1, ann.p2], False)
    if isinstance(ann, Keypoints):
        return _path([(k.x, k.y) for k in ann.points if k.visibility > 0], False)
    return _path(ann.control_points(), True)


class AIOverlay:
    """Read-only pyqtgraph items for a list of annotations on one ViewBox."""

    def __init__(self, viewbox: pg.ViewBox) -> None:
        self.viewbox = viewbox
        self._items: list[Any] = []
        self._annotations: list[Annotation] = []  # drawn
        self._all: list[Annotation] = []  # given (hidden runs included)
        self._hidden: frozenset[str] = frozenset()
        self._visible = True

    @property
    def annotations(self) -> list[Annotation]:
        return list(self._annotations)

    @property
    def visible(self) -> bool:
        return self._visible and bool(self._items)

    def set_annotations(self, anns: Iterable[Annotation]) -> None:
        self.clear()
        self._all = list(anns)
        for ann in self._all:
            if not (ann.analysis_id and ann.analysis_id in self._hidden):
                self._add(ann)

    def set_hidden(self, ids: frozenset[str]) -> None:
        """Do not draw the items of these AI runs (analysis ids)."""
        if ids != self._hidden:
            self._hidden = frozenset(ids)
            self.set_annotations(self._all)

    def _add(self, ann: Annotation) -> None:
        self._annotations.append(ann)
        pen = style.pen_for(ann)
        shape = QGraphicsPathItem(shape_path(ann))
        shape.setPen(pen)
        shape.setBrush(pg.mkBrush(None))
        shape.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        shape.setZValue(Z_OVERLAY)
        self._put(shape)
        if isinstance(ann, Keypoints):
            color = style.qcolor(ann)
            pts = [(k.x, k.y) for k in ann.points if k.visibility > 0]
            dots = pg.ScatterPlotItem([p[0] for p in pts], [p[1] for p in pts], size=9, symbol="o",
                                      pen=pg.mkPen(color.darker(160), width=1), brush=pg.mkBrush(color))
            dots.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            dots.setZValue(Z_OVERLAY + 1)
            self._put(dots)
        color, fill = style.label_colors(ann)
        label = pg.TextItem(style.label_text(ann), color=color, fill=fill, anchor=(0, 1))
        label.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        label.setAcceptHoverEvents(False)
        label.setZValue(Z_OVERLAY + 2)
        x0, y0, _, _ = ann.bounds()
        label.setPos(x0, y0)
        self._put(label)

    def _put(self, item: Any) -> None:
        item.setVisible(self._visible)
        self.viewbox.addItem(item, ignoreBounds=True)
        self._items.append(item)

    def set_visible(self, visible: bool) -> None:
        if visible == self._visible:
            return
        self._visible = visible
        for item in self._items:
            item.setVisible(visible)

    def clear(self) -> None:
        for item in self._items:
            self.viewbox.removeItem(item)
        self._items.clear()
        self._annotations.clear()
        self._all = []

    def labels(self) -> list[str]:
        """The annotation labels drawn (tests, status text)."""
        return [a.label for a in self._annotations]
