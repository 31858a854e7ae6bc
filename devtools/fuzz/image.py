"""Image mutations: PNG chunks and JPEG segments damaged in ways that get past the first checks.

Seeds are the two real HC18 ultrasound PNGs and files written from the first
of them in the other shapes the image source handles (RGBA, palette, 16-bit
grey, interlaced PNG, baseline and progressive JPEG, 2-page TIFF, animated
GIF, BMP, WebP), plus a rare 8000 x 8000 RGBA PNG of zeros (a 256 MB image in
a 0.3 MB file, under the pixel budget: it must open in bounded memory). Ops:

* byte ops anywhere (half of them in the first 1 KB);
* PNG: a byte op inside one chunk with its CRC recomputed (so the damage
  reaches the decoder), an IHDR field set (size, depth, colour type,
  interlace), a chunk inserted (text / ICC / palette / transparency / APNG
  chunks, zlib bombs over Pillow's text limit), dropped or duplicated;
* JPEG: a byte op inside one marker segment, a SOF field set (precision,
  height, width, components), a segment dropped or duplicated.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from devtools.fuzz.core import BYTE_OPS, Op, Seed, apply_byte_op, byte_op, write_mutated
from devtools.fuzz.seeds import data_file

NAME = "image"
PNG_SIG = b"\x89PNG\r\n\x1a\n"
_BOMB = "gen_bomb_rgba_8000.png"


def prepare(root: Path) -> list[Seed]:
    from PIL import Image

    seeds = []
    for name in ("001_HC.png", "019_HC.png"):
        (root / name).write_bytes(data_file("images", name).read_bytes())
        seeds.append(Seed(name))
    with Image.open(root / "001_HC.png") as im:
        grey = im.convert("L").resize((200, 135))
    rgb = grey.convert("RGB")
    rgba = rgb.copy()
    rgba.putalpha(grey.point(lambda v: 255 - v // 2))
    writers = {
        "gen_rgba.png": lambda p: rgba.save(p, "PNG"),
        "gen_palette.png": lambda p: rgb.quantize(64).save(p, "PNG", transparency=0),
        "gen_grey16.png": lambda p: grey.point(lambda v: v * 256, "I").convert("I;16").save(p, "PNG"),
        "gen_interlaced.png": lambda p: rgb.save(p, "PNG", interlace=1),
        "gen_text.png": lambda p: _png_with_text(rgb, p),
        "gen_baseline.jpg": lambda p: rgb.save(p, "JPEG", quality=80),
        "gen_progressive.jpg": lambda p: grey.save(p, "JPEG", quality=80, progressive=True),
        "gen_pages.tif": lambda p: rgb.save(p, "TIFF", save_all=True, append_images=[grey.convert("RGB")]),
        "gen_anim.gif": lambda p: grey.save(p, "GIF", save_all=True, append_images=[rgb], duration=40, loop=0),
        "gen_plain.bmp": lambda p: rgb.save(p, "BMP"),
        "gen_lossless.webp": lambda p: rgb.save(p, "WEBP", lossless=True),
    }
    for name, write in writers.items():
        write(root / name)
        seeds.append(Seed(name))
    (root / _BOMB).write_bytes(_zero_png(8000, 8000, 6))
    seeds.append(Seed(_BOMB, weight=0.03))  # ~10 s to decode, accepted (under the budget): rare
    for s in seeds:
        data = (root / s.name).read_bytes()
        s.meta.update(size=len(data), chunks=len(png_chunks(data)) if data.startswith(PNG_SIG) else 0,
                      segments=len(jpeg_segments(data)) if data.startswith(b"\xff\xd8") else 0)
    return seeds


def _png_with_text(im: object, path: Path) -> None:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "fetal head, HC18 001")
    info.add_text("Software", "fuzz seed", zip=True)
    im.save(path, "PNG", pnginfo=info)  # type: ignore[attr-defined]


def _chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data))


def _zero_png(w: int, h: int, colour: int, depth: int = 8) -> bytes:
    """A valid PNG of zeros, compressed row by row (never holds the raw image)."""
    channels = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}[colour]
    row = b"\0" + bytes((w * channels * depth + 7) // 8)
    z = zlib.compressobj(9)
    parts = [z.compress(row) for _ in range(h)]
    parts.append(z.flush())
    ihdr = struct.pack(">IIBBBBB", w, h, depth, colour, 0, 0, 0)
    return PNG_SIG + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def png_chunks(data: bytes) -> list[tuple[int, int, bytes]]:
    """(offset, data length, type) of each chunk, stopping at the first that does not fit."""
    out, p = [], 8
    while p + 12 <= len(data):
        length = int.from_bytes(data[p : p + 4], "big")
        if p + 12 + length > len(data):
            break
        out.append((p, length, bytes(data[p + 4 : p + 8])))
        p += 12 + length
    return out


def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(offset of the marker, payload length, marker byte) of each segment up to the first scan."""
    out, p = [], 2
    while p + 4 <= len(data) and data[p] == 0xFF:
        marker = data[p + 1]
        length = int.from_bytes(data[p + 2 : p + 4], "big")
        out.append((p, max(0, length - 2), marker))
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            break
        p += 2 + length
    return out


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------

_CHUNK_INSERTS = (  # built when the input is written: an op carries only the recipe's index
    (b"zTXt", lambda: b"Comment\0\0" + zlib.compress(b"a" * (2 << 20), 9)),  # over Pillow's 1 MB text limit
    (b"iTXt", lambda: b"XML:com.adobe.xmp\0\1\0\0\0" + zlib.compress(b"<x>" * (1 << 20), 9)),
    (b"tEXt", lambda: b"Comment\0" + b"x" * (1100 << 10)),
    (b"iCCP", lambda: b"icc\0\0" + zlib.compress(b"\0" * (16 << 20), 9)),
    (b"iCCP", lambda: b"icc\0\0" + b"not zlib"),
    (b"PLTE", lambda: bytes(range(256)) * 3),
    (b"PLTE", lambda: b"\1\2"),
    (b"tRNS", lambda: b"\0" * 300),
    (b"acTL", lambda: struct.pack(">II", 0x7FFFFFFF, 0)),
    (b"fcTL", lambda: struct.pack(">IIIIIHHBB", 0, 0xFFFFFF, 0xFFFFFF, 5, 5, 1, 0, 3, 3)),
    (b"pHYs", lambda: struct.pack(">IIB", 0, 0xFFFFFFFF, 1)),
    (b"sBIT", lambda: b"\0\0\0\0\0"),
    (b"eXIf", lambda: b"MM\0*\0\0\0\x08\xff\xff"),
    (b"IDAT", lambda: b"\x78\x9c\xff\xff"),
    (b"IEND", lambda: b""),
)
_IHDR_FIELDS = {  # name: (offset in the IHDR data, struct format, interesting values)
    "width": (0, ">I", (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 65535, 30000, 801)),
    "height": (4, ">I", (0, 1, 0x7FFFFFFF, 0xFFFFFFFF, 65535, 30000, 541)),
    "depth": (8, ">B", (0, 1, 2, 4, 8, 16, 7, 32, 255)),
    "colour": (9, ">B", (0, 2, 3, 4, 6, 1, 5, 7, 255)),
    "compression": (10, ">B", (1, 255)),
    "filter": (11, ">B", (1, 255)),
    "interlace": (12, ">B", (1, 2, 255)),
}
_SOF_FIELDS = {"precision": (0, ">B", (0, 1, 12, 16, 255)), "height": (1, ">H", (0, 1, 65535, 16384)),
               "width": (3, ">H", (0, 1, 65535, 16384)), "components": (5, ">B", (0, 2, 4, 255))}


def generate(rng: random.Random, seed: Seed) -> Op:
    r = rng.random()
    if seed.meta["chunks"] and r < 0.7:
        i = rng.randrange(seed.meta["chunks"])
        r2 = rng.random()
        if r2 < 0.4:
            return ("png_chunk", i, byte_op(rng, 256), rng.random() < 0.85)
        if r2 < 0.65:
            field = rng.choice(list(_IHDR_FIELDS))
            return ("png_ihdr", field, rng.choice(_IHDR_FIELDS[field][2]))
        if r2 < 0.88:
            return ("png_insert", rng.randrange(1, seed.meta["chunks"] + 1), rng.randrange(len(_CHUNK_INSERTS)))
        return (rng.choice(("png_drop", "png_dup")), i)
    if seed.meta["segments"] and r < 0.7:
        i = rng.randrange(seed.meta["segments"])
        r2 = rng.random()
        if r2 < 0.45:
            return ("jpeg_seg", i, byte_op(rng, 64))
        if r2 < 0.85:
            field = rng.choice(list(_SOF_FIELDS))
            return ("jpeg_sof", field, rng.choice(_SOF_FIELDS[field][2]))
        return (rng.choice(("jpeg_drop", "jpeg_dup")), i)
    return byte_op(rng, seed.meta["size"], [(0, min(1024, seed.meta["size"]))])


# ---------------------------------------------------------------------------
# Materialization
# ---------------------------------------------------------------------------

def materialize(seed_bytes: bytes, ops: tuple[Op, ...], workdir: Path, seed: Seed) -> Path:
    return write_mutated(seed_bytes, ops, apply, workdir, seed.name)


def apply(data: bytes, op: Op) -> bytes:
    kind = op[0]
    if kind in BYTE_OPS:
        return bytes(apply_byte_op(bytearray(data), op))
    if kind.startswith("png_"):
        return _apply_png(data, op)
    if kind.startswith("jpeg_"):
        return _apply_jpeg(data, op)
    raise ValueError(f"unknown image op {kind!r}")


def _apply_png(data: bytes, op: Op) -> bytes:
    chunks = png_chunks(data)
    if not chunks:
        return data
    kind = op[0]
    if kind == "png_ihdr":
        p, n, ctype = chunks[0]
        if ctype != b"IHDR" or n < 13:
            return data
        off, fmt, _ = _IHDR_FIELDS[op[1]]
        body = bytearray(data[p + 8 : p + 8 + n])
        struct.pack_into(fmt, body, off, op[2] & ((1 << (8 * struct.calcsize(fmt))) - 1))
        return data[:p] + _chunk(ctype, bytes(body)) + data[p + 12 + n :]
    if kind == "png_insert":
        at = chunks[min(op[1], len(chunks) - 1)][0] if op[1] < len(chunks) else chunks[-1][0]
        ctype, make = _CHUNK_INSERTS[op[2] % len(_CHUNK_INSERTS)]
        return data[:at] + _chunk(ctype, make()) + data[at:]
    p, n, ctype = chunks[op[1] % len(chunks)]
    whole = data[p : p + 12 + n]
    if kind == "png_drop":
        return data[:p] + data[p + 12 + n :]
    if kind == "png_dup":
        return data[: p + 12 + n] + whole + data[p + 12 + n :]
    if kind == "png_chunk":
        body = bytes(apply_byte_op(bytearray(data[p + 8 : p + 8 + n]), op[2]))
        new = _chunk(ctype, body) if op[3] else struct.pack(">I", len(body)) + ctype + body + whole[-4:]
        return data[:p] + new + data[p + 12 + n :]
    raise ValueError(f"unknown png op {kind!r}")


def _apply_jpeg(data: bytes, op: Op) -> bytes:
    segs = jpeg_segments(data)
    if not segs:
        return data
    kind = op[0]
    if kind == "jpeg_sof":
        sof = next((s for s in segs if s[2] in (0xC0, 0xC1, 0xC2, 0xC3, 0xC9, 0xCA)), None)
        if sof is None or sof[1] < 6:
            return data
        off, fmt, _ = _SOF_FIELDS[op[1]]
        buf = bytearray(data)
        struct.pack_into(fmt, buf, sof[0] + 4 + off, op[2])
        return bytes(buf)
    p, n, _ = segs[op[1] % len(segs)]
    end = min(len(data), p + 4 + n)
    if kind == "jpeg_drop":
        return data[:p] + data[end:]
    if kind == "jpeg_dup":
        return data[:end] + data[p:end] + data[end:]
    if kind == "jpeg_seg":
        body = bytes(apply_byte_op(bytearray(data[p + 4 : end]), op[2]))
        length = struct.pack(">H", min(0xFFFF, len(body) + 2))
        return data[: p + 2] + length + body + data[end:]
    raise ValueError(f"unknown jpeg op {kind!r}")
