"""``fada-desk models list|verify|install|download``: manage the local FADA model files."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    from fada_desk.core.cancel import Job

T = TypeVar("T")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("models", help="list, verify, install or download FADA model files")
    msub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)
    ls = msub.add_parser("list", help="known model sets and installed ones, with their status")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    v = msub.add_parser("verify", help="check files: header, size, role and SHA-256")
    v.add_argument("target", nargs="?", help="installed set name or folder (default: every installed set)")
    v.add_argument("--quick", action="store_true", help="skip the SHA-256 of files without a pinned checksum")
    i = msub.add_parser("install", help="copy a model set from a folder (e.g. a USB stick)")
    i.add_argument(
        "path", help="folder with the model and mmproj GGUF files (or a manifest JSON next to them)"
    )
    i.add_argument("--name", help="name of the installed set (default: the manifest's or the folder's)")
    i.add_argument("--manifest", metavar="FILE", help="manifest to check the files against")
    d = msub.add_parser("download", help="download a model set from the Hugging Face Hub (resumable)")
    d.add_argument("name", nargs="?", default=None, help="model set (default: the FADA mobile set)")
    d.add_argument("--endpoint", help="hub URL (default: HF_ENDPOINT or huggingface.co)")
    d.add_argument("--dest", metavar="DIR", help="target folder (default: the user's models folder)")
    d.add_argument("--token", help="access token for private repositories")
    return p


def _drive(job: Job[T]) -> T:
    """Run a model-store job with a progress line (:func:`fada_desk.core.cancel.drive`)."""
    from fada_desk.cli._progress import ProgressLine
    from fada_desk.core.cancel import drive

    line = ProgressLine()
    try:
        return drive(job, lambda p: line.update(p.message, p.fraction))
    finally:
        line.done()


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from fada_desk.core.errors import ModelError
    from fada_desk.core.fileio import size_text
    from fada_desk.inference.model_store.download import download
    from fada_desk.inference.model_store.install import install
    from fada_desk.inference.model_store.manifests import (
        DEFAULT_SET,
        ModelManifest,
        builtin_manifests,
        get_manifest,
        installed_sets,
        user_models_dir,
    )
    from fada_desk.inference.model_store.status import verify_set

    cmd = args.models_command
    if cmd == "list":
        rows = []
        installed = {p.name: p for p in installed_sets()}
        for man in builtin_manifests():
            where = installed.get(man.name)
            rows.append(
                {
                    "name": man.name,
                    "title": man.title,
                    "arch": man.arch,
                    "quantization": man.quantization,
                    "licence": man.licence,
                    "source": man.source.get("repo_id", ""),
                    "pinned": man.pinned,
                    "installed": str(where) if where else None,
                }
            )
        for name, path in installed.items():
            if not any(r["name"] == name for r in rows):
                rows.append(
                    {
                        "name": name,
                        "title": "",
                        "arch": "",
                        "quantization": "",
                        "licence": "",
                        "source": "local",
                        "pinned": None,
                        "installed": str(path),
                    }
                )
        for r in rows:
            if r["installed"]:
                st = verify_set(Path(r["installed"]), full_hash=False)
                r["status"] = st.message
                r["ok"] = st.ok
        if args.json:
            print(json.dumps(rows, indent=2))
            return 0
        if not rows:
            print("No model sets known or installed.")
        for r in rows:
            state = r.get("status") or "not installed"
            print(f"{r['name']}: {state}")
            details = ", ".join(x for x in (r["arch"], r["quantization"], r["licence"], r["source"]) if x)
            if details:
                print(
                    f"    {details}{'' if r['pinned'] or r['pinned'] is None else ' (checksums not pinned)'}"
                )
        print(f"Models folder: {user_models_dir()}")
        return 0

    if cmd == "verify":
        targets: list[Path]
        if args.target:
            t = Path(args.target)
            targets = [t if t.exists() else user_models_dir() / args.target]
        else:
            targets = installed_sets()
            if not targets:
                raise ModelError("no model sets installed (use 'fada-desk models install' or 'download')")
        bad = 0
        for t in targets:
            st = verify_set(t, full_hash=not args.quick)
            print(st.message)
            for f in st.files:
                mark = "ok " if f.ok else "BAD"
                print(
                    f"  {mark} {f.role:6s} {f.path.name if f.path else '-':40s} {size_text(f.size):>9s} "
                    f"{(f.sha256 or '')[:16]} {'' if f.ok else f.message}"
                )
            bad += not st.ok
        return 1 if bad else 0

    if cmd == "install":
        manifest = ModelManifest.load(Path(args.manifest)) if args.manifest else None
        st = _drive(install(Path(args.path), args.name, manifest))
        print(st.message)
        print(f"Installed in {st.directory}")
        return 0

    if cmd == "download":
        manifest = get_manifest(args.name or DEFAULT_SET)
        st = _drive(
            download(
                manifest, Path(args.dest) if args.dest else None, endpoint=args.endpoint, token=args.token
            )
        )
        print(st.message)
        print(f"Saved in {st.directory}")
        return 0
    raise ModelError(f"unknown models action {cmd!r}")
