"""Read a GGUF file's header without loading it: integrity and identity checks.

llama.cpp may abort the whole process (not raise) on a truncated or corrupt
file, which would take the sonographer's unsaved work with it. So both the
model manager and the llama.cpp backend check files here first: the magic and
version, a header that parses within the file, and - from the tensor table -
the byte size the file must have (a download cut short is caught even when no
checksum is known). The metadata also says what the file is:
``general.architecture`` (``clip`` for a vision projector / mmproj), the
quantisation (``general.file_type``) and whether a projector fits a model.

Error messages name the file, never the role, except for "not found" and the
role checks: the model manager classifies them by wording ("truncated",
"projector"/"language model" -> wrong role, anything else -> corrupt).
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
_MAX_KEPT_STRING = 1 << 20  # chat templates are kept; anything longer is skipped
_MAX_KEPT_ARRAY = 64  # small arrays (image mean/std) are kept; vocabularies are skipped
_ROLE_LABELS = {"model": "model", "mmproj": "vision projector (mmproj)"}


@dataclass(frozen=True)
class GGUFInfo:
    path: Path
    version: int
    file_size: int
    tensor_count: int
    # scalars, strings up to 1 MiB and arrays up to 64 items; larger values are left out
    metadata: dict[str, Any] = field(repr=False)
    # bytes the tensor data needs; a lower bound when a tensor type is unknown to this reader
    required_size: int
    # name -> (dims, ggml type, absolute file offset of the data)
    tensors: dict[str, tuple[tuple[int, ...], int, int]] = field(default_factory=dict, repr=False)

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def is_projector(self) -> bool:
        return (
            self.architecture == "clip"
            or self.metadata.get("general.type") == "mmproj"
            or any(k.startswith("clip.") for k in self.metadata)
        )

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
        return self.file_size < self.required_size


class _Reader:
    """Bounded reads from the open file: a short read is a truncated header."""

    def __init__(self, f: BinaryIO, size: int, path: Path) -> None:
        self.f, self.size, self.path = f, size, path

    def read(self, n: int) -> bytes:
        b = self.f.read(n)
        if len(b) != n:
            raise ModelError(f"{self.path.name}: the file is truncated (its header ends early)")
        return b

    def skip(self, n: int) -> None:
        if self.f.tell() + n > self.size:
            raise ModelError(f"{self.path.name}: the file is truncated (its header ends early)")
        self.f.seek(n, 1)

    def scalar(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def _length(self) -> int:
        n = self.scalar("<Q")
        if n > self.size:
            raise ModelError(f"{self.path.name}: corrupt GGUF header (string length {n})")
        return int(n)

    def string(self) -> str:
        return self.read(self._length()).decode("utf-8", errors="replace")

    def value(self, vtype: int, keep: bool = True) -> Any:
        """The value, or None when ``keep`` is off or it is too big to keep (then skipped)."""
        if vtype in _SCALARS:
            return self.scalar(_SCALARS[vtype])
        if vtype == _STRING:
            n = self._length()
            if keep and n <= _MAX_KEPT_STRING:
                return self.read(n).decode("utf-8", errors="replace")
            self.skip(n)
            return None
        if vtype == _ARRAY:
            itype = self.scalar("<I")
            n = self.scalar("<Q")
            if n > _MAX_ITEMS:
                raise ModelError(f"{self.path.name}: corrupt GGUF header (array of {n} items)")
            keep = keep and n <= _MAX_KEPT_ARRAY
            if itype in _SCALARS and not keep:
                self.skip(n * struct.calcsize(_SCALARS[itype]))
                return None
            items = [self.value(itype, keep) for _ in range(n)]
            return items if keep else None
        raise ModelError(f"{self.path.name}: corrupt GGUF header (unknown value type {vtype})")


def read_gguf_info(path: str | Path, role: str = "model") -> GGUFInfo:
    """Parse the header of ``path`` (``role`` only words "not found"). Raises :class:`ModelError`.

    A file whose tensor data is cut short still parses; see :attr:`GGUFInfo.truncated`
    and :func:`check_gguf`.
    """
    path = Path(path)
    label = _ROLE_LABELS.get(role, role)
    if not path.exists():
        raise ModelError(f"{label} file not found: {path}")
    if not path.is_file():
        raise ModelError(f"{label} path is not a file: {path}")
    size = path.stat().st_size
    if size < 24:
        raise ModelError(f"{path.name}: not a GGUF model file (empty or truncated: only {size} bytes)")
    try:
        with path.open("rb") as f:
            return _parse(_Reader(f, size, path))
    except OSError as err:
        raise ModelError(f"{path.name}: cannot read the model file ({err.strerror or err})") from None


def _parse(r: _Reader) -> GGUFInfo:
    name = r.path.name
    if r.read(4) != GGUF_MAGIC:
        raise ModelError(f"{name}: not a GGUF model file (wrong magic bytes)")
    version = r.scalar("<I")
    if version not in (2, 3):
        raise ModelError(f"{name}: unsupported GGUF version {version}")
    n_tensors, n_kv = r.scalar("<Q"), r.scalar("<Q")
    if n_tensors > _MAX_ITEMS or n_kv > _MAX_ITEMS:
        raise ModelError(f"{name}: corrupt GGUF header (impossible tensor or key count)")
    meta: dict[str, Any] = {}
    for _ in range(n_kv):
        key = r.string()
        val = r.value(r.scalar("<I"))
        if val is not None:
            meta[key] = val
    ends = []
    table: list[tuple[str, tuple[int, ...], int, int]] = []
    for _ in range(n_tensors):
        tname = r.read(r._length()).decode("utf-8", "replace")
        n_dims = r.scalar("<I")
        if n_dims > 8:
            raise ModelError(f"{name}: corrupt GGUF tensor table ({n_dims} dimensions)")
        dims = [r.scalar("<Q") for _ in range(n_dims)]
        ttype = r.scalar("<I")
        offset = r.scalar("<Q")
        elems = 1
        for d in dims:
            elems *= d
        block, nbytes = GGML_TYPE_SIZES.get(ttype, (1, 0))  # unknown type: only its offset counts
        ends.append(offset + (elems // block) * nbytes)
        table.append((tname, tuple(dims), ttype, offset))
    try:
        align = int(meta.get("general.alignment", 32) or 32)
    except (TypeError, ValueError):
        raise ModelError(f"{name}: corrupt GGUF header (bad alignment)") from None
    data_start = -(-r.f.tell() // align) * align
    required = data_start + (max(ends) if ends else 0)
    tensors = {n: (dims, t, data_start + off) for n, dims, t, off in table}
    return GGUFInfo(r.path, version, r.size, n_tensors, meta, required, tensors)


def _role_error(info: GGUFInfo, role: str) -> str | None:
    if role == "mmproj" and not info.is_projector:
        return f"{info.path.name}: this is a language model, not the vision projector (mmproj)"
    if role == "model" and info.is_projector:
        return f"{info.path.name}: this is the vision projector (mmproj), not the language model"
    return None


def check_gguf(path: str | Path, role: str = "") -> GGUFInfo:
    """:func:`read_gguf_info` plus the truncation, content and role checks; raises ModelError."""
    info = read_gguf_info(path, role or "model")
    name = info.path.name
    if info.truncated:
        raise ModelError(
            f"{name}: the file is truncated ({info.file_size:,} of at least "
            f"{info.required_size:,} bytes) - download or copy it again"
        )
    if info.tensor_count == 0:
        raise ModelError(f"{name}: the file contains no weights")
    problem = _role_error(info, role)
    if problem:
        raise ModelError(problem)
    return info


def check_pair(model: GGUFInfo, mmproj: GGUFInfo | None) -> None:
    """Model and projector are in the right slots and fit together; raises ModelError."""
    problem = _role_error(model, "model") or (_role_error(mmproj, "mmproj") if mmproj else None)
    if problem:
        raise ModelError(problem)
    if mmproj is None:
        return
    if not mmproj.metadata.get("clip.has_vision_encoder", False):
        raise ModelError(f"{mmproj.path.name}: the projector has no vision encoder")
    n_embd = model.metadata.get(f"{model.architecture}.embedding_length")
    proj = mmproj.metadata.get("clip.vision.projection_dim")
    if isinstance(n_embd, int) and isinstance(proj, int) and n_embd != proj:
        raise ModelError(
            f"{mmproj.path.name} does not belong to {model.path.name} "
            f"(projector outputs {proj}-d embeddings, the model expects {n_embd}-d)"
        )
