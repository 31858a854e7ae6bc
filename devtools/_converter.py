"""The llama.cpp HF->GGUF converter vendored in the llama-cpp-python sdist, and quantization.

We use the converter that matches the *installed* llama-cpp-python version, so a
GGUF we build is exactly what that llama.cpp can load. It is fetched once with
``pip download --no-binary :all:`` (or taken from a local sdist) and the small
part we need (convert_hf_to_gguf.py, conversion/, gguf-py/, the Qwen3.5 chat
template) is extracted into the cache, so later builds and test runs are offline.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

_KEEP = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "models/templates/Qwen3.5-4B.jinja", "LICENSE")


def llama_cpp_version() -> str:
    from importlib.metadata import version

    return version("llama-cpp-python")


def _find_sdist(download_dir: Path, ver: str) -> Path | None:
    name = f"llama_cpp_python-{ver}.tar.gz"
    candidates = [download_dir / name]
    env = os.environ.get("FADA_LLAMA_SDIST")
    if env:
        candidates.insert(0, Path(env))
    return next((c for c in candidates if c.is_file()), None)


def converter_dir(cache_root: Path) -> Path:
    """Directory holding ``convert_hf_to_gguf.py`` for the installed llama-cpp-python."""
    ver = llama_cpp_version()
    dest = cache_root / f"llama_cpp_converter-{ver}"
    if (dest / ".complete").is_file():
        return dest
    download_dir = cache_root / "sdist"
    download_dir.mkdir(parents=True, exist_ok=True)
    sdist = _find_sdist(download_dir, ver)
    if sdist is None:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
               f"llama-cpp-python=={ver}", "-d", str(download_dir)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        sdist = _find_sdist(download_dir, ver)
        if proc.returncode != 0 or sdist is None:
            raise RuntimeError(
                "could not obtain the llama-cpp-python sdist (needed for convert_hf_to_gguf.py); "
                f"set FADA_LLAMA_SDIST to a local llama_cpp_python-{ver}.tar.gz\n{proc.stderr[-2000:]}"
            )
    prefix = f"llama_cpp_python-{ver}/vendor/llama.cpp/"
    tmp = Path(tempfile.mkdtemp(prefix="conv-", dir=cache_root))
    with tarfile.open(sdist, "r:gz") as tar:
        members = [m for m in tar.getmembers()
                   if m.name.startswith(prefix) and m.name[len(prefix):].startswith(_KEEP)
                   and (m.isfile() or m.isdir())]
        for m in members:
            m.name = m.name[len(prefix):]
        tar.extractall(tmp, members=members, filter="data")
    if not (tmp / "convert_hf_to_gguf.py").is_file():
        raise RuntimeError(f"{sdist} has no vendor/llama.cpp/convert_hf_to_gguf.py")
    (tmp / ".complete").write_text(ver)
    if dest.exists():
        import shutil

        shutil.rmtree(dest)
    tmp.rename(dest)
    return dest


def qwen35_chat_template(conv_dir: Path) -> str:
    return (conv_dir / "models" / "templates" / "Qwen3.5-4B.jinja").read_text(encoding="utf-8")


# Runs inside a fresh interpreter: make the vendored converter accept our
# truncated vocabulary (its pre-tokenizer hash is unknown) as Qwen3.5's.
_SHIM = r"""
import sys
conv_dir, pre = sys.argv[1], sys.argv[2]
sys.argv = [conv_dir + "/convert_hf_to_gguf.py"] + sys.argv[3:]
sys.path.insert(0, conv_dir)
sys.path.insert(1, conv_dir + "/gguf-py")
import conversion.base as base
_orig = base.TextModel.get_vocab_base_pre
def get_vocab_base_pre(self, tokenizer):
    try:
        return _orig(self, tokenizer)
    except NotImplementedError:
        return pre
base.TextModel.get_vocab_base_pre = get_vocab_base_pre
import runpy
runpy.run_path(sys.argv[0], run_name="__main__")
"""


def convert(conv_dir: Path, hf_dir: Path, outfile: Path, outtype: str, mmproj: bool,
            pre_tokenizer: str = "qwen35") -> None:
    args = [sys.executable, "-c", _SHIM, str(conv_dir), pre_tokenizer, str(hf_dir),
            "--outfile", str(outfile), "--outtype", outtype]
    args += ["--mmproj"] if mmproj else ["--no-mtp"]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(conv_dir / "gguf-py"), str(conv_dir)]),
               NO_LOCAL_GGUF="")
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode != 0 or not outfile.is_file():
        raise RuntimeError(f"convert_hf_to_gguf failed ({'mmproj' if mmproj else 'text'}):\n"
                           f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}")


def quantize(src: Path, dst: Path, ftype: str = "Q4_K_M", nthread: int = 0) -> None:
    """Quantize with llama.cpp's own quantizer (the same path as the real model files)."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{ftype}")
    params.nthread = nthread
    rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), ctypes.byref(params))
    if rc != 0 or not dst.is_file():
        raise RuntimeError(f"llama_model_quantize({ftype}) failed with code {rc}")
