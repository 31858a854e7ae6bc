"""A tolerant DICOM element walker that knows where every header field sits in the file.

pydicom turns a file into values; the fuzzer needs the opposite: the byte
offsets of each element's tag, VR, length field and value (inside sequences
and encapsulated pixel data too), so it can edit one field and leave the rest
of the file bit-exact. The walker stops quietly at the first thing it cannot
parse (it is run on damaged files as often as on good ones).
"""

from __future__ import annotations

from dataclasses import dataclass, field

IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_BE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"UC", b"UR", b"UT", b"UN", b"SV", b"UV"})
UNDEFINED = 0xFFFFFFFF
ITEM, ITEM_END, SEQ_END = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
PIXEL_DATA = 0x7FE00010
TRANSFER_SYNTAX = 0x00020010
GROUP2_LENGTH = 0x00020000


@dataclass
class Element:
    tag: int
    vr: str  # "" for items / delimiters; from the dictionary for implicit VR
    offset: int  # where the tag starts
    vr_at: int | None  # None: implicit VR (or an item)
    len_at: int
    len_size: int  # 2 or 4
    value_at: int
    length: int  # UNDEFINED for undefined-length sequences / items / pixel data
    little: bool
    parents: list[int] = field(default_factory=list)  # indexes (in the walk) of enclosing SQ / items
    depth: int = 0

    @property
    def end(self) -> int:
        return self.value_at + (0 if self.length == UNDEFINED else self.length)


def _dict_vr(tag: int) -> str:
    try:
        from pydicom.datadict import dictionary_VR

        vr = dictionary_VR(tag)
    except (KeyError, ImportError):
        return "UN"
    return vr.split(" or ")[0]


class _Walker:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.out: list[Element] = []

    def u16(self, p: int, little: bool) -> int:
        return int.from_bytes(self.data[p : p + 2], "little" if little else "big")

    def u32(self, p: int, little: bool) -> int:
        return int.from_bytes(self.data[p : p + 4], "little" if little else "big")

    def header(self, p: int, explicit: bool, little: bool, parents: list[int]) -> Element | None:
        d = self.data
        if p + 8 > len(d):
            return None
        tag = (self.u16(p, little) << 16) | self.u16(p + 2, little)
        if tag in (ITEM, ITEM_END, SEQ_END):  # items and delimiters: always 4-byte length, no VR
            return Element(tag, "", p, None, p + 4, 4, p + 8, self.u32(p + 4, little), little, list(parents),
                           len(parents))
        if explicit:
            vr = d[p + 4 : p + 6]
            if len(vr) < 2 or not all(65 <= c <= 90 for c in vr):
                return None
            if vr in LONG_VRS:
                if p + 12 > len(d):
                    return None
                return Element(tag, vr.decode(), p, p + 4, p + 8, 4, p + 12, self.u32(p + 8, little), little,
                               list(parents), len(parents))
            return Element(tag, vr.decode(), p, p + 4, p + 6, 2, p + 8, self.u16(p + 6, little), little,
                           list(parents), len(parents))
        return Element(tag, _dict_vr(tag), p, None, p + 4, 4, p + 8, self.u32(p + 4, little), little,
                       list(parents), len(parents))

    def elements(self, p: int, end: int, explicit: bool, little: bool, parents: list[int],
                 stop_tag: int | None = None, group2_only: bool = False) -> int:
        """Walk elements from ``p`` until ``end`` (or ``stop_tag``); returns where it stopped."""
        while p < end:
            if group2_only and (p + 2 > end or self.u16(p, little) != 0x0002):
                return p
            el = self.header(p, explicit, little, parents)
            if el is None or len(self.out) > 20000:
                return end
            idx = len(self.out)
            self.out.append(el)
            if stop_tag is not None and el.tag == stop_tag:
                return el.value_at
            if el.vr == "SQ" or (el.length == UNDEFINED and el.tag != PIXEL_DATA and el.tag != ITEM):
                p = self.sequence(el, idx, explicit, little, end)
            elif el.tag == PIXEL_DATA and el.length == UNDEFINED:
                p = self.fragments(el, idx, little, end)
            elif el.length == UNDEFINED:
                return end
            else:
                p = el.value_at + el.length
        return p

    def sequence(self, sq: Element, idx: int, explicit: bool, little: bool, end: int) -> int:
        parents = [*sq.parents, idx]
        seq_end = end if sq.length == UNDEFINED else min(end, sq.value_at + sq.length)
        p = sq.value_at
        while p < seq_end:
            item = self.header(p, explicit, little, parents)
            if item is None:
                return seq_end
            if item.tag == SEQ_END:
                self.out.append(item)
                return item.value_at
            if item.tag != ITEM:
                return seq_end
            item_idx = len(self.out)
            self.out.append(item)
            if item.length == UNDEFINED:
                p = self.elements(item.value_at, seq_end, explicit, little, [*parents, item_idx],
                                  stop_tag=ITEM_END)
            else:
                self.elements(item.value_at, min(seq_end, item.value_at + item.length), explicit, little,
                              [*parents, item_idx])
                p = item.value_at + item.length
        return p

    def fragments(self, px: Element, idx: int, little: bool, end: int) -> int:
        p = px.value_at
        while p + 8 <= end:
            item = self.header(p, True, little, [idx])
            if item is None or item.tag not in (ITEM, SEQ_END):
                return end
            self.out.append(item)
            if item.tag == SEQ_END or item.length == UNDEFINED:
                return item.value_at
            p = item.value_at + item.length
        return end


def walk(data: bytes) -> list[Element]:
    """Every element of a DICOM file (Part 10 with or without preamble), in file order."""
    w = _Walker(data)
    p = 132 if data[128:132] == b"DICM" else 0
    p = w.elements(p, len(data), True, True, [], group2_only=True)
    ts = transfer_syntax(data, w.out)
    if ts == DEFLATED:
        return w.out
    w.elements(p, len(data), ts != IMPLICIT_LE, ts != EXPLICIT_BE, [])
    return w.out


def transfer_syntax(data: bytes, elements: list[Element]) -> str:
    for el in elements:
        if el.tag == TRANSFER_SYNTAX:
            return data[el.value_at : el.value_at + el.length].rstrip(b"\0 ").decode("ascii", "replace")
    return IMPLICIT_LE if data[128:132] != b"DICM" else "1.2.840.10008.1.2.1"


def find(elements: list[Element], tag: int, occurrence: int = 0) -> int | None:
    """Index of the ``occurrence``-th element with ``tag`` (wrapping around), or None."""
    hits = [i for i, el in enumerate(elements) if el.tag == tag]
    return hits[occurrence % len(hits)] if hits else None


def replace_value(data: bytes, elements: list[Element], index: int, value: bytes) -> bytes:
    """``data`` with element ``index``'s value replaced and every length that encloses it fixed.

    Fixes the element's own length field, each enclosing defined-length
    sequence and item, and the file meta group length for group 2.
    """
    el = elements[index]
    old_len = 0 if el.length == UNDEFINED else el.length
    delta = len(value) - old_len
    out = bytearray(data[: el.value_at] + value + data[el.value_at + old_len :])
    if el.length != UNDEFINED:
        _put(out, el.len_at, el.len_size, len(value), el.little)
    for pi in el.parents:
        par = elements[pi]
        if par.length != UNDEFINED:
            _put(out, par.len_at, par.len_size, par.length + delta, par.little)
    if (el.tag >> 16) == 0x0002 and el.tag != GROUP2_LENGTH:
        g = find(elements, GROUP2_LENGTH)
        if g is not None and elements[g].length == 4:
            ge = elements[g]
            old = int.from_bytes(out[ge.value_at : ge.value_at + 4], "little")
            out[ge.value_at : ge.value_at + 4] = ((old + delta) & 0xFFFFFFFF).to_bytes(4, "little")
    return bytes(out)


def remove(data: bytes, elements: list[Element], index: int) -> bytes:
    """``data`` without element ``index`` (header and value), enclosing lengths fixed."""
    el = elements[index]
    if el.length == UNDEFINED:
        return data
    size = el.end - el.offset
    out = bytearray(data[: el.offset] + data[el.end :])
    for pi in el.parents:
        par = elements[pi]
        if par.length != UNDEFINED:
            _put(out, par.len_at, par.len_size, par.length - size, par.little)
    return bytes(out)


def _put(buf: bytearray, at: int, size: int, value: int, little: bool) -> None:
    value &= (1 << (8 * size)) - 1
    buf[at : at + size] = value.to_bytes(size, "little" if little else "big")


def put_length(data: bytes, el: Element, value: int) -> bytes:
    buf = bytearray(data)
    _put(buf, el.len_at, el.len_size, value, el.little)
    return bytes(buf)
