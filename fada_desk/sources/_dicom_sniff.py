"""What a DICOM file looks like from its first bytes, decided in microseconds.

Before pydicom parses anything we read the first 64 KiB and decide: a
standard file (128-byte preamble, "DICM", file meta information), a file whose
"DICM" marker is damaged, a file whose meta information is damaged, a file
without preamble (meta first, or an old ACR-NEMA style bare data set) - or
not DICOM at all. A zero-filled file (an interrupted copy) or any other
non-DICOM file is refused here instead of being parsed at ~0.7 s per MB.

Everything is read from the first bytes only, with plain ``struct`` calls.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from typing import BinaryIO

from fada_desk.core.errors import SourceError, UnsupportedFormatError

HEAD_BYTES = 64 << 10
DEFLATED = "1.2.840.10008.1.2.1.99"
# Explicit VRs (PS3.5 6.2) and those with a 4-byte length (PS3.5 7.1.2).
VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)
LONG_VRS = frozenset(b"OB OD OF OL OV OW SQ UC UN UR UT SV UV".split())
_TS_RE = re.compile(rb"1\.2\.840\.10008\.1\.2(?:\.[0-9]+)*")
# The first element of a data set (group 0008 almost always) in explicit VR little endian.
_DATASET_START = re.compile(rb"\x08\x00..(?:" + b"|".join(sorted(VRS)) + rb")", re.DOTALL)


@dataclass(frozen=True)
class Start:
    """Where and how pydicom should read the file.

    ``offset``: pydicom reads from here (0, or past a damaged preamble/meta);
    ``forced``: why the file is not standard ("" when it is) - pydicom then
    reads with ``force=True`` and the source says so in its metadata;
    ``meta``: the file meta information is present at ``offset``;
    ``transfer_syntax``: the Transfer Syntax UID found in the meta bytes (or salvaged from them);
    ``dataset_offset``: where the data set starts, when known (-1 otherwise).
    """

    offset: int
    forced: str
    meta: bool
    transfer_syntax: str
    dataset_offset: int


def _element(buf: bytes, pos: int) -> tuple[int, int, bytes, int, int] | None:
    """(group, element, VR, value offset, value length) of an explicit VR LE element, or None."""
    if pos + 8 > len(buf):
        return None
    group, elem = struct.unpack_from("<HH", buf, pos)
    vr = buf[pos + 4 : pos + 6]
    if vr not in VRS:
        return None
    if vr in LONG_VRS:
        if pos + 12 > len(buf):
            return None
        (length,) = struct.unpack_from("<L", buf, pos + 8)
        return group, elem, vr, pos + 12, length
    (length,) = struct.unpack_from("<H", buf, pos + 6)
    return group, elem, vr, pos + 8, length


class Cut(Exception):
    """The buffer (the whole file) ends inside the file meta information."""


def scan_meta(buf: bytes, pos: int, whole: bool = False) -> tuple[int, str] | None:
    """The group 0002 elements from ``pos``: (offset after them, Transfer Syntax UID); None if damaged.

    ``whole``: ``buf`` is the whole file, so running off its end raises :class:`Cut`.
    """
    ts = ""
    for _ in range(256):
        if pos == len(buf) or (pos + 2 <= len(buf) and buf[pos : pos + 2] != b"\x02\x00"):
            return pos, ts  # the data set (or the end of a file that holds only its meta) starts here
        el = _element(buf, pos)
        if el is None:
            if whole and pos + 12 > len(buf):
                raise Cut
            return None
        _group, elem, _vr, value, length = el
        if length == 0xFFFFFFFF:
            return None
        if value + length > len(buf):
            if whole:
                raise Cut
            return None
        if elem == 0x0010:
            ts = buf[value : value + length].decode("ascii", "replace").strip(" \0")
        pos = value + length
    return None


def _plausible_start(buf: bytes, size: int) -> bool:
    """Do the first bytes look like a DICOM element (explicit or implicit VR little endian)?"""
    if len(buf) < 8:
        return False
    group, _elem = struct.unpack_from("<HH", buf, 0)
    if group == 0 or group % 2 or group > 0x7FE0:
        return False  # zero bytes, private or impossible groups cannot start a data set
    if buf[4:6] in VRS:
        return True
    (length,) = struct.unpack_from("<L", buf, 4)
    return length <= size  # implicit VR: a length that fits in the file


def sniff(fp: BinaryIO, size: int, name: str) -> Start:
    """Classify the file from its first bytes; UnsupportedFormatError when it is not DICOM."""
    fp.seek(0)
    head = fp.read(HEAD_BYTES)
    if not head:
        raise UnsupportedFormatError(f"{name}: not a DICOM file (it is empty)")
    if head[128:132] == b"DICM":
        try:
            meta = scan_meta(head, 132, whole=len(head) >= size)
        except Cut:
            raise SourceError(
                f"{name}: DICOM file is truncated (it ends inside the file meta information)"
            ) from None
        if meta is not None:
            end, ts = meta
            _check_not_zero(head, end, size, name)
            return Start(0, "", True, ts, end)
        return _salvage(head, name, "file meta information damaged")
    if len(head) >= 140 and head[132:134] == b"\x02\x00" and scan_meta(head, 132) is not None:
        end, ts = scan_meta(head, 132) or (132, "")
        _check_not_zero(head, end, size, name)
        return Start(132, "the DICM marker is damaged", True, ts, end - 132)
    if head[:2] == b"\x02\x00" and scan_meta(head, 0) is not None:
        end, ts = scan_meta(head, 0) or (0, "")
        _check_not_zero(head, end, size, name)
        return Start(0, "no preamble", True, ts, end)
    if _plausible_start(head, size):
        return Start(0, "no preamble and no file meta information (an ACR-NEMA style data set)", False, "", 0)
    if not head.strip(b"\0"):
        raise UnsupportedFormatError(
            f"{name}: not a DICOM file (it starts with zero bytes: an interrupted copy?)"
        )
    raise UnsupportedFormatError(f"{name}: not a DICOM file")


def _check_not_zero(head: bytes, pos: int, size: int, name: str) -> None:
    if pos + 8 <= len(head) and head[pos : pos + 8] == bytes(8):
        raise SourceError(
            f"{name}: corrupt or unsupported file: zero bytes where the data set should start "
            f"(byte {pos} of {size:,}: an interrupted copy?)"
        )


def _chain(buf: bytes, pos: int, n: int = 3) -> bool:
    """Do ``n`` explicit VR LE data set elements (ascending tags, lengths that fit) start at ``pos``?"""
    last = -1
    for _ in range(n):
        el = _element(buf, pos)
        if el is None:
            return False
        group, elem, vr, value, length = el
        tag = group << 16 | elem
        if group < 0x0008 or tag <= last or (length != 0xFFFFFFFF and value + length > len(buf)):
            return False
        if length == 0xFFFFFFFF:
            return vr in (b"SQ", b"UN", b"OB")
        last, pos = tag, value + length
        if pos >= len(buf):
            return True
    return True


def _salvage(head: bytes, name: str, why: str) -> Start:
    """ "DICM" but unreadable meta: the Transfer Syntax UID from its bytes, the data set from its first element."""
    found = _TS_RE.search(head, 132, 132 + 1024)
    ts = found.group(0).decode("ascii") if found else ""
    candidates = []
    el = _element(head, 132)
    if el is not None and el[:2] == (0x0002, 0x0000) and el[4] == 4:
        (group_length,) = struct.unpack_from("<L", head, el[3])
        candidates.append(el[3] + 4 + group_length)  # (0002,0000) says where the meta ends
    candidates += [m.start() for m in _DATASET_START.finditer(head, 132)]
    for pos in candidates:
        if _chain(head, pos):
            return Start(pos, why, False, ts, 0)
    raise SourceError(f"{name}: corrupt or unsupported file: {why} and no data set found after it")


class OffsetFile:
    """A read-only view of ``fp`` from byte ``offset`` on (pydicom reads past a damaged preamble)."""

    def __init__(self, fp: BinaryIO, offset: int) -> None:
        self._fp = fp
        self._offset = offset

    def read(self, n: int = -1) -> bytes:
        return self._fp.read(n)

    def seek(self, pos: int, whence: int = 0) -> int:
        if whence == 0:
            return self._fp.seek(pos + self._offset) - self._offset
        return self._fp.seek(pos, whence) - self._offset

    def tell(self) -> int:
        return self._fp.tell() - self._offset
