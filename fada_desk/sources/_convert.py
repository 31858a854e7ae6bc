"""Pure numpy helpers that turn decoded pixel arrays into display-ready uint8.

Every source ends with a :class:`~fada_desk.core.frame.Frame` whose pixels are
``uint8`` grey (H, W) or RGB (H, W, 3). Decoders hand us 16-bit grey, signed
data, RGBA, palette indices, YBR... These helpers do that last step in one
place so that every source (and anyone else: exporters, tests) displays the
same data the same way. No I/O, no heavy imports.

Memory stays bounded whatever the frame size: arithmetic runs on blocks of rows
(:data:`BLOCK_ELEMENTS` values at a time) written into the uint8 result, never
on a float copy of the whole frame (an 8000 x 8000 RGBA image composited in
float32 peaked at 3.5 GB).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

__all__ = [
    "BLOCK_ELEMENTS",
    "apply_palette",
    "blockwise",
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


# Values converted per step: temporaries stay at a few MiB (8 MiB of float64) for any frame.
BLOCK_ELEMENTS = 1 << 20


def blockwise(
    a: np.ndarray, fn: Callable[[np.ndarray], np.ndarray], out_shape: tuple[int, ...] | None = None
) -> np.ndarray:
    """``fn`` applied to blocks of rows of ``a`` (axis 0), the results stacked into one uint8 array.

    ``fn`` must be element-wise along axis 0 (row ``i`` of the result depends on row ``i`` only).
    ``out_shape`` is the result's shape when it differs from ``a``'s beyond axis 0.
    """
    a = np.asarray(a)
    shape = a.shape if out_shape is None else out_shape
    out = np.empty(shape, dtype=np.uint8)
    if a.ndim == 0 or a.shape[0] == 0:
        out[...] = fn(a)
        return out
    per_row = max(1, int(np.prod(a.shape[1:], dtype=np.int64)))
    step = max(1, BLOCK_ELEMENTS // per_row)
    for r in range(0, a.shape[0], step):
        out[r : r + step] = fn(a[r : r + step])
    return out


def range_to_uint8(arr: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo..hi`` linearly onto 0..255 (clipped). ``hi <= lo`` gives a step at ``lo``.

    NaN maps like 0; infinities saturate.
    """
    a = np.asarray(arr)
    if a.dtype == np.uint8 and lo == 0 and hi == 255:
        return a
    lo, hi = float(lo), float(hi)
    floating = np.issubdtype(a.dtype, np.floating)

    def step(x: np.ndarray) -> np.ndarray:
        if floating:
            # Saturating before the float32 cast: same result, no overflow to inf.
            x = np.clip(np.nan_to_num(x, nan=0.0), lo - 1.0, hi + 1.0)
        if hi <= lo:
            return np.where(x > lo, np.uint8(255), np.uint8(0))
        y = (x.astype(np.float32) - np.float32(lo)) * np.float32(255.0 / (hi - lo))
        np.clip(y, 0.0, 255.0, out=y)
        return np.rint(y).astype(np.uint8)

    return blockwise(a, step)


def window_to_uint8(arr: np.ndarray, center: float, width: float, function: str = "LINEAR") -> np.ndarray:
    """DICOM window/level (PS3.3 C.11.2.1.2) straight to 0..255.

    ``function`` is the VOI LUT Function: LINEAR (default; the DICOM formula
    with its 0.5/1 offsets), LINEAR_EXACT or SIGMOID.
    """
    fn = (function or "LINEAR").strip().upper()
    if fn in ("SIGMOID", "LINEAR_EXACT") and width <= 0:
        raise ValueError(f"window width must be > 0 for {fn}")
    if fn not in ("SIGMOID", "LINEAR_EXACT") and width < 1:
        raise ValueError("window width must be >= 1 for LINEAR")

    def step(x: np.ndarray) -> np.ndarray:
        a = np.nan_to_num(x.astype(np.float64), nan=0.0)
        if fn == "SIGMOID":
            with np.errstate(over="ignore"):  # exp overflow is the 0 end of the curve
                out = 255.0 / (1.0 + np.exp(-4.0 * (a - center) / width))
        elif fn == "LINEAR_EXACT":
            out = (a - (center - width / 2.0)) / width * 255.0
        elif width == 1:
            return np.where(a > center - 0.5, np.uint8(255), np.uint8(0))
        else:
            out = ((a - (center - 0.5)) / (width - 1.0) + 0.5) * 255.0
        np.clip(out, 0.0, 255.0, out=out)
        return np.rint(out).astype(np.uint8)

    return blockwise(np.asarray(arr), step)


def shift_to_uint8(arr: np.ndarray, bits: int) -> np.ndarray:
    """Keep the top 8 of ``bits`` significant bits (unsigned data, e.g. 16-bit RGB)."""
    a = np.asarray(arr)
    if bits <= 8:
        if a.dtype == np.uint8:
            return a
        return blockwise(a, lambda x: np.clip(x, 0, 255).astype(np.uint8))
    top = (1 << bits) - 1
    return blockwise(a, lambda x: np.right_shift(np.clip(x, 0, top).astype(np.uint32), bits - 8).astype(np.uint8))


def invert(arr: np.ndarray) -> np.ndarray:
    """255 - x for uint8 (MONOCHROME1: low values are white)."""
    return np.subtract(np.uint8(255), np.asarray(arr, dtype=np.uint8))


def _over(colour: np.ndarray, alpha: np.ndarray, background: int) -> np.ndarray:
    """round((c * a + bg * (255 - a)) / 255) in uint16: the sum is at most 255 * 255 + 127."""
    c = colour.astype(np.uint16)
    a = alpha.astype(np.uint16)
    num = c * a
    num += np.uint16(background) * (np.uint16(255) - a)
    num += np.uint16(127)
    num //= np.uint16(255)
    return num.astype(np.uint8)


def rgba_to_rgb(arr: np.ndarray, background: int = 0) -> np.ndarray:
    """Composite uint8 RGBA over a uniform background (black: ultrasound's own background)."""
    a = np.asarray(arr)
    if a.ndim != 3 or a.shape[2] != 4:
        raise ValueError(f"expected (H, W, 4), got {a.shape}")
    if not 0 <= background <= 255:
        raise ValueError(f"background must be 0..255, got {background}")
    return blockwise(a, lambda x: _over(x[:, :, :3], x[:, :, 3:4], background), (*a.shape[:2], 3))


def grey_alpha_to_grey(arr: np.ndarray, background: int = 0) -> np.ndarray:
    """Composite uint8 grey+alpha (H, W, 2) over a uniform background."""
    a = np.asarray(arr)
    if a.ndim != 3 or a.shape[2] != 2:
        raise ValueError(f"expected (H, W, 2), got {a.shape}")
    if not 0 <= background <= 255:
        raise ValueError(f"background must be 0..255, got {background}")
    return blockwise(a, lambda x: _over(x[:, :, 0], x[:, :, 1], background), a.shape[:2])


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
    src = np.asarray(indices)
    last = lut.shape[0] - 1

    def step(x: np.ndarray) -> np.ndarray:
        idx = x.astype(np.intp) - int(first)
        np.clip(idx, 0, last, out=idx)
        return lut[idx]

    return blockwise(src, step, (*src.shape, 3))


def ybr_full_to_rgb(arr: np.ndarray) -> np.ndarray:
    """8-bit YCbCr full range (ITU-R BT.601, JFIF / DICOM YBR_FULL) -> RGB uint8."""

    def step(x: np.ndarray) -> np.ndarray:
        a = x.astype(np.float32)
        y, cb, cr = a[..., 0], a[..., 1] - 128.0, a[..., 2] - 128.0
        r = y + 1.402 * cr
        g = y - 0.344136 * cb - 0.714136 * cr
        b = y + 1.772 * cb
        out = np.stack([r, g, b], axis=-1)
        np.clip(out, 0.0, 255.0, out=out)
        return np.rint(out).astype(np.uint8)

    return blockwise(np.asarray(arr), step)


def _finite_range(a: np.ndarray) -> tuple[float, float]:
    if a.size == 0:
        return (0.0, 0.0)
    if not np.issubdtype(a.dtype, np.floating):
        return (float(a.min()), float(a.max()))
    lo, hi = math.inf, -math.inf
    flat = a.reshape(-1)
    for start in range(0, flat.size, BLOCK_ELEMENTS):
        block = flat[start : start + BLOCK_ELEMENTS]
        finite = block[np.isfinite(block)]
        if finite.size:
            lo, hi = min(lo, float(finite.min())), max(hi, float(finite.max()))
    return (lo, hi) if lo <= hi else (0.0, 0.0)


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
        a = blockwise(a, lambda x: x.astype(np.uint8) * np.uint8(255))
    if a.dtype != np.uint8:
        lo, hi = (float(window[0]), float(window[1])) if window is not None else _finite_range(a)
        a = range_to_uint8(a, lo, hi)
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
