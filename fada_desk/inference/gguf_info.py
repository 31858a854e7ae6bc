"""Read a GGUF file's header without loading it: integrity and identity checks.

llama.cpp may abort the whole process on a damaged file, so files are checked
here first: the magic and version, a header that parses, and - from the
tensor table - the byte size the file must have (a download cut short is
caught even when no checksum is known). The metadata also says what the file
is: ``general.architecture`` (``clip`` for a vision projector / mmproj) and the
quantisation (``general.file_type``).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from fada_desk.core.errors import ModelError

GGUF_MAGIC = b"GGUF"

# ggml_type -> (block size in elements, bytes per block)
GGML_TYPE_SIZES: dict[int, tuple[int, int]] = {
    0: (1, 4),
    1: (1, 2),
    2: (32, 18),
    3: (32, 20),
    6: (32, 22),
    7: (32, 24),
    8: (32, 34),
    9: (32, 36),
    10: (256, 84),
    11: (256, 110),
    12: (256, 144),
    13: (256, 176),
    14: (256, 210),
    15: (256, 292),
    16: (256, 66),
    17: (256, 74),
    18: (256, 98),
    19: (256, 50),
    20: (32, 18),
    21: (256, 110),
    22: (256, 82),
    23: (256, 136),
    24: (1, 1),
    25: (1, 2),
    26: (1, 4),
    27: (1, 8),
    28: (1, 8),
    29: (256, 56),
    30: (1, 2),
    34: (256, 54),
    35: (256, 66),
    39: (32, 17),
}

# llama_ftype (general.file_type) -> name
FILE_TYPES: dict[int, str] = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
    36: "TQ1_0",
    37: "TQ2_0",
    38: "MXFP4_MOE",
}

_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9
_MAX_ITEMS = 1 << 28  # refuse absurd counts from a corrupt header instead of allocating


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    tensor_count: int
    metadata: dict[str, Any] = field(repr=False)
    required_size: int | None  # None when a tensor type is unknown to this reader

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def is_projector(self) -> bool:
        return self.architecture == "clip" or any(k.startswith("clip.") for k in self.metadata)

    @property
    def quantization(self) -> str:
        ft = self.metadata.get("general.file_type")
        if isinstance(ft, int):
            return FILE_TYPES.get(ft, f"type {ft}")
        ft = self.metadata.get("clip.use_f16")
        return "F16" if ft else ""

    @property
    def name(self) -> str:
        return str(self.metadata.get("general.name", ""))

    @property
    def truncated(self) -> bool:
        return self.required_size is not None and self.file_size < self.required_size


class _Reader:
    def __init__(self, f: BinaryIO, size: int, path: Path) -> None:
        self.f, self.size, self.path = f, size, path

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise ModelError(f"{self.path.name}: the file is truncated (its header ends early)")
        return b

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.scalar("<Q")
        if n > self.size:
            raise ModelError(f"{self.path.name}: corrupt GGUF header (string length {n})")
        return self.read(n).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            return self.string()
        if vtype == _ARRAY:
            itype = self.scalar("<I")
            n = self.scalar("<Q")
            if n > _MAX_ITEMS:
                raise ModelError(f"{self.path.name}: corrupt GGUF header (array of {n} items)")
            if itype in _SCALARS and not keep:
                self.f.seek(n * struct.calcsize(_SCALARS[itype]), 1)
                return None
            items = [self.value(itype, keep) for _ in range(n)]
            return items if keep else None
        raise ModelError(f"{self.path.name}: corrupt GGUF header (unknown value type {vtype})")


def read_gguf_info(path: str | Path) -> GGUFInfo:
    """Parse the header of ``path``. Raises :class:`ModelError` with a clear message."""
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: model file not found")
    size = path.stat().st_size
    if size < 24:
        raise ModelError(f"{path.name}: not a GGUF model file (only {size} bytes)")
    try:
        with path.open("rb") as f:
            r = _Reader(f, size, path)
            if r.read(4) != GGUF_MAGIC:
                raise ModelError(f"{path.name}: not a GGUF model file (wrong magic bytes)")
            version = r.scalar("<I")
            if version not in (2, 3):
                raise ModelError(f"{path.name}: unsupported GGUF version {version}")
            n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
            if n_tensors > _MAX_ITEMS or n_kv > _MAX_ITEMS:
                raise ModelError(f"{path.name}: corrupt GGUF header")
            meta: dict[str, Any] = {}
            for _ in range(n_kv):
                key = r.string()
                vtype = r.scalar("<I")
                # big arrays (tokenizer vocab) are skipped or kept small
                keep = not key.startswith("tokenizer.")
                val = r.value(vtype, keep)
                if keep:
                    meta[key] = val
            required: int | None = 0
            ends = []
            for _ in range(n_tensors):
                r.string()
                n_dims = r.scalar("<I")
                if n_dims > 8:
                    raise ModelError(f"{path.name}: corrupt GGUF tensor table")
                dims = [r.scalar("<Q") for _ in range(n_dims)]
                ttype = r.scalar("<I")
                offset = r.scalar("<Q")
                elems = 1
                for d in dims:
                    elems *= d
                if ttype not in GGML_TYPE_SIZES:
                    required = None
                    continue
                block, nbytes = GGML_TYPE_SIZES[ttype]
                ends.append(offset + (elems // block) * nbytes)
            align = int(meta.get("general.alignment", 32) or 32)
            data_start = -(-f.tell() // align) * align
            if required is not None:
                required = data_start + (max(ends) if ends else 0)
    except OSError as err:
        raise ModelError(f"{path.name}: cannot read the model file ({err.strerror or err})") from None
    return GGUFInfo(path, version, size, n_tensors, meta, required)


def check_gguf(path: str | Path, role: str = "") -> GGUFInfo:
    """:func:`read_gguf_info` plus the truncation and role checks; raises ModelError."""
    info = read_gguf_info(path)
    p = Path(path)
    if info.truncated:
        raise ModelError(
            f"{p.name}: the file is truncated ({info.file_size:,} of at least "
            f"{info.required_size:,} bytes) - download or copy it again"
        )
    if role == "mmproj" and not info.is_projector:
        raise ModelError(f"{p.name}: this is a language model, not the vision projector (mmproj)")
    if role == "model" and info.is_projector:
        raise ModelError(f"{p.name}: this is the vision projector (mmproj), not the language model")
    return info
