"""Shared helpers for the review GUI tests: real mouse gestures on a pyqtgraph view.

pyqtgraph drops mouse moves closer than 10 ms apart (``mouseRateLimit``), so each
step waits a little: the view then sees every step, like a human drag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, Qt

from fada_desk.core.annotations import Box, Polygon
from fada_desk.core.review_types import FrameRef, Provenance
from fada_desk.core.frame import Frame

FRAME = FrameRef(1, 0)
W, H = 200, 150
STEP_MS = 20


def grey_frame() -> Frame:
    px = np.full((H, W), 30, np.uint8)
    px[40:110, 50:150] = 60
    return Frame(px)


def ai_box(**kw: Any) -> Box:
    args = dict(id="box", frame=FRAME, label="head", provenance=Provenance.AI, analysis_id="run1",
                x0=40.0, y0=30.0, x1=100.0, y1=80.0)
    args.update(kw)
    return Box(**args)


def ai_polygon(**kw: Any) -> Polygon:
    args = dict(id="poly", frame=FRAME, label="Brain", provenance=Provenance.AI, analysis_id="run1",
                points=((120.0, 40.0), (180.0, 40.0), (180.0, 120.0), (120.0, 120.0)))
    args.update(kw)
    return Polygon(**args)


def lerp(a: QPoint, b: QPoint, t: float) -> QPoint:
    return QPoint(round(a.x() + (b.x() - a.x()) * t), round(a.y() + (b.y() - a.y()) * t))


def drag(qtbot: Any, widget: Any, a: QPoint, b: QPoint, steps: int = 6,
         button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    """Press at ``a``, move in ``steps`` to ``b``, release there (viewport coordinates)."""
    qtbot.mousePress(widget, button, pos=a)
    for i in range(1, steps + 1):
        qtbot.wait(STEP_MS)
        qtbot.mouseMove(widget, lerp(a, b, i / steps))
    qtbot.wait(STEP_MS)
    qtbot.mouseRelease(widget, button, pos=b)
    qtbot.wait(STEP_MS)


def click(qtbot: Any, widget: Any, p: QPoint, button: Qt.MouseButton = Qt.MouseButton.LeftButton) -> None:
    qtbot.mouseMove(widget, p)
    qtbot.wait(STEP_MS)
    qtbot.mouseClick(widget, button, pos=p)
    qtbot.wait(STEP_MS)


def double_click(qtbot: Any, widget: Any, p: QPoint) -> None:
    """What a real double click delivers: press, release, double-click press, release.
    (QTest's mouseDClick alone sends only the double-click press and leaves the button down.)"""
    qtbot.mouseMove(widget, p)
    qtbot.wait(STEP_MS)
    qtbot.mouseClick(widget, Qt.MouseButton.LeftButton, pos=p)
    qtbot.mouseDClick(widget, Qt.MouseButton.LeftButton, pos=p)
    qtbot.mouseRelease(widget, Qt.MouseButton.LeftButton, pos=p)
    qtbot.wait(STEP_MS)
