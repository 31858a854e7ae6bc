"""Video mutations: the real test cines (MJPEG AVI, H.264 MP4) with damaged containers and streams.

Ops are byte ops (half of them inside the container headers: the AVI ``hdrl``
list and index, the MP4 ``moov`` box) plus structure-aware edits: a chunk or
box size set to a boundary value, a 32-bit field inside a header chunk / box
(frame rate, frame count, width, height, timescale, sample counts and sizes,
chunk offsets) set to 0, 1, -1 or a huge value, and a chunk or box dropped or
duplicated. A zero-filled file of the same size (an interrupted copy) and a
cut-off file come from the byte ops.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path

from devtools.fuzz.core import BYTE_OPS, Op, Seed, apply_byte_op, byte_op, write_mutated
from devtools.fuzz.seeds import data_file

NAME = "video"
SEEDS = ("us_cine_sonosite_30f.avi", "us_cine_sonosite_30f.mp4")
MP4_CONTAINERS = frozenset({b"moov", b"trak", b"mdia", b"minf", b"stbl", b"edts", b"dinf", b"udta", b"mvex"})
RIFF_LISTS = frozenset({b"RIFF", b"LIST"})
_VALUES = (0, 1, 2, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFF, 1000000, 0x10000)


def prepare(root: Path) -> list[Seed]:
    seeds = []
    for name in SEEDS:
        data = data_file("video", name).read_bytes()
        (root / name).write_bytes(data)
        units = structure(data)
        hot = [(u[0], u[0] + min(u[1], 4096)) for u in units if u[2] not in (b"mdat", b"movi", b"00dc")]
        seeds.append(Seed(name, meta={"size": len(data), "units": len(units), "hot": hot or [(0, 4096)]}))
    return seeds


def structure(data: bytes) -> list[tuple[int, int, bytes, int]]:
    """(offset, total size, fourcc, header size) of every RIFF chunk or MP4 box, depth first."""
    if data[:4] == b"RIFF":
        return _riff(data, 0, len(data))
    return _boxes(data, 0, len(data))


def _riff(data: bytes, p: int, end: int) -> list[tuple[int, int, bytes, int]]:
    out: list[tuple[int, int, bytes, int]] = []
    while p + 8 <= end and len(out) < 5000:
        fourcc = bytes(data[p : p + 4])
        size = int.from_bytes(data[p + 4 : p + 8], "little")
        total = 8 + size + (size & 1)
        if p + 8 + size > end:
            break
        out.append((p, total, fourcc, 8))
        if fourcc in RIFF_LISTS and size >= 4:
            out += _riff(data, p + 12, p + 8 + size)
        p += total
    return out


def _boxes(data: bytes, p: int, end: int) -> list[tuple[int, int, bytes, int]]:
    out: list[tuple[int, int, bytes, int]] = []
    while p + 8 <= end and len(out) < 5000:
        size = int.from_bytes(data[p : p + 4], "big")
        kind = bytes(data[p + 4 : p + 8])
        header = 8
        if size == 1 and p + 16 <= end:
            size, header = int.from_bytes(data[p + 8 : p + 16], "big"), 16
        elif size == 0:
            size = end - p
        if size < header or p + size > end:
            break
        out.append((p, size, kind, header))
        if kind in MP4_CONTAINERS:
            out += _boxes(data, p + header, p + size)
        elif kind == b"stsd" and size > header + 8:
            out += _sample_entries(data, p + header + 8, p + size)
        p += size
    return out


def _sample_entries(data: bytes, p: int, end: int) -> list[tuple[int, int, bytes, int]]:
    out = _boxes(data, p, end)
    for off, size, kind, header in list(out):
        if kind in (b"avc1", b"hvc1", b"mp4v") and size > header + 78:
            out += _boxes(data, off + header + 78, off + size)  # avcC / pasp / btrt after the visual fields
    return out


def generate(rng: random.Random, seed: Seed) -> Op:
    r = rng.random()
    n = seed.meta["units"]
    if n and r < 0.2:
        return ("unit_size", rng.randrange(n), rng.choice(_VALUES))
    if n and r < 0.55:
        return ("unit_field", rng.randrange(n), rng.randrange(0, 64, 2), rng.choice(_VALUES),
                rng.choice((2, 4)))
    if n and r < 0.62:
        return (rng.choice(("unit_drop", "unit_dup")), rng.randrange(n))
    return byte_op(rng, seed.meta["size"], seed.meta["hot"])


def materialize(seed_bytes: bytes, ops: tuple[Op, ...], workdir: Path, seed: Seed) -> Path:
    return write_mutated(seed_bytes, ops, apply, workdir, seed.name)


def apply(data: bytes, op: Op) -> bytes:
    kind = op[0]
    if kind in BYTE_OPS:
        return bytes(apply_byte_op(bytearray(data), op))
    units = structure(data)
    if not units:
        return data
    off, size, _, header = units[op[1] % len(units)]
    riff = data[:4] == b"RIFF"
    buf = bytearray(data)
    if kind == "unit_size":
        if riff:
            struct.pack_into("<I", buf, off + 4, op[2])
        else:
            struct.pack_into(">I", buf, off, op[2] if header == 8 else 1)
            if header == 16:
                struct.pack_into(">Q", buf, off + 8, op[2])
        return bytes(buf)
    if kind == "unit_field":
        at = off + header + (4 if riff and data[off : off + 4] in RIFF_LISTS else 0) + op[2]
        width = op[4]
        if at + width <= min(len(buf), off + size):
            value = op[3] & ((1 << (8 * width)) - 1)
            buf[at : at + width] = value.to_bytes(width, "little" if riff else "big")
        return bytes(buf)
    if kind == "unit_drop":
        return data[:off] + data[off + size :]
    if kind == "unit_dup":
        return data[: off + size] + data[off : off + size] + data[off + size :]
    raise ValueError(f"unknown video op {kind!r}")
