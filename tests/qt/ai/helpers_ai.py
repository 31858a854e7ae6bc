"""Helpers for the AI panel tests: pixel checks, an exam in the window, a capture under review
(scripted backends and frames: ``app.fakes``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QImage

from fada_desk.core.vocabulary import class_color

OPERATOR = "A. Sonographer"


def new_exam(qtbot: Any, window: Any, mrn: str = "MRN-AI") -> Any:
    """Create an exam (with an operator, so its review is signed) in ``window``."""
    import datetime as dt

    from fada_desk.qt.exam_dialogs import ExamRequest

    req = ExamRequest(mrn, name="DOE^JANE", lmp=dt.date.today() - dt.timedelta(days=140), operator=OPERATOR)
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(req)
    return window.exam


def review_capture(qtbot: Any, window: Any, wait_for: Any, frame: Any) -> Any:
    """Capture ``frame`` into the open exam and review it; returns the captured item."""
    from fada_desk.core.review_types import FrameRef
    from fada_desk.sources.memory import FrameListSource

    window.open_source(FrameListSource([frame], uri="memory:scan"))
    wait_for(lambda: window.shown_frame is not None)
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        window.capture_still()
    item = saved.args[0]
    window.show_item(item)
    wait_for(lambda: window.review_dock.frame == FrameRef(item.id, 0))
    panel = window.ai_dock.panel
    wait_for(lambda: panel.target_label.text() == f"Analyses: Capture #{item.id}")
    return item


def color_pixels(img: QImage, rgb: tuple[int, int, int], tol: int = 40) -> int:
    """How many pixels of ``img`` are within ``tol`` (per channel) of ``rgb``."""
    img = img.convertToFormat(QImage.Format.Format_RGB32)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    bgra = arr[:, : w * 4].reshape(h, w, 4).astype(int)
    r, g, b = bgra[..., 2], bgra[..., 1], bgra[..., 0]
    return int(((abs(r - rgb[0]) <= tol) & (abs(g - rgb[1]) <= tol) & (abs(b - rgb[2]) <= tol)).sum())


def class_pixels(img: QImage, cls: str) -> int:
    return color_pixels(img, class_color(cls))


def phases_of(backend: Any) -> list[str]:
    return list(backend.phases())
