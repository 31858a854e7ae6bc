"""Pillow decoding shared by the image and folder sources.

Pillow is light enough to import at module level of the *source* modules, but
this module keeps all mode handling (16-bit, palette, alpha, EXIF rotation) in
one place so a PNG looks the same whether opened alone or inside a folder.

Budgets (:mod:`._limits`): every image (and every page of a multi-page file)
is checked against the pixel and byte budget before it is decoded; Pillow's
own decompression-bomb check and its text-chunk limit become one-line errors.
Images with alpha are converted in bands of rows straight from Pillow's
buffer, so no full-size numpy copy of the RGBA data is ever made.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.errors import SourceError, UnsupportedFormatError, first_line
from fada_desk.sources import _convert, _limits

# Suffixes we treat as still images (lower case). Pillow reads more; these are
# the ones a clinic exports and the brief promises.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".jpe", ".jfif", ".bmp", ".dib", ".tif", ".tiff", ".gif", ".webp"}
)

# First bytes of the same formats: lets a file without (or with a wrong) suffix still be recognised.
_MAGIC = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM", b"II*\x00", b"MM\x00*", b"GIF87a", b"GIF89a")

# Pillow raw modes that carry 16 bits per sample (Pillow itself reduces 16-bit RGB to 8 bits).
_RAW16 = re.compile(r"(;16|I;16)")


def has_image_magic(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            head = f.read(12)
    except OSError:
        return False
    if head.startswith(b"RIFF") and head[8:12] == b"WEBP":
        return True
    return any(head.startswith(m) for m in _MAGIC)


def is_image_path(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


# Bytes per pixel of the Pillow modes we decode (others are converted to RGB: 3).
_MODE_BYTES = {"1": 1, "L": 1, "P": 1, "LA": 2, "PA": 2, "La": 2, "RGB": 3, "RGBA": 4, "RGBa": 4,
               "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2, "I": 4, "F": 4, "CMYK": 4}


def check_budget(im: Any, name: str) -> None:
    """Refuse an image (page) whose declared size is over the pixel or byte budget."""
    w, h = im.size
    _limits.check_frame(name, int(w), int(h), _MODE_BYTES.get(im.mode, 4))


def open_image(path: Path) -> Any:
    """Open (not decode) an image with Pillow; one-line SourceError on failure."""
    from PIL import Image, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            # Pillow warns about corrupt EXIF and the like: the image still opens, nothing to tell the user.
            warnings.simplefilter("ignore")
            # A decompression bomb is an expected, user-explainable failure, not a warning.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im = Image.open(path)
    except FileNotFoundError:
        raise SourceError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SourceError(f"{path}: is a folder, not an image") from None
    except PermissionError:
        raise SourceError(f"{path}: permission denied") from None
    except UnidentifiedImageError:
        raise UnsupportedFormatError(
            f"{path.name}: not a readable image (unknown or corrupt format)"
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SourceError(
            f"{path.name}: image is too large to open safely (over {_limits.megapixels(Image.MAX_IMAGE_PIXELS or 0)})"
        ) from None
    except OSError as err:
        raise SourceError(f"{path.name}: cannot open image ({first_line(err, 160)})") from None
    except MemoryError:
        raise SourceError(f"{path.name}: not enough memory to open this image") from None
    except Exception as err:  # noqa: BLE001 - e.g. ValueError "Decompressed Data Too Large" (PNG zTXt/iCCP)
        raise SourceError(f"{path.name}: corrupt or unsupported image ({first_line(err, 160)})") from None
    try:
        check_budget(im, path.name)
    except SourceError:
        im.close()
        raise
    return im


def frame_count(im: Any, name: str) -> int:
    """Pages / frames of an opened image (Pillow reads a TIFF's page chain to count them)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            n = int(getattr(im, "n_frames", 1) or 1)
    except Exception as err:  # noqa: BLE001 - TypeError "Missing dimensions", SyntaxError "unknown pixel mode"...
        raise SourceError(f"{name}: corrupt or unsupported image ({first_line(err, 160)})") from None
    if n > _limits.MAX_IMAGE_FRAMES:
        raise SourceError(
            f"{name}: corrupt or unsupported image (it declares {n:,} frames; the limit is {_limits.MAX_IMAGE_FRAMES:,})"
        )
    return max(1, n)


def dpi(im: Any) -> list[float] | None:
    """The image's (x, y) resolution when it holds two finite positive numbers."""
    value = im.info.get("dpi")
    try:
        x, y = float(value[0]), float(value[1])
    except (TypeError, ValueError, IndexError, KeyError, OverflowError):
        return None
    return [x, y] if x > 0 and y > 0 and x < 1e6 and y < 1e6 else None


def bits_of(im: Any) -> int:
    """Bits per sample as stored in the file (before Pillow's own reduction)."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return 16
    if im.mode in ("I", "F"):
        return 32
    if im.mode == "1":
        return 1
    for tile in getattr(im, "tile", None) or []:
        rawmode = tile[3] if len(tile) > 3 else None
        if isinstance(rawmode, tuple):
            rawmode = rawmode[0] if rawmode else None
        if isinstance(rawmode, str) and _RAW16.search(rawmode):
            return 16
    return 8


def decode(im: Any, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    """Decode the current frame of an opened Pillow image to display pixels + meta."""
    from PIL import Image, ImageOps

    check_budget(im, name)  # again: a later page of a TIFF may declare a different size
    bits = bits_of(im)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # corrupt EXIF / metadata warnings: the pixels are what matter
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            im.load()
            if getattr(im, "n_frames", 1) == 1:
                # EXIF orientation (phones, some capture tools): show the image upright (in place:
                # without, Pillow copies the whole image even when there is nothing to turn).
                ImageOps.exif_transpose(im, in_place=True)
            px = _pixels(im, Image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise SourceError(f"{name}: image is too large to open safely") from None
    except MemoryError:
        raise SourceError(f"{name}: not enough memory to decode this image") from None
    except Exception as err:  # noqa: BLE001 - Pillow reports damage as OSError, ValueError, SyntaxError, EOFError...
        raise SourceError(f"{name}: corrupt or truncated image ({first_line(err, 160)})") from None
    return px, {"bits_stored": bits, "mode": im.mode}


def _over_black(im: Any) -> np.ndarray:
    """RGBA / LA composited over black, in bands of rows: Pillow premultiplies each band in C
    (RGBa / La: round(c * a / 255), exactly :func:`._convert.rgba_to_rgb` with a black background)."""
    from PIL import Image

    w, h = im.size
    grey = im.mode == "LA"
    out = np.empty((h, w) if grey else (h, w, 3), dtype=np.uint8)
    step = max(1, 4 * _convert.BLOCK_ELEMENTS // max(1, w))
    for top in range(0, h, step):
        band = im.crop((0, top, w, min(h, top + step))).convert("La" if grey else "RGBa")
        colour = band.getchannel(0) if grey else Image.merge("RGB", band.split()[:3])
        px = np.asarray(colour)
        out[top : top + px.shape[0]] = px
    return out


def _pixels(im: Any, image_mod: Any) -> np.ndarray:
    mode = im.mode
    if mode == "1":
        return _convert.finalize(np.asarray(im.convert("L")))
    if mode == "L":
        return _convert.finalize(np.asarray(im))
    if mode == "LA":
        return _over_black(im)
    if mode in ("P", "PA"):
        rgb = _over_black(im.convert("RGBA"))
        if _is_grey(rgb):
            return _convert.finalize(rgb[:, :, 0])
        return _convert.finalize(rgb)
    if mode == "RGB":
        return _convert.finalize(np.asarray(im))
    if mode == "RGBA":
        return _over_black(im)
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(im)
        return _convert.to_display(arr)
    if mode in ("La", "RGBa"):
        return _pixels(im.convert("RGBA" if mode == "RGBa" else "LA"), image_mod)
    # CMYK, YCbCr, LAB, HSV, RGBX...: let Pillow do the colour conversion.
    return _convert.finalize(np.asarray(im.convert("RGB")))


def _is_grey(rgb: np.ndarray) -> bool:
    return bool(np.array_equal(rgb[:, :, 0], rgb[:, :, 1]) and np.array_equal(rgb[:, :, 1], rgb[:, :, 2]))
