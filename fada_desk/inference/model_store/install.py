"""Install a model set from a local folder (USB stick, shared drive); remove one.

Every file is verified (header, size, role, SHA-256) before anything is
copied; each copy is hashed while it is written and only renamed into place
when it matches (:class:`~fada_desk.core.fileio.AtomicFile`), so an
interrupted or damaged copy never looks installed.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from fada_desk.core.cancel import CancelToken, Job, Progress
from fada_desk.core.errors import ModelError
from fada_desk.core.fileio import CHUNK, AtomicFile
from fada_desk.inference.model_store.manifests import (
    INSTALLED_NAME,
    ROLES,
    SET_NAME_RE,
    ModelFile,
    ModelManifest,
    installed_manifest,
    user_models_dir,
)
from fada_desk.inference.model_store.status import SetStatus, verify_set


def _copy_verified(
    src: Path, dst: Path, expect_sha: str, cancel: CancelToken | None, progress: Callable[[int], None] | None
) -> None:
    h = hashlib.sha256()
    with src.open("rb") as fi, AtomicFile(dst) as out:
        while True:
            if cancel is not None:
                cancel.check()
            b = fi.read(CHUNK)
            if not b:
                break
            out.file.write(b)
            h.update(b)
            if progress is not None:
                progress(len(b))
        if h.hexdigest() != expect_sha:
            raise ModelError(f"{src.name}: the copy differs from the source (disk or USB error); try again")
        out.commit()


def install(
    source: Path,
    name: str | None = None,
    manifest: ModelManifest | None = None,
    cancel: CancelToken | None = None,
) -> Job[SetStatus]:
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
        manifest = installed_manifest(source)
    yield Progress("checking the model files", 0.0)
    status = verify_set(source, manifest, full_hash=True, cancel=cancel)
    if not status.ok:
        raise ModelError(status.message)
    set_name = name or (manifest.name if manifest else source.name)
    if not SET_NAME_RE.match(set_name):
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


def remove_set(name: str) -> None:
    """Delete an installed set's folder."""
    d = user_models_dir() / name
    if not d.is_dir():
        raise ModelError(f"no installed model set {name!r}")
    shutil.rmtree(d)
