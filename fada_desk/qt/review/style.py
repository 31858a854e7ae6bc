"""How annotations look on screen: FADA class colours, review status as line style.

Colours come from :func:`fada_desk.export.overlay.annotation_color` (FADA's
palette in ``fada_desk.core.vocabulary``), so the screen, the PNG and the
PDF use the same colour for a class. Status is the line style: pending AI
output dashed, accepted solid, rejected faint and dotted (still clickable, so
it can be accepted again).

On the image a label is filled with the class colour and written in black or
white (:func:`~fada_desk.export.overlay.label_ink`), its text the export's
(:func:`~fada_desk.export.overlay.annotation_caption`, measurement included).
In lists the class colour is a swatch (:func:`swatch`) and the text keeps the
palette's text colour: yellow or pink text on white cannot be read.
"""

from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtGui import QBrush, QColor, QIcon, QPainter, QPen, QPixmap

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_types import Provenance, ReviewStatus
from fada_desk.core.vocabulary import class_color
from fada_desk.export.overlay import annotation_caption, annotation_color, label_ink

LINE_WIDTH = 2
SELECTED_WIDTH = 3
REJECTED_ALPHA = 90

STATUS_TEXT = {
    ReviewStatus.PENDING: "pending",
    ReviewStatus.ACCEPTED: "accepted",
    ReviewStatus.REJECTED: "rejected",
}
PROVENANCE_TEXT = {Provenance.AI: "AI", Provenance.AI_EDITED: "AI, edited", Provenance.MANUAL: "manual"}
#: status words in lists: dark enough to read on white (contrast at least 4.5:1)
STATUS_COLORS = {
    ReviewStatus.PENDING: QColor(150, 85, 0),
    ReviewStatus.ACCEPTED: QColor(30, 110, 45),
    ReviewStatus.REJECTED: QColor(180, 30, 30),
}
SWATCH_PX = 12


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


def label_text(ann: Annotation, measurement: str | None = None) -> str:
    """The on-image label: the export's caption (class code or "HC 197.2 mm", review state)."""
    return annotation_caption(ann, measurement)


def label_colors(ann: Annotation) -> tuple[QColor, QBrush]:
    """Text colour and fill of an on-image label: the class colour as fill, black or white ink
    (as in the PNG/PDF); a rejected one faint."""
    fill = qcolor(ann)
    ink = QColor(*label_ink(annotation_color(ann)))
    if ann.status is ReviewStatus.REJECTED:
        fill.setAlpha(REJECTED_ALPHA)
        ink.setAlpha(160)
    return ink, QBrush(fill)


def swatch(label: str, size: int = SWATCH_PX) -> QIcon:
    """A small square of ``label``'s class colour with a thin dark border (for list rows)."""
    pm = QPixmap(size, size)
    pm.fill(QColor(*class_color(label)))
    p = QPainter(pm)
    p.setPen(QColor(60, 60, 60))
    p.drawRect(0, 0, size - 1, size - 1)
    p.end()
    return QIcon(pm)


def swatch_of(ann: Annotation) -> QIcon:
    return swatch(ann.label or ann.measure or ann.kind)
