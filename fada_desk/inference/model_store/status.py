"""Is a model set intact? Per-file checks, folder scan, :func:`verify_set`.

:func:`verify_set` reports per file a :class:`FileState` (``ok | missing |
truncated | oversize | corrupt | mismatch | wrong-role``) with a one-line
message, so the GUI can show exactly what is wrong: size against the manifest,
the GGUF header (role, architecture) and the SHA-256.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import ModelError
from fada_desk.core.fileio import sha256_file
from fada_desk.inference.llama.gguf_info import GGUFInfo, check_gguf, read_gguf_info
from fada_desk.inference.model_store.manifests import ROLES, ModelFile, ModelManifest, installed_manifest


class FileState(str, enum.Enum):
    """What :func:`verify_set` found for one file (``str`` values: they compare equal to the plain text)."""

    OK = "ok"
    MISSING = "missing"
    TRUNCATED = "truncated"
    OVERSIZE = "oversize"
    CORRUPT = "corrupt"
    MISMATCH = "mismatch"
    WRONG_ROLE = "wrong-role"

    def __str__(self) -> str:
        return self.value


@dataclass
class FileStatus:
    role: str
    path: Path | None
    state: FileState
    message: str = ""
    size: int | None = None
    sha256: str | None = None
    arch: str = ""
    quantization: str = ""

    @property
    def ok(self) -> bool:
        return self.state == FileState.OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "path": str(self.path) if self.path else None,
            "state": str(self.state),
            "message": self.message,
            "size": self.size,
            "sha256": self.sha256,
            "arch": self.arch,
            "quantization": self.quantization,
        }


@dataclass
class SetStatus:
    name: str
    directory: Path
    files: list[FileStatus]
    manifest: ModelManifest | None = None
    checksums_pinned: bool = False

    @property
    def ok(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    def path(self, role: str) -> Path:
        for f in self.files:
            if f.role == role and f.path is not None:
                return f.path
        raise ModelError(f"model set {self.name!r}: no {role} file")

    @property
    def message(self) -> str:
        """One line for the status bar / CLI."""
        if self.ok:
            how = "checksums verified" if self.checksums_pinned else "intact (no pinned checksum)"
            return f"{self.name}: ready, {how}"
        bad = [f for f in self.files if not f.ok]
        return f"{self.name}: " + "; ".join(f.message for f in bad)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "directory": str(self.directory),
            "ok": self.ok,
            "message": self.message,
            "checksums_pinned": self.checksums_pinned,
            "files": [f.to_dict() for f in self.files],
        }


def _check_file(
    role: str,
    path: Path | None,
    expected: ModelFile | None,
    *,
    full_hash: bool,
    arch: str = "",
    cancel: CancelToken | None = None,
) -> FileStatus:
    if path is None or not path.is_file():
        name = (expected.filename if expected else None) or role
        return FileStatus(role, path, FileState.MISSING, f"{name} is missing")
    size = path.stat().st_size
    st = FileStatus(role, path, FileState.OK, size=size)
    if expected is not None and expected.size is not None:
        if size < expected.size:
            st.state, st.message = (
                FileState.TRUNCATED,
                (
                    f"{path.name} is truncated ({size:,} of {expected.size:,} bytes)"
                    " - download or copy it again"
                ),
            )
            return st
        if size > expected.size:
            st.state, st.message = (
                FileState.OVERSIZE,
                f"{path.name} is larger than expected ({size:,} > {expected.size:,})",
            )
            return st
    try:
        info: GGUFInfo = check_gguf(path, role)
    except ModelError as err:
        msg = str(err)
        st.state = (
            FileState.TRUNCATED
            if "truncated" in msg
            else FileState.WRONG_ROLE
            if ("projector" in msg or "language model" in msg)
            else FileState.CORRUPT
        )
        st.message = msg
        return st
    st.arch, st.quantization = info.architecture, info.quantization
    if role == "model" and arch and info.architecture and info.architecture != arch:
        st.state = FileState.MISMATCH
        st.message = f"{path.name} is a '{info.architecture}' model, this set needs '{arch}'"
        return st
    if full_hash or (expected is not None and expected.sha256):
        st.sha256 = sha256_file(path, cancel=cancel)
        if expected is not None and expected.sha256 and st.sha256 != expected.sha256:
            st.state = FileState.MISMATCH
            st.message = f"{path.name} checksum mismatch (the file is damaged or a different version)"
    return st


def scan_dir(directory: Path) -> dict[str, Path]:
    """Find the model and mmproj GGUF in a folder by their headers (names do not matter)."""
    found: dict[str, list[Path]] = {"model": [], "mmproj": []}
    for p in sorted(Path(directory).glob("*.gguf")):
        try:
            info = read_gguf_info(p)
        except ModelError:
            # damaged: classify by name so verification reports it instead of ignoring it
            found["mmproj" if "mmproj" in p.name.lower() else "model"].append(p)
            continue
        found["mmproj" if info.is_projector else "model"].append(p)
    out = {}
    for role, paths in found.items():
        if len(paths) > 1:
            names = ", ".join(p.name for p in paths)
            raise ModelError(f"{directory}: more than one {role} file ({names}); keep one set per folder")
        if paths:
            out[role] = paths[0]
    return out


def verify_set(
    directory: Path,
    manifest: ModelManifest | None = None,
    *,
    full_hash: bool = True,
    cancel: CancelToken | None = None,
) -> SetStatus:
    """Check a model-set folder against its manifest (or ``installed.json``, or just the headers)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ModelError(f"{directory}: model folder not found")
    manifest = manifest or installed_manifest(directory)
    files: list[FileStatus] = []
    pinned = False
    if manifest is not None:
        pinned = all(f.sha256 for f in manifest.files)
        scanned: dict[str, Path] | None = None
        for mf in manifest.files:
            path = directory / mf.filename if mf.filename else None
            if path is None:
                scanned = scanned if scanned is not None else scan_dir(directory)
                path = scanned.get(mf.role)
            files.append(
                _check_file(mf.role, path, mf, full_hash=full_hash, arch=manifest.arch, cancel=cancel)
            )
        name = manifest.name
    else:
        scanned = scan_dir(directory)
        for role in ROLES:
            files.append(_check_file(role, scanned.get(role), None, full_hash=full_hash, cancel=cancel))
        name = directory.name
    return SetStatus(name, directory, files, manifest, pinned)
