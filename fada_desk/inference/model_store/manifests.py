"""Model-set manifests and where model sets live.

A *model set* is the language model GGUF plus its vision projector (mmproj)
GGUF, described by a JSON manifest (see ``models/README.md``): file names,
SHA-256, sizes, architecture, quantisation, licence and source repository.
Sets live in ``<user data dir>/models/<name>/`` (with an ``installed.json``
recording the verified hashes) or in a folder the user points at; manifests
shipped with the app are in the repository's ``models/`` folder.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fada_desk.core.errors import ModelError
from fada_desk.core.fileio import atomic_write_text
from fada_desk.core.paths import package_root, user_data_dir

MANIFEST_VERSION = 1
INSTALLED_NAME = "installed.json"
ROLES = ("model", "mmproj")
DEFAULT_SET = "fada-skd-0.8b-q4_k_m"
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
SET_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class ModelFile:
    role: str  # "model" | "mmproj"
    filename: str | None  # None: not pinned, resolved from ``pattern`` against the repository listing
    sha256: str | None = None
    size: int | None = None
    pattern: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "filename": self.filename,
            "sha256": self.sha256,
            "size": self.size,
            "pattern": self.pattern,
        }


@dataclass(frozen=True)
class ModelManifest:
    name: str
    files: tuple[ModelFile, ...]
    title: str = ""
    arch: str = ""
    projector: str = ""
    quantization: str = ""
    licence: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    notes: str = ""
    path: Path | None = None  # where it was loaded from

    def file(self, role: str) -> ModelFile:
        for f in self.files:
            if f.role == role:
                return f
        raise ModelError(f"model set {self.name!r} has no {role} file in its manifest")

    @property
    def pinned(self) -> bool:
        return all(f.filename and f.sha256 for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        return {
            "manifest_version": MANIFEST_VERSION,
            "name": self.name,
            "title": self.title,
            "arch": self.arch,
            "projector": self.projector,
            "quantization": self.quantization,
            "licence": self.licence,
            "source": dict(self.source),
            "files": [f.to_dict() for f in self.files],
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any], path: Path | None = None) -> ModelManifest:
        where = str(path) if path else "manifest"
        if not isinstance(d, dict) or d.get("manifest_version") != MANIFEST_VERSION:
            raise ModelError(f"{where}: not a fada-desk model manifest (manifest_version {MANIFEST_VERSION})")
        name = d.get("name")
        if not isinstance(name, str) or not SET_NAME_RE.match(name):
            raise ModelError(f"{where}: invalid model set name {name!r}")
        files = []
        for f in d.get("files", []):
            role = f.get("role")
            sha = f.get("sha256")
            if role not in ROLES:
                raise ModelError(f"{where}: file role must be one of {', '.join(ROLES)}")
            if sha is not None and not (isinstance(sha, str) and SHA256_RE.match(sha.lower())):
                raise ModelError(f"{where}: {role} sha256 must be 64 hex digits")
            fname = f.get("filename")
            if fname is not None and (
                not isinstance(fname, str) or "/" in fname or "\\" in fname or fname.startswith(".")
            ):
                raise ModelError(f"{where}: invalid file name {fname!r}")
            files.append(
                ModelFile(
                    role,
                    fname,
                    sha.lower() if sha else None,
                    int(f["size"]) if f.get("size") is not None else None,
                    f.get("pattern"),
                )
            )
        if sorted(f.role for f in files) != sorted(ROLES):
            raise ModelError(f"{where}: a model set needs exactly one 'model' and one 'mmproj' file")
        return cls(
            name,
            tuple(files),
            d.get("title", ""),
            d.get("arch", ""),
            d.get("projector", ""),
            d.get("quantization", ""),
            d.get("licence", ""),
            dict(d.get("source") or {}),
            d.get("notes", ""),
            path,
        )

    @classmethod
    def load(cls, path: Path) -> ModelManifest:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelError(f"{path}: manifest not found") from None
        except (OSError, ValueError) as err:
            raise ModelError(f"{path}: unreadable manifest ({err})") from None
        return cls.from_dict(data, Path(path))

    def save(self, path: Path) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2) + "\n")


def repo_models_dir() -> Path:
    """The ``models/`` folder shipped next to the package (manifests, README)."""
    env = os.environ.get("FADA_DESK_MODELS_DIR")
    return Path(env) if env else package_root().parent / "models"


def user_models_dir() -> Path:
    d = user_data_dir() / "models"
    d.mkdir(parents=True, exist_ok=True)
    return d


def builtin_manifests() -> list[ModelManifest]:
    d = repo_models_dir()
    out = []
    for p in sorted(d.glob("*.json")) if d.is_dir() else []:
        out.append(ModelManifest.load(p))
    return out


def get_manifest(name: str) -> ModelManifest:
    for m in builtin_manifests():
        if m.name == name:
            return m
    known = ", ".join(m.name for m in builtin_manifests()) or "none"
    raise ModelError(f"unknown model set {name!r} (known: {known})")


def installed_sets() -> list[Path]:
    """The set folders in the user's models folder."""
    root = user_models_dir()
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def installed_manifest(directory: Path) -> ModelManifest | None:
    """The ``installed.json`` of a set folder (None when it has none)."""
    p = directory / INSTALLED_NAME
    return ModelManifest.load(p) if p.is_file() else None
