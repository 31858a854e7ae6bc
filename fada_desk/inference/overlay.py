"""Draw FADA predictions on an image with Pillow (no Qt): for CLI output and previews.

Same visual language as upstream's ``webapp/visualizer.py``: solid boxes for
detections, a translucent filled polygon plus dashed box for segmentations,
numbered dots joined by lines for keypoints (invisible points skipped), the
label on a box of the class colour, the view classification top-left.
Colours come from the FADA class palette (:func:`~fada_desk.inference.constants.class_color`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fada_desk.inference.constants import class_color
from fada_desk.inference.parsing import Predictions

_FONT_PATHS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def _font(size: int):  # noqa: ANN202 - PIL font types differ by version
    from PIL import ImageFont

    for path in _FONT_PATHS:
        if Path(path).exists():
            try:
                return ImageFont.truetype(path, size)
            except OSError:
                continue
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def _dashed_rect(draw, box, color, width: int, dash: int = 10, gap: int = 6) -> None:  # noqa: ANN001
    x1, y1, x2, y2 = box
    for (sx, sy), (ex, ey) in (
        ((x1, y1), (x2, y1)),
        ((x2, y1), (x2, y2)),
        ((x2, y2), (x1, y2)),
        ((x1, y2), (x1, y1)),
    ):
        length = max(abs(ex - sx), abs(ey - sy))
        if length <= 0:
            continue
        pos = 0.0
        while pos < length:
            end = min(pos + dash, length)
            draw.line(
                [
                    (sx + (ex - sx) * pos / length, sy + (ey - sy) * pos / length),
                    (sx + (ex - sx) * end / length, sy + (ey - sy) * end / length),
                ],
                fill=color,
                width=width,
            )
            pos += dash + gap


def _label(draw, text: str, x: float, y: float, color, font) -> None:  # noqa: ANN001
    ty = max(0.0, y - 20)
    left, top, right, bottom = draw.textbbox((x, ty), text, font=font)
    draw.rectangle([left - 3, max(0, top - 3), right + 3, bottom + 3], fill=color)
    draw.text((x, ty), text, fill=(255, 255, 255), font=font)


def draw_predictions(
    rgb: np.ndarray,
    preds: Predictions,
    *,
    classification: str | None = None,
    line_width: int | None = None,
    mask_alpha: float = 0.25,
) -> np.ndarray:
    """A new RGB uint8 array with ``preds`` (pixel coordinates of ``rgb``) drawn on it."""
    from PIL import Image, ImageDraw

    if preds.space != "pixel":
        raise ValueError("draw_predictions needs pixel coordinates (Predictions.to_pixels)")
    img = Image.fromarray(
        np.ascontiguousarray(rgb[:, :, :3] if rgb.ndim == 3 else np.repeat(rgb[:, :, None], 3, axis=2))
    ).convert("RGBA")
    w, h = img.size
    lw = line_width or max(2, round(min(w, h) / 250))
    font = _font(max(12, round(min(w, h) / 45)))
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    ov = ImageDraw.Draw(overlay)
    for seg in preds.segmentations:
        color = class_color(seg.label)
        if len(seg.polygon) >= 3:
            ov.polygon(list(seg.polygon), fill=color + (round(255 * mask_alpha),), outline=color + (255,))
    img = Image.alpha_composite(img, overlay)
    draw = ImageDraw.Draw(img)
    for det in preds.detections:
        color = class_color(det.label)
        draw.rectangle(list(det.box), outline=color, width=lw)
        _label(draw, det.label, det.box[0], det.box[1], color, font)
    for seg in preds.segmentations:
        color = class_color(seg.label)
        if len(seg.polygon) >= 3:
            draw.line(list(seg.polygon) + [seg.polygon[0]], fill=color, width=max(1, lw - 1))
        _dashed_rect(draw, seg.box, color, lw)
        _label(draw, seg.label, seg.box[0], seg.box[1], color, font)
    radius = max(3, min(w, h) // 150)
    for kp in preds.keypoints:
        color = class_color(kp.label)
        _dashed_rect(draw, kp.box, color, lw, dash=6, gap=4)
        _label(draw, kp.label, kp.box[0], kp.box[1], color, font)
        visible = [(x, y) for x, y, v in kp.points if v > 0]
        for a, b in zip(visible, visible[1:], strict=False):
            draw.line([a, b], fill=color, width=max(1, lw - 1))
        for i, (x, y, v) in enumerate(kp.points):
            if v == 0:
                continue
            draw.ellipse(
                [x - radius, y - radius, x + radius, y + radius], fill=color, outline=(255, 255, 255)
            )
            draw.text((x + radius + 2, y - radius), str(i + 1), fill=color, font=font)
    if classification:
        text = f"View: {classification}"
        left, top, right, bottom = draw.textbbox((10, 10), text, font=font)
        draw.rectangle([left - 4, top - 4, right + 4, bottom + 4], fill=(50, 50, 50, 200))
        draw.text((10, 10), text, fill=(255, 255, 255, 255), font=font)
    return np.asarray(img.convert("RGB"))


def save_png(rgb: np.ndarray, path: Path) -> None:
    """Write atomically (temp name, then rename): a crash never leaves half a PNG."""
    import os

    from PIL import Image

    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(rgb).save(tmp, format="PNG")
    os.replace(tmp, path)
