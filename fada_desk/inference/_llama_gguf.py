"""Pre-flight validation of GGUF files before llama.cpp sees them.

llama.cpp may abort the whole process (not raise) on some truncated or corrupt
files, which would take the sonographer's unsaved work with it. So we parse the
header, metadata and tensor table ourselves and check that every tensor's data
lies inside the file, and that model/projector roles and sizes match.
"""

from __future__ import annotations

import hashlib
import mmap
import os
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fada_desk.core.errors import ModelError

_MAGIC = b"GGUF"
# ggml type id -> (block size in elements, bytes per block)
_GGML_TYPES: dict[int, tuple[int, int]] = {
    0: (1, 4), 1: (1, 2), 2: (32, 18), 3: (32, 20), 6: (32, 22), 7: (32, 24), 8: (32, 34), 9: (32, 36),
    10: (256, 84), 11: (256, 110), 12: (256, 144), 13: (256, 176), 14: (256, 210), 15: (256, 292),
    16: (256, 66), 17: (256, 74), 18: (256, 98), 19: (256, 50), 20: (32, 18), 21: (256, 110),
    22: (256, 82), 23: (256, 136), 24: (1, 1), 25: (1, 2), 26: (1, 4), 27: (1, 8), 28: (1, 8),
    29: (256, 56), 30: (1, 2), 34: (256, 54), 35: (256, 66), 39: (32, 17),
}
_SCALAR = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_MAX_COUNT = 10_000_000


@dataclass
class GGUFInfo:
    path: Path
    size: int
    version: int
    metadata: dict[str, Any] = field(default_factory=dict)  # scalars and short strings only
    n_tensors: int = 0
    data_end: int = 0  # bytes the tensor data needs

    @property
    def architecture(self) -> str:
        return str(self.metadata.get("general.architecture", ""))

    @property
    def is_projector(self) -> bool:
        return self.architecture == "clip" or self.metadata.get("general.type") == "mmproj"


class _Reader:
    def __init__(self, buf: memoryview, name: str) -> None:
        self.buf = buf
        self.pos = 0
        self.name = name

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise ModelError(f"{self.name} is truncated or corrupt (header runs past the end of the file)")

    def take(self, n: int) -> bytes:
        self._need(n)
        out = bytes(self.buf[self.pos : self.pos + n])  # copy: no view may outlive the mmap
        self.pos += n
        return out

    def skip(self, n: int) -> None:
        self._need(n)
        self.pos += n

    def scalar(self, fmt: str) -> Any:
        size = struct.calcsize(fmt)
        self._need(size)
        val = struct.unpack_from(fmt, self.buf, self.pos)[0]
        self.pos += size
        return val

    def string(self) -> bytes:
        n = self.scalar("<Q")
        return self.take(n)

    def value(self, vtype: int, keep: bool) -> Any:
        if vtype in _SCALAR:
            return self.scalar(_SCALAR[vtype])
        if vtype == 8:
            n = self.scalar("<Q")
            if keep and n < 65536:
                return self.take(n).decode("utf-8", "replace")
            self.skip(n)
            return None
        if vtype == 9:
            itype = self.scalar("<I")
            count = self.scalar("<Q")
            if count > _MAX_COUNT * 4:
                raise ModelError(f"{self.name} is corrupt (absurd metadata array length)")
            if itype in _SCALAR:
                size = struct.calcsize(_SCALAR[itype])
                if keep and count <= 64:
                    return list(struct.unpack("<" + _SCALAR[itype][1] * count, self.take(size * count)))
                self.skip(size * count)
                return count
            for _ in range(count):
                self.value(itype, keep=False)
            return count
        raise ModelError(f"{self.name} is corrupt (unknown metadata type {vtype})")


def read_gguf(path: str | os.PathLike[str], role: str = "model") -> GGUFInfo:
    """Parse and sanity-check a GGUF file. Raises ModelError with a one-line reason."""
    p = Path(path)
    name = p.name
    if not p.exists():
        raise ModelError(f"{role} file not found: {p}")
    if not p.is_file():
        raise ModelError(f"{role} path is not a file: {p}")
    size = p.stat().st_size
    if size < 32:
        raise ModelError(f"{role} file {name} is empty or truncated ({size} bytes)")
    try:
        with open(p, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as mm:
            view = memoryview(mm)
            try:
                return _parse(view, p, size, role)
            finally:
                view.release()
    except OSError as exc:
        raise ModelError(f"cannot read {role} file {name}: {exc.strerror or exc}") from exc


def _parse(buf: memoryview, p: Path, size: int, role: str) -> GGUFInfo:
    name = p.name
    try:
        r = _Reader(buf, f"{role} file {name}")
        if bytes(r.take(4)) != _MAGIC:
            raise ModelError(f"{name} is not a GGUF model file (wrong header); pick the .gguf {role} file")
        version = r.scalar("<I")
        if version not in (2, 3):
            raise ModelError(f"{name} uses unsupported GGUF version {version}")
        n_tensors = r.scalar("<Q")
        n_kv = r.scalar("<Q")
        if n_tensors > _MAX_COUNT or n_kv > _MAX_COUNT:
            raise ModelError(f"{role} file {name} is corrupt (impossible header counts)")
        info = GGUFInfo(path=p, size=size, version=version, n_tensors=n_tensors)
        for _ in range(n_kv):
            key = r.string().decode("utf-8", "replace")
            vtype = r.scalar("<I")
            val = r.value(vtype, keep=True)
            if val is not None:
                info.metadata[key] = val
        alignment = int(info.metadata.get("general.alignment", 32)) or 32
        tensors = []
        for _ in range(n_tensors):
            tname = r.string()
            n_dims = r.scalar("<I")
            if n_dims > 8:
                raise ModelError(f"{role} file {name} is corrupt (tensor with {n_dims} dimensions)")
            dims = [r.scalar("<Q") for _ in range(n_dims)]
            ttype = r.scalar("<I")
            offset = r.scalar("<Q")
            tensors.append((tname, dims, ttype, offset))
        data_start = (r.pos + alignment - 1) // alignment * alignment
        end = data_start
        for tname, dims, ttype, offset in tensors:
            n_el = 1
            for d in dims:
                n_el *= d
            blk = _GGML_TYPES.get(ttype)
            nbytes = (n_el // blk[0]) * blk[1] if blk else 0
            end = max(end, data_start + offset + nbytes)
        info.data_end = end
    except (struct.error, ValueError) as exc:
        raise ModelError(f"{role} file {name} is corrupt ({exc})") from exc
    if info.data_end > size:
        raise ModelError(
            f"{role} file {name} is truncated: {size:,} bytes on disk, {info.data_end:,} expected "
            "(the copy or download did not finish)")
    if n_tensors == 0:
        raise ModelError(f"{role} file {name} contains no weights")
    return info


def check_pair(model: GGUFInfo, mmproj: GGUFInfo | None) -> None:
    """Model and projector are in the right slots and fit together."""
    if model.is_projector:
        raise ModelError(f"{model.path.name} is a vision projector (mmproj), not the language model")
    if mmproj is None:
        return
    if not mmproj.is_projector:
        raise ModelError(f"{mmproj.path.name} is a language model, not the vision projector (mmproj)")
    if not mmproj.metadata.get("clip.has_vision_encoder", False):
        raise ModelError(f"{mmproj.path.name} has no vision encoder")
    arch = model.architecture
    n_embd = model.metadata.get(f"{arch}.embedding_length")
    proj = mmproj.metadata.get("clip.vision.projection_dim")
    if n_embd is not None and proj is not None and int(n_embd) != int(proj):
        raise ModelError(
            f"{mmproj.path.name} does not belong to {model.path.name} "
            f"(projector outputs {proj}-d embeddings, the model expects {n_embd}-d)")


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while True:
            b = fh.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()
