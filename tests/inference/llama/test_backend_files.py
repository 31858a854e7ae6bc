"""Missing, truncated, corrupt and mismatched model files fail with a clear ModelError.

These checks run before llama.cpp sees a file (llama.cpp may abort the process
on some damaged files), so a bad file must never crash the app.
"""

from __future__ import annotations

import shutil
import struct
from pathlib import Path

import pytest

from fada_desk.core.errors import ModelError
from fada_desk.inference.llama.gguf_info import check_gguf, check_pair


def _gguf(path: Path, kv: dict[str, object], tensor_bytes: int = 64, declared: int | None = None) -> Path:
    """Write a minimal GGUF v3 file with one F32 tensor (``declared`` floats, ``tensor_bytes`` present)."""
    def s(x: str) -> bytes:
        b = x.encode()
        return struct.pack("<Q", len(b)) + b

    out = b"GGUF" + struct.pack("<IQQ", 3, 1, len(kv))
    for k, v in kv.items():
        out += s(k)
        if isinstance(v, bool):
            out += struct.pack("<I?", 7, v)
        elif isinstance(v, int):
            out += struct.pack("<II", 4, v)
        else:
            out += struct.pack("<I", 8) + s(str(v))
    n = declared if declared is not None else tensor_bytes // 4
    out += s("w") + struct.pack("<I", 1) + struct.pack("<Q", n) + struct.pack("<IQ", 0, 0)
    out += b"\0" * ((32 - len(out) % 32) % 32)
    out += b"\0" * tensor_bytes
    path.write_bytes(out)
    return path


def test_missing_and_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        check_gguf(tmp_path / "nope.gguf")
    with pytest.raises(ModelError, match="not a file"):
        check_gguf(tmp_path)


def test_empty_and_wrong_format(tmp_path: Path) -> None:
    (tmp_path / "empty.gguf").write_bytes(b"")
    with pytest.raises(ModelError, match="empty or truncated"):
        check_gguf(tmp_path / "empty.gguf")
    png = tmp_path / "scan.gguf"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(ModelError, match="not a GGUF"):
        check_gguf(png)


def test_truncated_header_and_data(tmp_path: Path) -> None:
    good = _gguf(tmp_path / "m.gguf", {"general.architecture": "qwen35", "qwen35.embedding_length": 8})
    assert check_gguf(good).architecture == "qwen35"
    cut = tmp_path / "cut.gguf"
    cut.write_bytes(good.read_bytes()[:40])
    with pytest.raises(ModelError, match="truncated"):
        check_gguf(cut)
    short = _gguf(tmp_path / "short.gguf", {"general.architecture": "qwen35"}, tensor_bytes=64, declared=1000)
    with pytest.raises(ModelError, match="truncated"):
        check_gguf(short)


def test_corrupt_counts(tmp_path: Path) -> None:
    p = tmp_path / "bad.gguf"
    p.write_bytes(b"GGUF" + struct.pack("<IQQ", 3, 2**40, 1) + b"\0" * 64)
    with pytest.raises(ModelError, match="corrupt"):
        check_gguf(p)


def test_roles_and_pairing(tmp_path: Path) -> None:
    model = check_gguf(_gguf(tmp_path / "m.gguf", {"general.architecture": "qwen35", "qwen35.embedding_length": 8}))
    proj = check_gguf(_gguf(tmp_path / "p.gguf", {"general.architecture": "clip", "general.type": "mmproj",
                                                 "clip.has_vision_encoder": True,
                                                 "clip.vision.projection_dim": 8}))
    other = check_gguf(_gguf(tmp_path / "o.gguf", {"general.architecture": "clip", "general.type": "mmproj",
                                                  "clip.has_vision_encoder": True,
                                                  "clip.vision.projection_dim": 16}))
    check_pair(model, proj)
    with pytest.raises(ModelError, match="vision projector"):
        check_pair(proj, model)
    with pytest.raises(ModelError, match="not the vision projector"):
        check_pair(model, model)
    with pytest.raises(ModelError, match="does not belong"):
        check_pair(model, other)


@pytest.mark.model
def test_backend_load_rejects_bad_files_without_crashing(tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    from fada_desk.inference.llama.llama_backend import LlamaCppBackend

    model, mmproj = tiny_model
    truncated = tmp_path / "model.gguf"
    truncated.write_bytes(model.read_bytes()[: model.stat().st_size * 2 // 3])
    cases = [
        (LlamaCppBackend(tmp_path / "missing.gguf", mmproj), "not found"),
        (LlamaCppBackend(truncated, mmproj), "truncated"),
        (LlamaCppBackend(mmproj, model), "vision projector"),
        (LlamaCppBackend(model, model), "not the vision projector"),
    ]
    for backend, msg in cases:
        with pytest.raises(ModelError, match=msg):
            backend.load()
        assert not backend.loaded
        backend.close()
    copy = tmp_path / "ok.gguf"
    shutil.copy(model, copy)
    b = LlamaCppBackend(copy, mmproj)
    b.load()
    assert b.loaded
    b.close()
