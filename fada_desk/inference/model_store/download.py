"""Download a model set from the Hugging Face Hub (``huggingface_hub`` imported lazily).

Resumable: bytes already in ``<file>.part`` (next to the final file) are kept
and the rest requested with an HTTP Range, also across runs. The finished file
must match the manifest's SHA-256 (or, when the manifest pins none, the Hub's
LFS SHA-256) and size before it is renamed into place; a mismatch deletes the
partial file. Every failure is a one-line :class:`~fada_desk.core.errors.ModelError`.
"""

from __future__ import annotations

import fnmatch
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from fada_desk.core.cancel import CancelToken, Job, Progress
from fada_desk.core.errors import ModelError, first_line
from fada_desk.core.fileio import CHUNK, fsync_dir, sha256_file
from fada_desk.inference.model_store.manifests import (
    INSTALLED_NAME,
    SHA256_RE,
    ModelFile,
    ModelManifest,
    user_models_dir,
)
from fada_desk.inference.model_store.status import SetStatus, verify_set


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
        raise ModelError(f"cannot list {repo} on the model hub: {first_line(err, 200)}") from None
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


def download(
    manifest: ModelManifest,
    dest: Path | None = None,
    *,
    endpoint: str | None = None,
    token: str | None = None,
    cancel: CancelToken | None = None,
    retries: int = 3,
    timeout: float = 30.0,
) -> Job[SetStatus]:
    """Download ``manifest``'s files from its Hugging Face repository into ``dest`` (resumable).

    ``endpoint`` (or ``HF_ENDPOINT``) selects the hub, e.g. a mirror.
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
            raise ModelError(f"cannot reach {fname} on the model hub: {first_line(err, 200)}") from None
        etag = (meta.etag or "").strip('"').lower()
        expect_sha = mf.sha256 or (etag if SHA256_RE.match(etag) else None)
        if expect_sha is None:
            raise ModelError(f"{fname}: no checksum to verify against (not in the manifest, not on the hub)")
        if mf.sha256 and SHA256_RE.match(etag) and etag != mf.sha256:
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
        fsync_dir(dest)
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
            f"cannot reach {parts.hostname}: {first_line(err, 200)} - no internet connection? "
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
) -> Job[None]:
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
                        chunk = resp.read(CHUNK)
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
                    f"{fname}: download interrupted ({first_line(err, 200)}); {kept:,} bytes kept, "
                    "run the download again to resume"
                ) from None
            yield Progress(f"{fname}: connection lost, resuming", None)
            if cancel is not None and cancel.wait(min(2.0**attempt, 10.0) * 0.1):
                cancel.check()


def clean_partial(dest: Path) -> None:
    """Remove leftover ``.part`` files (a user who wants to restart from zero)."""
    for p in Path(dest).glob("*.part"):
        p.unlink(missing_ok=True)
