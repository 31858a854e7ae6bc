"""Where the pixel data sits in a DICOM file, checked without reading it.

A truncated copy (USB stick pulled out, interrupted network transfer) is the
most common damaged file in a clinic. We check the pixel data element against
the file size on open, reading only element and item headers, so the user gets
"file is truncated" instead of a decoder error on frame 37 halfway through a cine.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import BinaryIO

from fada_desk.core.errors import SourceError

PIXEL_TAGS = {0x7FE00010: "PixelData", 0x7FE00008: "FloatPixelData", 0x7FE00009: "DoubleFloatPixelData"}
UNDEFINED = 0xFFFFFFFF
_ITEM, _SEQ_DELIM = 0xFFFEE000, 0xFFFEE0DD
_PIXEL_VRS = (b"OB", b"OW", b"OF", b"OD", b"OL", b"OV", b"UN")


@dataclass(frozen=True)
class PixelLayout:
    """The pixel data element: its keyword, where its value starts, its length.

    For encapsulated data ``fragments`` lists (offset, length) of every
    fragment value (the Basic Offset Table item excluded); ``complete`` is False
    when the file ends before the sequence delimiter.
    """

    keyword: str
    value_offset: int
    length: int  # UNDEFINED for encapsulated data
    available: int  # bytes of the value actually present in the file (native data)
    fragments: tuple[tuple[int, int], ...] = ()
    complete: bool = True
    vr: str = ""  # the element's VR as written ("" when implicit)

    @property
    def encapsulated(self) -> bool:
        return self.length == UNDEFINED


def _file_size(fp: BinaryIO) -> int:
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        pos = fp.tell()
        fp.seek(0, os.SEEK_END)
        size = fp.tell()
        fp.seek(pos)
        return size


def locate(
    fp: BinaryIO, offset: int, implicit_vr: bool, little_endian: bool, name: str
) -> PixelLayout | None:
    """Parse the pixel data element header at ``offset`` (where pydicom stopped before pixels).

    Returns None when there is no pixel data element there (end of file). ``implicit_vr``
    is what the transfer syntax says; the element's own bytes decide (``layout.vr``).
    """
    e = "<" if little_endian else ">"
    size = _file_size(fp)
    fp.seek(offset)
    head = fp.read(8)
    if len(head) < 8:
        return None
    group, elem = struct.unpack(f"{e}HH", head[:4])
    tag = group << 16 | elem
    if tag not in PIXEL_TAGS:
        return None
    # The encoding as found: some writers declare implicit VR and write explicit, or the reverse.
    vr = head[4:6].decode("latin-1") if head[4:6] in _PIXEL_VRS and head[6:8] == b"\0\0" else ""
    if vr and implicit_vr:
        # "OB\0\0" is also an implicit length of 16975: explicit only if its 4-byte length makes sense.
        ext = fp.read(4)
        fp.seek(offset + 8)
        (ext_len,) = struct.unpack(f"{e}L", ext) if len(ext) == 4 else (UNDEFINED - 1,)
        if ext_len != UNDEFINED and ext_len > size - offset - 12:
            vr = ""
    if not vr:
        (length,) = struct.unpack(f"{e}L", head[4:8])
        value_offset = offset + 8
    else:
        more = fp.read(4)
        if len(more) < 4:
            raise SourceError(f"{name}: file is truncated inside the pixel data header")
        (length,) = struct.unpack(f"{e}L", more)
        value_offset = offset + 12
    if length != UNDEFINED:
        available = max(0, min(length, size - value_offset))
        return PixelLayout(PIXEL_TAGS[tag], value_offset, length, available, vr=vr)
    fragments, complete = _scan_items(fp, value_offset, size, e)
    return PixelLayout(PIXEL_TAGS[tag], value_offset, length, 0, fragments, complete, vr)


def _scan_items(fp: BinaryIO, start: int, size: int, e: str) -> tuple[tuple[tuple[int, int], ...], bool]:
    """Item headers of encapsulated pixel data: [(value offset, length)], reached the delimiter?"""
    pos = start
    items: list[tuple[int, int]] = []
    while True:
        fp.seek(pos)
        head = fp.read(8)
        if len(head) < 8:
            return tuple(items[1:]), False
        group, elem, length = struct.unpack(f"{e}HHL", head)
        tag = group << 16 | elem
        if tag == _SEQ_DELIM:
            return tuple(items[1:]), True
        if tag != _ITEM or length == UNDEFINED:
            # Not an item where one must be: the encapsulation is broken from here on.
            return tuple(items[1:]), False
        if pos + 8 + length > size:
            return tuple(items[1:]), False
        items.append((pos + 8, length))
        pos += 8 + length


def copy_fragments(fp: BinaryIO, layout: PixelLayout, out: BinaryIO, chunk: int = 1 << 20) -> int:
    """Write the concatenated fragment values (an MPEG/H.264/HEVC stream) to ``out``; bytes written."""
    total = 0
    for offset, length in layout.fragments:
        fp.seek(offset)
        left = length
        while left > 0:
            data = fp.read(min(chunk, left))
            if not data:
                raise SourceError("file is truncated inside the video stream")
            out.write(data)
            left -= len(data)
            total += len(data)
    return total
