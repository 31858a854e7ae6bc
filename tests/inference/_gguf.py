"""Write small, valid GGUF v3 files for model-manager tests (F32 tensors only)."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

_ALIGN = 32


def _s(text: str) -> bytes:
    b = text.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def write_gguf(
    path: Path,
    arch: str = "qwen35",
    *,
    name: str = "tiny",
    file_type: int | None = 15,
    tensors: dict[str, np.ndarray] | None = None,
    seed: int = 0,
) -> Path:
    """A GGUF with ``general.architecture = arch`` (``clip`` makes it a projector)."""
    rng = np.random.default_rng(seed)
    tensors = tensors or {
        "blk.0.w": rng.standard_normal((8, 16)).astype(np.float32),
        "blk.0.b": rng.standard_normal(16).astype(np.float32),
    }
    meta = [
        ("general.architecture", 8, _s(arch)),
        ("general.name", 8, _s(name)),
        ("general.alignment", 4, struct.pack("<I", _ALIGN)),
    ]
    if file_type is not None and arch != "clip":
        meta.append(("general.file_type", 4, struct.pack("<I", file_type)))
    if arch == "clip":
        meta.append(("clip.has_vision_encoder", 7, struct.pack("<?", True)))
    else:
        meta.append(("tokenizer.ggml.tokens", 9, struct.pack("<IQ", 8, 3) + _s("a") + _s("b") + _s("c")))
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)))
    for key, vtype, payload in meta:
        out += _s(key) + struct.pack("<I", vtype) + payload
    offset = 0
    blobs = []
    for tname, arr in tensors.items():
        dims = list(reversed(arr.shape))  # ggml order: innermost first
        out += _s(tname) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        out += struct.pack("<IQ", 0, offset)
        data = arr.astype("<f4").tobytes()
        blobs.append((offset, data))
        offset += -(-len(data) // _ALIGN) * _ALIGN
    out += b"\0" * (-len(out) % _ALIGN)
    start = len(out)
    body = bytearray(offset)
    for off, data in blobs:
        body[off : off + len(data)] = data
    out += body
    assert len(out) == start + offset
    Path(path).write_bytes(bytes(out))
    return Path(path)


def make_set(
    folder: Path, model: str = "fada-model-Q4_K_M.gguf", mmproj: str = "mmproj-fada-F16.gguf", seed: int = 0
) -> tuple[Path, Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return (
        write_gguf(folder / model, "qwen35", seed=seed),
        write_gguf(folder / mmproj, "clip", name="vision", seed=seed + 1),
    )
