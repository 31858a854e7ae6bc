"""Helpers for the AI panel tests: pixel checks (scripted backends and frames: ``app.fakes``)."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtGui import QImage

from fada_desk.core.vocabulary import class_color


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
