"""Pure numpy helpers that turn decoded pixel arrays into display-ready uint8.

Every source ends with a :class:`~fada_desk.core.frame.Frame` whose pixels are
``uint8`` grey (H, W) or RGB (H, W, 3). Decoders hand us 16-bit grey, signed
data, RGBA, palette indices, YBR... These helpers do that last step in one
place so that every source (and anyone else: exporters, tests) displays the
same data the same way. No I/O, no heavy imports.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = [
    "apply_palette",
    "finalize",
    "grey_alpha_to_grey",
    "invert",
    "lut_to_uint8",
    "range_to_uint8",
    "rgba_to_rgb",
    "shift_to_uint8",
    "to_display",
    "window_to_uint8",
    "ybr_full_to_rgb",
]


def range_to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo..hi`` linearly onto 0..255 (clipped). ``hi <= lo`` gives a step at ``lo``."""
    a = np.asarray(arr)
    if a.dtype == np.uint8 and lo == 0 and hi == 255:
        return a
    if hi <= lo:
        return np.where(a > lo, np.uint8(255), np.uint8(0)).astype(np.uint8)
    scale = 255.0 / (float(hi) - float(lo))
    out = (a.astype(np.float32) - np.float32(lo)) * np.float32(scale)
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)


def window_to_uint8(arr: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM window/level (PS3.3 C.11.2.1.2) straight to 0..255.

    ``function`` is the VOI LUT Function: LINEAR (default; the DICOM formula
    with its 0.5/1 offsets), LINEAR_EXACT or SIGMOID.
    """
    a = np.asarray(arr).astype(np.float64)
    fn = (function or "LINEAR").strip().upper()
    if fn == "SIGMOID":
        if width <= 0:
            raise ValueError("window width must be > 0 for SIGMOID")
        out = 255.0 / (1.0 + np.exp(-4.0 * (a - center) / width))
    elif fn == "LINEAR_EXACT":
        if width <= 0:
            raise ValueError("window width must be > 0 for LINEAR_EXACT")
        out = (a - (center - width / 2.0)) / width * 255.0
    else:
        if width < 1:
            raise ValueError("window width must be >= 1 for LINEAR")
        if width == 1:
            return np.where(a > center - 0.5, np.uint8(255), np.uint8(0)).astype(np.uint8)
        out = ((a - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)


def shift_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Keep the top 8 of ``bits`` significant bits (unsigned data, e.g. 16-bit RGB)."""
    a = np.asarray(arr)
    if bits <= 8:
        if a.dtype == np.uint8:
            return a
        return np.clip(a, 0, 255).astype(np.uint8)
    shifted = np.right_shift(np.clip(a, 0, (1 << bits) - 1).astype(np.uint32), bits - 8)
    return shifted.astype(np.uint8)


def invert(arr: np.ndarray) -> np.ndarray:
    """255 - x for uint8 (MONOCHROME1: low values are white)."""
    return np.subtract(np.uint8(255), np.asarray(arr, dtype=np.uint8))


def rgba_to_rgb(arr: np.ndarray, background: int = 0) -> np.ndarray:
    """Composite uint8 RGBA over a uniform background (black: ultrasound's own background)."""
    a = np.asarray(arr)
    if a.ndim != 3 or a.shape[2] != 4:
        raise ValueError(f"expected (H, W, 4), got {a.shape}")
    rgb = a[:, :, :3].astype(np.float32)
    alpha = a[:, :, 3:4].astype(np.float32) / 255.0
    out = rgb * alpha + np.float32(background) * (1.0 - alpha)
    return np.rint(out).astype(np.uint8)


def grey_alpha_to_grey(arr: np.ndarray, background: int = 0) -> np.ndarray:
    """Composite uint8 grey+alpha (H, W, 2) over a uniform background."""
    a = np.asarray(arr)
    g = a[:, :, 0].astype(np.float32)
    alpha = a[:, :, 1].astype(np.float32) / 255.0
    return np.rint(g * alpha + np.float32(background) * (1.0 - alpha)).astype(np.uint8)


def lut_to_uint8(lut: np.ndarray, bits: int) -> np.ndarray:
    """Scale LUT entries declared with ``bits`` bits per entry to uint8.

    Some writers declare 16-bit palette entries but store 8-bit values; when
    every entry fits in 8 bits we take them as they are rather than showing
    an almost black image.
    """
    lut = np.asarray(lut).astype(np.int64)
    if bits <= 8 or (lut.size and int(lut.max()) <= 255):
        return np.clip(lut, 0, 255).astype(np.uint8)
    return np.clip(lut >> (bits - 8), 0, 255).astype(np.uint8)


def apply_palette(indices: np.ndarray, lut: np.ndarray, first: int = 0) -> np.ndarray:
    """Palette indices (H, W) -> RGB uint8 via an (N, 3) uint8 LUT.

    ``first`` is the first stored pixel value mapped (LUT descriptor value 2);
    values below it take entry 0 and above the end take the last entry (PS3.3 C.7.6.3.1.5).
    """
    lut = np.asarray(lut)
    if lut.ndim != 2 or lut.shape[1] != 3 or lut.dtype != np.uint8:
        raise ValueError("palette LUT must be (N, 3) uint8")
    idx = np.asarray(indices).astype(np.int64) - int(first)
    np.clip(idx, 0, lut.shape[0] - 1, out=idx)
    return np.ascontiguousarray(lut[idx])


def ybr_full_to_rgb(arr: np.ndarray) -> np.ndarray:
    """8-bit YCbCr full range (ITU-R BT.601, JFIF / DICOM YBR_FULL) -> RGB uint8."""
    a = np.asarray(arr).astype(np.float32)
    y, cb, cr = a[..., 0], a[..., 1] - 128.0, a[..., 2] - 128.0
    r = y + 1.402 * cr
    g = y - 0.344136 * cb - 0.714136 * cr
    b = y + 1.772 * cb
    out = np.stack([r, g, b], axis=-1)
    np.clip(out, 0.0, 255.0, out=out)
    return np.rint(out).astype(np.uint8)


def _finite_range(a: np.ndarray) -> tuple[float, float]:
    if a.size == 0:
        return (0.0, 0.0)
    if np.issubdtype(a.dtype, np.floating):
        finite = a[np.isfinite(a)]
        if finite.size == 0:
            return (0.0, 0.0)
        return (float(finite.min()), float(finite.max()))
    return (float(a.min()), float(a.max()))


def to_display(arr: np.ndarray, *, window: Sequence[float] | None = None) -> np.ndarray:
    """Any decoded image array -> display uint8 grey (H, W) or RGB (H, W, 3).

    * uint8 passes through; (H, W, 1) is squeezed; RGBA / grey+alpha are
      composited over black.
    * Wider or signed integer and float data is mapped linearly from
      ``window = (lo, hi)``, or by default from the array's own min..max
      (a file without display hints: show all of its contrast).
    """
    a = np.asarray(arr)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (2, 3, 4)):
        raise ValueError(f"cannot display an array of shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * np.uint8(255)
    if a.dtype != np.uint8:
        lo, hi = (float(window[0]), float(window[1])) if window is not None else _finite_range(a)
        a = range_to_uint8(np.nan_to_num(a) if np.issubdtype(a.dtype, np.floating) else a, lo, hi)
    if a.ndim == 3 and a.shape[2] == 4:
        a = rgba_to_rgb(a)
    elif a.ndim == 3 and a.shape[2] == 2:
        a = grey_alpha_to_grey(a)
    return finalize(a)


def finalize(arr: np.ndarray) -> np.ndarray:
    """C-contiguous uint8 copy-free when possible (what Frame requires)."""
    a = np.asarray(arr)
    if a.dtype != np.uint8:
        raise ValueError(f"display pixels must be uint8, got {a.dtype}")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    return np.ascontiguousarray(a)
