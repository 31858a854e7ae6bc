"""Shared helpers for the review GUI tests: real mouse gestures on a pyqtgraph view.

pyqtgraph drops mouse moves closer than 10 ms apart (``mouseRateLimit``), so each
step waits a little: the view then sees every step, like a human drag.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QPoint, Qt

from fada_desk.core.annotations import Box, Polygon
from fada_desk.core.frame import Frame
from fada_desk.core.review_types import FrameRef, Provenance

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


def ai_analysis(width: int = W, height: int = H) -> dict[str, Any]:
    """A FADA analysis of one frame: a head box (detect) and a plane label (classify), both
    pending AI proposals once imported (``session.import_analysis``)."""
    from fada_desk.inference.fada.parsing import Detection, Predictions
    from fada_desk.inference.fada.results import AnalysisResult, PhaseResult

    det = Predictions(detections=[Detection("head", (40.0, 30.0, 100.0, 80.0))], space="pixel",
                      image_size=(width, height))
    return AnalysisResult(
        image={"sha256": "0" * 64, "width": width, "height": height},
        models={"model_sha256": "a" * 64},
        mode="autonomous",
        phases=[PhaseResult("classify", raw_text='{"label": "HC_PLANE"}', parse_ok=True, label="HC_PLANE"),
                PhaseResult("detect", raw_text="[...]", parse_ok=True, predictions=det)],
        created_at="2025-01-01T00:00:00Z",
    ).to_dict()


def exam_with_ai_capture(qtbot: Any, window: Any, wait_for: Any) -> Any:
    """In the real main window: a new exam, one captured still (W x H) with :func:`ai_analysis`
    imported as pending AI items, shown for review. Returns the stored item."""
    import datetime as dt

    from fada_desk.qt.exam_dialogs import ExamRequest
    from fada_desk.sources.memory import FrameListSource

    req = ExamRequest("MRN-15", name="DOE^JANE", lmp=dt.date.today() - dt.timedelta(days=140),
                      operator="A. Sonographer")
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(req)
    window.open_source(FrameListSource([Frame(grey_frame().pixels, index=0)], uri="memory:test"))
    wait_for(lambda: window.shown_frame is not None)
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        assert window.capture_still()
    item = saved.args[0]
    window.review_dock.session.import_analysis(item.id, ai_analysis())
    window.show_item(item)
    wait_for(lambda: window.review_dock.frame == FrameRef(item.id, 0))
    wait_for(lambda: len(window.review_dock.editor.items) == 1)
    return item
