"""Model manager: which FADA model files exist, are they intact, install, download.

A *model set* is the language model GGUF plus its vision projector (mmproj)
GGUF, described by a JSON manifest (see ``models/README.md``): file names,
SHA-256, sizes, architecture, quantisation, licence and source repository.
Sets live in ``<user data dir>/models/<name>/`` (with an ``installed.json``
recording the verified hashes) or in a folder the user points at; manifests
shipped with the app are in the repository's ``models/`` folder.

Every failure is a :class:`~fada_desk.core.errors.ModelError` with a one-line
message, and :func:`verify_set` reports per file ``ok | missing | truncated |
oversize | corrupt | mismatch | wrong-role`` so the GUI can show exactly what
is wrong. Downloads (``huggingface_hub``, imported lazily) resume from a
``.part`` file, are verified against the manifest (or the Hub's LFS SHA-256)
and only then renamed into place.
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import re
import shutil
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ModelError
from fada_desk.core.paths import package_root, user_data_dir
from fada_desk.inference.gguf_info import GGUFInfo, check_gguf, read_gguf_info

MANIFEST_VERSION = 1
INSTALLED_NAME = "installed.json"
ROLES = ("model", "mmproj")
DEFAULT_SET = "fada-skd-0.8b-q4_k_m"
_CHUNK = 1 << 20
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


# ---------------------------------------------------------------------------
# Manifests
# ---------------------------------------------------------------------------


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
        if not isinstance(name, str) or not _NAME_RE.match(name):
            raise ModelError(f"{where}: invalid model set name {name!r}")
        files = []
        for f in d.get("files", []):
            role = f.get("role")
            sha = f.get("sha256")
            if role not in ROLES:
                raise ModelError(f"{where}: file role must be one of {', '.join(ROLES)}")
            if sha is not None and not (isinstance(sha, str) and _SHA_RE.match(sha.lower())):
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
        _atomic_write_text(Path(path), json.dumps(self.to_dict(), indent=2) + "\n")


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


# ---------------------------------------------------------------------------
# Verification
# ---------------------------------------------------------------------------

OK, MISSING, TRUNCATED, OVERSIZE, CORRUPT, MISMATCH, WRONG_ROLE = (
    "ok",
    "missing",
    "truncated",
    "oversize",
    "corrupt",
    "mismatch",
    "wrong-role",
)


@dataclass
class FileStatus:
    role: str
    path: Path | None
    state: str
    message: str = ""
    size: int | None = None
    sha256: str | None = None
    arch: str = ""
    quantization: str = ""

    @property
    def ok(self) -> bool:
        return self.state == OK

    def to_dict(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "path": str(self.path) if self.path else None,
            "state": self.state,
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


def sha256_file(
    path: Path, progress: Callable[[int], None] | None = None, cancel: CancelToken | None = None
) -> str:
    h = hashlib.sha256()
    with Path(path).open("rb") as f:
        while True:
            if cancel is not None:
                cancel.check()
            b = f.read(_CHUNK)
            if not b:
                break
            h.update(b)
            if progress is not None:
                progress(len(b))
    return h.hexdigest()


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
        return FileStatus(role, path, MISSING, f"{name} is missing")
    size = path.stat().st_size
    st = FileStatus(role, path, OK, size=size)
    if expected is not None and expected.size is not None:
        if size < expected.size:
            st.state, st.message = (
                TRUNCATED,
                (
                    f"{path.name} is truncated ({size:,} of {expected.size:,} bytes)"
                    " - download or copy it again"
                ),
            )
            return st
        if size > expected.size:
            st.state, st.message = (
                OVERSIZE,
                f"{path.name} is larger than expected ({size:,} > {expected.size:,})",
            )
            return st
    try:
        info: GGUFInfo = check_gguf(path, role)
    except ModelError as err:
        msg = str(err)
        st.state = (
            TRUNCATED
            if "truncated" in msg
            else WRONG_ROLE
            if ("projector" in msg or "language model" in msg)
            else CORRUPT
        )
        st.message = msg
        return st
    st.arch, st.quantization = info.architecture, info.quantization
    if role == "model" and arch and info.architecture and info.architecture != arch:
        st.state = MISMATCH
        st.message = f"{path.name} is a '{info.architecture}' model, this set needs '{arch}'"
        return st
    if full_hash or (expected is not None and expected.sha256):
        st.sha256 = sha256_file(path, cancel=cancel)
        if expected is not None and expected.sha256 and st.sha256 != expected.sha256:
            st.state = MISMATCH
            st.message = f"{path.name} checksum mismatch (the file is damaged or a different version)"
    return st


def _installed_manifest(directory: Path) -> ModelManifest | None:
    p = directory / INSTALLED_NAME
    return ModelManifest.load(p) if p.is_file() else None


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
    manifest = manifest or _installed_manifest(directory)
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


def installed_sets() -> list[Path]:
    root = user_models_dir()
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def resolve_model_dir(directory: Path, *, full_hash: bool = False) -> SetStatus:
    """The model set in ``directory`` (or its installed set of that name), verified; raises on a problem."""
    directory = Path(directory)
    if not directory.exists():
        candidate = user_models_dir() / directory.name
        if str(directory) == directory.name and candidate.is_dir():
            directory = candidate
    status = verify_set(directory, full_hash=full_hash)
    if not status.ok:
        raise ModelError(status.message)
    return status


def create_backend(status: SetStatus, **options: Any) -> Any:
    """Instantiate the llama.cpp backend for a verified set (``options``: n_threads, n_gpu_layers...)."""
    from fada_desk.inference.backend import BACKENDS

    try:
        factory = BACKENDS.get("llama_cpp")
    except ImportError as err:
        raise ModelError(
            f"the local AI engine is not installed ({err.name or err}); run scripts/setup-env.sh ai"
        ) from None
    return factory(model_path=str(status.path("model")), mmproj_path=str(status.path("mmproj")), **options)


# ---------------------------------------------------------------------------
# Install from a local folder (USB stick, shared drive)
# ---------------------------------------------------------------------------


def _atomic_write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _copy_verified(
    src: Path, dst: Path, expect_sha: str, cancel: CancelToken | None, progress: Callable[[int], None] | None
) -> None:
    part = dst.with_name(dst.name + ".part")
    h = hashlib.sha256()
    with src.open("rb") as fi, part.open("wb") as fo:
        while True:
            if cancel is not None:
                cancel.check()
            b = fi.read(_CHUNK)
            if not b:
                break
            fo.write(b)
            h.update(b)
            if progress is not None:
                progress(len(b))
        fo.flush()
        os.fsync(fo.fileno())
    if h.hexdigest() != expect_sha:
        part.unlink(missing_ok=True)
        raise ModelError(f"{src.name}: the copy differs from the source (disk or USB error); try again")
    os.replace(part, dst)


def install(
    source: Path,
    name: str | None = None,
    manifest: ModelManifest | None = None,
    cancel: CancelToken | None = None,
) -> Generator[Progress, None, SetStatus]:
    """Copy a model set from ``source`` (a folder with the two GGUFs) into the user's models folder.

    Every file is checked (header, size, role, checksum against ``manifest``
    when it pins one) *before* anything is copied; the copy is verified again.
    """
    source = Path(source)
    if source.is_file() and source.suffix == ".json":
        manifest = manifest or ModelManifest.load(source)
        source = source.parent
    if not source.is_dir():
        raise ModelError(f"{source}: not a folder with model files")
    if manifest is None:
        own = source / INSTALLED_NAME
        manifest = ModelManifest.load(own) if own.is_file() else None
    yield Progress("checking the model files", 0.0)
    status = verify_set(source, manifest, full_hash=True, cancel=cancel)
    if not status.ok:
        raise ModelError(status.message)
    set_name = name or (manifest.name if manifest else source.name)
    if not _NAME_RE.match(set_name):
        raise ModelError(f"invalid model set name {set_name!r}")
    dest = user_models_dir() / set_name
    if dest.resolve() == source.resolve():
        return status
    dest.mkdir(parents=True, exist_ok=True)
    total = sum(f.size or 0 for f in status.files)
    done = 0

    def advance(n: int) -> None:
        nonlocal done
        done += n

    for f in status.files:
        assert f.path is not None and f.sha256 is not None
        yield Progress(f"copying {f.path.name}", done / total if total else None)
        _copy_verified(f.path, dest / f.path.name, f.sha256, cancel, advance)
    base = manifest or ModelManifest(set_name, tuple(ModelFile(r, None) for r in ROLES))
    recorded = replace(
        base,
        name=set_name,
        path=None,
        files=tuple(
            ModelFile(
                f.role,
                f.path.name if f.path else None,
                f.sha256,
                f.size,
                next((m.pattern for m in base.files if m.role == f.role), None),
            )
            for f in status.files
        ),
    )
    if not recorded.arch:
        recorded = replace(
            recorded,
            arch=next((f.arch for f in status.files if f.role == "model"), ""),
            quantization=next((f.quantization for f in status.files if f.role == "model"), ""),
        )
    recorded.save(dest / INSTALLED_NAME)
    yield Progress("installed", 1.0)
    return verify_set(dest, full_hash=False)


# ---------------------------------------------------------------------------
# Download from the Hugging Face Hub (lazy huggingface_hub)
# ---------------------------------------------------------------------------


def _hub() -> Any:
    try:
        import huggingface_hub
    except ImportError:
        raise ModelError("downloading needs huggingface_hub: run scripts/setup-env.sh ai") from None
    return huggingface_hub


def _resolve_filenames(
    manifest: ModelManifest, hub: Any, endpoint: str | None, revision: str, token: str | None
) -> dict[str, str]:
    names = {f.role: f.filename for f in manifest.files if f.filename}
    if len(names) == len(manifest.files):
        return names  # type: ignore[return-value]
    repo = manifest.source.get("repo_id")
    try:
        listing = hub.HfApi(endpoint=endpoint, token=token).list_repo_files(repo, revision=revision)
    except Exception as err:  # noqa: BLE001 - network / hub errors of several libraries
        raise ModelError(f"cannot list {repo} on the model hub: {_why(err)}") from None
    for f in manifest.files:
        if f.role in names:
            continue
        pattern = f.pattern or ("*mmproj*.gguf" if f.role == "mmproj" else "*.gguf")
        hits = [n for n in listing if fnmatch.fnmatch(n.lower(), pattern.lower())]
        if f.role == "model":
            hits = [n for n in hits if "mmproj" not in n.lower()]
        if len(hits) != 1:
            raise ModelError(
                f"{repo}: expected one file matching {pattern} for the {f.role}, found "
                f"{len(hits)}{' (' + ', '.join(hits) + ')' if hits else ''}; pin it in the manifest"
            )
        names[f.role] = hits[0]
    return names  # type: ignore[return-value]


def _why(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    return text[:200]


def download(
    manifest: ModelManifest,
    dest: Path | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    timeout: float = 30.0,
) -> Generator[Progress, None, SetStatus]:
    """Download ``manifest``'s files from its Hugging Face repository into ``dest``.

    Resumable: bytes already in ``<file>.part`` are kept and the rest requested
    with an HTTP Range (also across runs). The finished file must match the
    manifest's SHA-256 (or, when the manifest pins none, the Hub's LFS SHA-256)
    and size before it is renamed into place; a mismatch deletes the partial
    file. ``endpoint`` (or ``HF_ENDPOINT``) selects the hub, e.g. a mirror.
    """
    hub = _hub()
    if manifest.source.get("type", "huggingface") != "huggingface" or not manifest.source.get("repo_id"):
        raise ModelError(f"model set {manifest.name!r} has no Hugging Face source to download from")
    import importlib

    offline = bool(getattr(importlib.import_module("huggingface_hub.constants"), "HF_HUB_OFFLINE", False))
    if offline:
        raise ModelError("downloads are disabled (HF_HUB_OFFLINE is set); install from a folder instead")
    repo = manifest.source["repo_id"]
    revision = str(manifest.source.get("revision") or "main")
    endpoint = endpoint or os.environ.get("HF_ENDPOINT") or None
    dest = Path(dest) if dest is not None else user_models_dir() / manifest.name
    dest.mkdir(parents=True, exist_ok=True)
    yield Progress(f"looking up {repo}", None)
    _probe(endpoint or "https://huggingface.co", timeout)
    names = _resolve_filenames(manifest, hub, endpoint, revision, token)

    plans = []
    for mf in manifest.files:
        fname = names[mf.role]
        url = hub.hf_hub_url(repo, fname, revision=revision, endpoint=endpoint)
        try:
            meta = hub.get_hf_file_metadata(url, token=token)
        except Exception as err:  # noqa: BLE001
            raise ModelError(f"cannot reach {fname} on the model hub: {_why(err)}") from None
        etag = (meta.etag or "").strip('"').lower()
        expect_sha = mf.sha256 or (etag if _SHA_RE.match(etag) else None)
        if expect_sha is None:
            raise ModelError(f"{fname}: no checksum to verify against (not in the manifest, not on the hub)")
        if mf.sha256 and _SHA_RE.match(etag) and etag != mf.sha256:
            raise ModelError(
                f"{fname}: the hub has a different version than this app expects "
                "(checksum differs); update the app or its manifest"
            )
        size = mf.size if mf.size is not None else meta.size
        plans.append((mf, fname, meta.location or url, expect_sha, size))

    total = sum(p[4] or 0 for p in plans)
    done_before = 0
    for _mf, fname, url, expect_sha, size in plans:
        final = dest / fname
        if (
            final.is_file()
            and (size is None or final.stat().st_size == size)
            and sha256_file(final, cancel=cancel) == expect_sha
        ):
            done_before += size or 0
            yield Progress(f"{fname}: already downloaded", done_before / total if total else None)
            continue
        part = dest / (fname + ".part")
        yield from _fetch(
            url,
            part,
            size,
            token if _same_host(url, endpoint) else None,
            cancel,
            retries,
            timeout,
            fname,
            done_before,
            total,
        )
        got = sha256_file(part, cancel=cancel)
        if got != expect_sha:
            part.unlink(missing_ok=True)
            raise ModelError(
                f"{fname}: downloaded file is corrupt (checksum mismatch); it was deleted, "
                "please download again"
            )
        os.replace(part, final)
        done_before += size or final.stat().st_size
    recorded = replace(
        manifest,
        path=None,
        files=tuple(ModelFile(mf.role, fname, sha, size, mf.pattern) for mf, fname, _u, sha, size in plans),
    )
    recorded.save(dest / INSTALLED_NAME)
    yield Progress("verifying", 1.0)
    status = verify_set(dest, full_hash=False)
    if not status.ok:
        raise ModelError(status.message)
    return status


def _probe(endpoint: str, timeout: float) -> None:
    """Fail fast (one TCP connect) when the hub cannot be reached, instead of minutes of retries."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(endpoint)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "", port), timeout=min(timeout, 10.0)):
            pass
    except OSError as err:
        raise ModelError(
            f"cannot reach {parts.hostname}: {_why(err)} - no internet connection? "
            "Install the model from a folder instead (fada-desk models install PATH)"
        ) from None


def _same_host(url: str, endpoint: str | None) -> bool:
    from urllib.parse import urlsplit

    base = endpoint or "https://huggingface.co"
    return urlsplit(url).netloc == urlsplit(base).netloc


def _fetch(
    url: str,
    part: Path,
    size: int | None,
    token: str | None,
    cancel: CancelToken | None,
    retries: int,
    timeout: float,
    fname: str,
    done_before: int,
    total: int,
) -> Generator[Progress, None, None]:
    """GET ``url`` into ``part``, resuming from its current length; retried on connection errors."""
    import http.client
    import urllib.error
    import urllib.request

    attempt = 0
    while True:
        have = part.stat().st_size if part.exists() else 0
        if size is not None and have > size:
            part.unlink()
            have = 0
        if size is not None and have == size:
            return
        headers = {"User-Agent": "fada-desk", "Accept-Encoding": "identity"}
        if have:
            headers["Range"] = f"bytes={have}-"
        if token:
            headers["Authorization"] = f"Bearer {token}"
        req = urllib.request.Request(url, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - https/http hub URLs
                if have and resp.status != 206:
                    have = 0  # the server ignored the range: start over
                mode = "ab" if have else "wb"
                last = time.monotonic()
                with part.open(mode) as out:
                    got = have
                    while True:
                        if cancel is not None and cancel.cancelled:
                            out.flush()
                            os.fsync(out.fileno())
                            cancel.check()
                        chunk = resp.read(_CHUNK)
                        if not chunk:
                            break
                        out.write(chunk)
                        got += len(chunk)
                        if time.monotonic() - last > 0.2:
                            last = time.monotonic()
                            frac = (done_before + got) / total if total else None
                            yield Progress(
                                f"downloading {fname}", frac, {"file": fname, "bytes": got, "size": size}
                            )
                    out.flush()
                    os.fsync(out.fileno())
            now = part.stat().st_size
            if size is not None and now < size:
                raise ConnectionError(f"connection closed after {now:,} of {size:,} bytes")  # retried below
            return
        except urllib.error.HTTPError as err:
            if err.code == 416 and have:  # range not satisfiable: the part is stale
                part.unlink(missing_ok=True)
                continue
            raise ModelError(f"{fname}: download failed (HTTP {err.code})") from None
        except (OSError, http.client.HTTPException) as err:
            attempt += 1
            if attempt > retries:
                kept = part.stat().st_size if part.exists() else 0
                raise ModelError(
                    f"{fname}: download interrupted ({_why(err)}); {kept:,} bytes kept, "
                    "run the download again to resume"
                ) from None
            yield Progress(f"{fname}: connection lost, resuming", None)
            if cancel is not None and cancel.wait(min(2.0**attempt, 10.0) * 0.1):
                cancel.check()


def clean_partial(dest: Path) -> None:
    """Remove leftover ``.part`` files (a user who wants to restart from zero)."""
    for p in Path(dest).glob("*.part"):
        p.unlink(missing_ok=True)


def remove_set(name: str) -> None:
    d = user_models_dir() / name
    if not d.is_dir():
        raise ModelError(f"no installed model set {name!r}")
    shutil.rmtree(d)
