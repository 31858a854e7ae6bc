"""How annotations look on screen: FADA class colours, review status as line style.

Colours come from :func:`fada_desk.export.overlay.annotation_color` (FADA's
palette in ``fada_desk.core.vocabulary``), so the screen, the PNG and the
PDF use the same colour for a class. Status is the line style: pending AI
output dashed, accepted solid, rejected faint and dotted (still clickable, so
it can be accepted again).
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QPen

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_types import Provenance, ReviewStatus
from fada_desk.export.overlay import annotation_color

LINE_WIDTH = 2
SELECTED_WIDTH = 3
REJECTED_ALPHA = 90

STATUS_TEXT = {
    ReviewStatus.PENDING: "pending",
    ReviewStatus.ACCEPTED: "accepted",
    ReviewStatus.REJECTED: "rejected",
}
PROVENANCE_TEXT = {Provenance.AI: "AI", Provenance.AI_EDITED: "AI, edited", Provenance.MANUAL: "manual"}
STATUS_COLORS = {
    ReviewStatus.PENDING: QColor(230, 160, 0),
    ReviewStatus.ACCEPTED: QColor(40, 150, 60),
    ReviewStatus.REJECTED: QColor(190, 40, 40),
}


def qcolor(ann: Annotation) -> QColor:
    r, g, b = annotation_color(ann)
    return QColor(r, g, b)


def pen_for(ann: Annotation, selected: bool = False, hover: bool = False) -> QPen:
    """A cosmetic pen (constant width on screen whatever the zoom)."""
    color = qcolor(ann)
    width = SELECTED_WIDTH if (selected or hover) else LINE_WIDTH
    style = Qt.PenStyle.SolidLine
    if ann.status is ReviewStatus.PENDING:
        style = Qt.PenStyle.DashLine
    elif ann.status is ReviewStatus.REJECTED:
        color.setAlpha(REJECTED_ALPHA)
        style = Qt.PenStyle.DotLine
        width = 1 if not (selected or hover) else 2
    pen = pg.mkPen(color, width=width, style=style)
    pen.setCosmetic(True)
    return pen


def handle_pen(ann: Annotation) -> QPen:
    pen = pg.mkPen(qcolor(ann).lighter(150), width=1.5)
    pen.setCosmetic(True)
    return pen


def label_text(ann: Annotation) -> str:
    name = ann.label or ann.measure or ann.kind
    if ann.measure and ann.label and ann.label != ann.measure:
        name = f"{ann.label} [{ann.measure}]"
    if ann.status is ReviewStatus.PENDING:
        return f"{name} (pending review)"
    if ann.status is ReviewStatus.REJECTED:
        return f"{name} (rejected)"
    return name


def label_colors(ann: Annotation) -> tuple[QColor, QBrush]:
    """Text colour and background of an on-image label (readable on any class colour)."""
    c = qcolor(ann)
    if ann.status is ReviewStatus.REJECTED:
        c.setAlpha(REJECTED_ALPHA)
        return c, QBrush(QColor(0, 0, 0, 60))
    return c, QBrush(QColor(0, 0, 0, 150))
