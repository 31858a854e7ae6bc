"""Resource budgets every open is held to.

A file may declare anything: a 60000 x 60000 PNG of a few kilobytes, a DICOM
header of a gigabyte of zero bytes, a 50 kB deflate stream that inflates to
10 GB. Each source checks what a file *declares* against these budgets before
allocating for it, and refuses with one line saying which limit it hit. The
numbers are module constants so a site (or a test) can change them.
"""

from __future__ import annotations

from fada_desk.core.errors import SourceError

# Pixels of one frame: the limit at which Pillow itself warns (Image.MAX_IMAGE_PIXELS,
# 0.25 GiB of 24-bit RGB). Ultrasound frames are ~1 megapixel; a whole-slide image is not our input.
MAX_FRAME_PIXELS = 89_478_485
# Bytes of one decoded frame as stored (samples x bits allocated), before display conversion.
MAX_FRAME_BYTES = 512 << 20
# DICOM element values read into memory at open; larger values are deferred (read only when used).
MAX_HEADER_BYTES = 64 << 20
DEFER_VALUE_BYTES = 1 << 20
# Elements in a DICOM header (a flat file of tiny elements parses slowly and holds many objects).
MAX_HEADER_ELEMENTS = 500_000
# Pages / frames an image file may declare (an animated PNG's acTL chunk is taken at its word by Pillow).
MAX_IMAGE_FRAMES = 100_000
# A deflated DICOM data set once inflated (it is held in memory whole).
MAX_INFLATED_BYTES = 1 << 30


def megapixels(n: float) -> str:
    return f"{n / 1e6:.1f} megapixels"


def check_frame(name: str, width: int, height: int, samples: int = 1, bytes_per_sample: int = 1) -> None:
    """Refuse a frame whose declared size is over the pixel or byte budget (a decompression bomb)."""
    pixels = int(width) * int(height)
    if pixels > MAX_FRAME_PIXELS:
        raise SourceError(
            f"{name}: image is too large to open safely ({width} x {height} = {megapixels(pixels)}; "
            f"the limit is {megapixels(MAX_FRAME_PIXELS)})"
        )
    size = pixels * max(1, int(samples)) * max(1, int(bytes_per_sample))
    if size > MAX_FRAME_BYTES:
        raise SourceError(
            f"{name}: image is too large to open safely ({width} x {height} x {samples} samples of "
            f"{bytes_per_sample} bytes = {size >> 20} MiB per frame; the limit is {MAX_FRAME_BYTES >> 20} MiB)"
        )
