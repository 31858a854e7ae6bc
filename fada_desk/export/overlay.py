"""Burn reviewed annotations into an RGB image with Pillow (no Qt), for PNG and PDF export.

Colours are FADA's class palette (:func:`fada_desk.core.vocabulary.class_color`,
ported from upstream ``webapp/constants.py``; never duplicated here). Boxes
are outlined, polygons filled translucently, keypoints are numbered dots,
ellipses and calipers carry their measurement ("HC 175.2 mm"). Items still
pending review are drawn dashed and labelled "(pending review)".

:func:`annotation_caption`, :func:`measurement_text` and :func:`label_ink` are
the one implementation of an annotation's label: the review editor on screen
(``fada_desk.qt.review.style``) and the PNG/PDF writers use them, so the image
reads the same in the app and in the report.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.review_types import ReviewStatus
from fada_desk.core.vocabulary import class_color
from fada_desk.export.options import PENDING_MARK

REJECTED_MARK = "rejected"

_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "C:/Windows/Fonts/arialbd.ttf",
)


def _font(size: int) -> Any:
    from PIL import ImageFont

    for path in _FONTS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def annotation_color(ann: Annotation) -> tuple[int, int, int]:
    return class_color(ann.label or ann.measure or ann.kind)


def measurement_text(parameter: str | None, value_mm: float) -> str:
    """A measurement as it reads on the image and in the tables: "HC 197.2 mm" ("41.2 mm"
    for an untagged distance)."""
    return f"{parameter} {value_mm:.1f} mm" if parameter else f"{value_mm:.1f} mm"


def annotation_caption(ann: Annotation, measurement: str | None = None) -> str:
    """The label drawn next to ``ann``: its class code (short: the image has no room for the
    full name), or its measurement ("HC 197.2 mm", "BPD left: BPD 55.0 mm"), then its review
    state when it is not accepted ("(pending review)", "(rejected)")."""
    text = ann.label or ann.measure or ann.kind
    if measurement:
        text = measurement if not ann.label or ann.label == ann.measure else f"{ann.label}: {measurement}"
    elif ann.measure and ann.label and ann.label != ann.measure:
        text = f"{ann.label} [{ann.measure}]"
    if ann.status is ReviewStatus.PENDING:
        text += f" ({PENDING_MARK})"
    elif ann.status is ReviewStatus.REJECTED:
        text += f" ({REJECTED_MARK})"
    return text


def label_ink(color: Sequence[int]) -> tuple[int, int, int]:
    """Black or white text on a label filled with ``color`` (readable on yellow as on navy)."""
    luma = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
    return (0, 0, 0) if luma > 160 else (255, 255, 255)


def _dashed(
    draw: Any,
    pts: Sequence[tuple[float, float]],
    color: Any,
    width: int,
    closed: bool,
    dash: float = 10.0,
    gap: float = 6.0,
) -> None:
    seq = list(pts) + ([pts[0]] if closed and pts else [])
    carry = 0.0  # distance into the current dash/gap period, continued across segments
    for (x0, y0), (x1, y1) in zip(seq, seq[1:]):
        length = math.hypot(x1 - x0, y1 - y0)
        pos = 0.0
        while pos < length:
            phase = carry % (dash + gap)
            if phase < dash:
                step = min(dash - phase, length - pos)
                a, b = pos / length, (pos + step) / length
                draw.line(
                    [(x0 + (x1 - x0) * a, y0 + (y1 - y0) * a), (x0 + (x1 - x0) * b, y0 + (y1 - y0) * b)],
                    fill=color,
                    width=width,
                )
            else:
                step = min(dash + gap - phase, length - pos)
            pos += step
            carry += step


def _outline(
    draw: Any, pts: Sequence[tuple[float, float]], color: Any, width: int, closed: bool, pending: bool
) -> None:
    if pending:
        _dashed(draw, pts, color, width, closed)
    else:
        draw.line(list(pts) + ([pts[0]] if closed else []), fill=color, width=width, joint="curve")


def _overlaps(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _label(
    draw: Any,
    text: str,
    x: float,
    y: float,
    color: Any,
    font: Any,
    size: tuple[int, int],
    placed: list[tuple[float, float, float, float]],
) -> None:
    """A filled label just above (x, y), moved up/down until it hides no other label."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    w, h = right - left + 6, bottom - top + 6
    tx = min(max(0.0, x), max(0.0, size[0] - w))
    base = y - h - 2 if y - h - 2 >= 0 else y + 2
    rect = (tx, base, tx + w, base + h)
    for k in range(1, 40):
        if not any(_overlaps(rect, p) for p in placed):
            break
        step = (k + 1) // 2 * (h + 2) * (-1 if k % 2 else 1)
        ty = min(max(0.0, base + step), max(0.0, size[1] - h))
        rect = (tx, ty, tx + w, ty + h)
    placed.append(rect)
    draw.rectangle(list(rect), fill=color)
    draw.text((rect[0] + 3 - left, rect[1] + 3 - top), text, fill=label_ink(color), font=font)


def render_overlay(
    rgb: np.ndarray,
    annotations: Sequence[Annotation],
    *,
    measurements: Mapping[str, str] | None = None,
    classification: str | None = None,
    line_width: int | None = None,
    fill_alpha: float = 0.25,
) -> np.ndarray:
    """A new RGB uint8 array with ``annotations`` drawn (pixel coordinates of ``rgb``).

    ``measurements`` maps annotation id -> text (e.g. "HC 175.2 mm") shown in its label.
    Rejected annotations are never drawn.
    """
    from PIL import Image, ImageDraw

    arr = np.asarray(rgb)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"render_overlay needs uint8 RGB or grey pixels, got {arr.dtype} {arr.shape}")
    img = Image.fromarray(np.ascontiguousarray(arr)).convert("RGBA")
    w, h = img.size
    lw = line_width or max(2, round(min(w, h) / 250))
    font = _font(max(12, round(min(w, h) / 40)))
    measurements = measurements or {}
    shown = [a for a in annotations if a.status is not ReviewStatus.REJECTED]

    fill = Image.new("RGBA", img.size, (0, 0, 0, 0))
    fd = ImageDraw.Draw(fill)
    for a in shown:
        if isinstance(a, Polygon):
            fd.polygon(list(a.points), fill=annotation_color(a) + (round(255 * fill_alpha),))
    img = Image.alpha_composite(img, fill)
    draw = ImageDraw.Draw(img)
    labels: list[tuple[str, float, float, tuple[int, int, int]]] = []
    for a in shown:
        color = annotation_color(a)
        pending = a.status is ReviewStatus.PENDING
        text = annotation_caption(a, measurements.get(a.id))
        x0, y0, _, _ = a.bounds()
        if isinstance(a, Box):
            _outline(draw, a.control_points(), color, lw, True, pending)
        elif isinstance(a, Polygon):
            _outline(draw, list(a.points), color, lw, True, pending)
        elif isinstance(a, Ellipse):
            _outline(draw, a.sample(180), color, lw, True, pending)
        elif isinstance(a, Caliper):
            _outline(draw, [a.p1, a.p2], color, lw, False, pending)
            r = 3 * lw
            for px, py in (a.p1, a.p2):
                draw.line([(px - r, py - r), (px + r, py + r)], fill=color, width=lw)
                draw.line([(px - r, py + r), (px + r, py - r)], fill=color, width=lw)
        elif isinstance(a, Keypoints):
            visible = [(k.x, k.y) for k in a.points if k.visibility > 0]
            if len(visible) > 1:
                _outline(draw, visible, color, max(1, lw - 1), False, pending)
            r = max(3, min(w, h) // 150)
            for i, k in enumerate(a.points):
                if k.visibility == 0:
                    continue
                draw.ellipse([k.x - r, k.y - r, k.x + r, k.y + r], fill=color, outline=(255, 255, 255))
                draw.text((k.x + r + 2, k.y - r), str(i + 1), fill=color, font=font)
        labels.append((text, x0, y0, color))
    placed: list[tuple[float, float, float, float]] = []
    for text, x, y, color in labels:  # labels last so shapes never hide them
        _label(draw, text, x, y, color, font, (w, h), placed)
    if classification:
        text = f"View: {classification}"
        left, top, right, bottom = draw.textbbox((10, 10), text, font=font)
        draw.rectangle([left - 4, top - 4, right + 4, bottom + 4], fill=(40, 40, 40, 255))
        draw.text((10, 10), text, fill=(255, 255, 255, 255), font=font)
    return np.asarray(img.convert("RGB"))
