"""Model manager: verify, install, corrupt/truncated/mismatched files, download from a local hub."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

from fada_desk.cli import main
from fada_desk.core.cancel import drive
from fada_desk.core.errors import ModelError
from fada_desk.inference.llama.gguf_info import check_gguf, read_gguf_info
from fada_desk.inference.model_store.download import download
from fada_desk.inference.model_store.install import install
from fada_desk.inference.model_store.manifests import (
    DEFAULT_SET,
    INSTALLED_NAME,
    ModelFile,
    ModelManifest,
    get_manifest,
    repo_models_dir,
    user_models_dir,
)
from fada_desk.inference.model_store.resolve import resolve_model_dir
from fada_desk.inference.model_store.status import FileState, verify_set

from .._gguf import make_set, write_gguf
from ._hub_server import HubState, LocalHub

REPO = "mshz88/FADA-Mobile-GGUF"


def sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def manifest_for(model: Path, mmproj: Path, *, pin: bool = True, name: str = "test-set") -> ModelManifest:
    files = tuple(
        ModelFile(
            role,
            p.name if pin else None,
            sha(p) if pin else None,
            p.stat().st_size if pin else None,
            "*Q4_K_M*.gguf" if role == "model" else "*mmproj*.gguf",
        )
        for role, p in (("model", model), ("mmproj", mmproj))
    )
    return ModelManifest(
        name,
        files,
        arch="qwen35",
        quantization="Q4_K_M",
        licence="Apache-2.0",
        source={"type": "huggingface", "repo_id": REPO, "revision": "main"},
    )


# ---- GGUF header checks ------------------------------------------------------------------


def test_gguf_header(tmp_path: Path) -> None:
    model, mmproj = make_set(tmp_path)
    info = read_gguf_info(model)
    assert (info.architecture, info.quantization, info.is_projector, info.version) == (
        "qwen35",
        "Q4_K_M",
        False,
        3,
    )
    assert info.required_size == model.stat().st_size and not info.truncated
    assert read_gguf_info(mmproj).is_projector
    with pytest.raises(ModelError, match="vision projector"):
        check_gguf(mmproj, "model")
    with pytest.raises(ModelError, match="not the vision projector"):
        check_gguf(model, "mmproj")


@pytest.mark.parametrize(
    "damage,message",
    [
        (lambda b: b[:-40], "truncated"),  # last tensor cut short
        (lambda b: b[:200], "truncated"),  # header cut short
        (lambda b: b"GGML" + b[4:], "wrong magic"),
        (lambda b: b[:4] + (9).to_bytes(4, "little") + b[8:], "unsupported GGUF version"),
        (lambda b: b"", "only 0 bytes"),
    ],
)
def test_gguf_damage_is_a_clear_error(tmp_path: Path, damage, message: str) -> None:  # noqa: ANN001
    model, _ = make_set(tmp_path)
    model.write_bytes(damage(model.read_bytes()))
    with pytest.raises(ModelError, match=message):
        check_gguf(model, "model")


# ---- verify --------------------------------------------------------------------------------


def test_verify_folder_without_manifest(tmp_path: Path) -> None:
    model, mmproj = make_set(tmp_path / "set")
    st = verify_set(tmp_path / "set")
    assert st.ok and st.path("model") == model and st.path("mmproj") == mmproj
    assert st.files[0].sha256 == sha(model) and "no pinned checksum" in st.message
    mmproj.unlink()
    st = verify_set(tmp_path / "set")
    assert not st.ok and st.files[1].state == FileState.MISSING and st.message == "set: mmproj is missing"


def test_verify_against_manifest(tmp_path: Path) -> None:
    d = tmp_path / "set"
    model, mmproj = make_set(d)
    man = manifest_for(model, mmproj)
    st = verify_set(d, man)
    assert st.ok and st.checksums_pinned and st.message == "test-set: ready, checksums verified"
    # same size, different bytes -> checksum mismatch
    data = bytearray(model.read_bytes())
    data[-1] ^= 0xFF
    model.write_bytes(bytes(data))
    st = verify_set(d, man)
    assert st.files[0].state == FileState.MISMATCH and "checksum mismatch" in st.message
    # shorter than the manifest says
    model.write_bytes(bytes(data[:-10]))
    assert verify_set(d, man).files[0].state == FileState.TRUNCATED
    model.write_bytes(bytes(data) + b"x")
    assert verify_set(d, man).files[0].state == FileState.OVERSIZE


def test_verify_detects_truncation_without_checksums(tmp_path: Path) -> None:
    d = tmp_path / "set"
    model, _ = make_set(d)
    model.write_bytes(model.read_bytes()[:-16])
    st = verify_set(d)
    assert st.files[0].state == FileState.TRUNCATED and "download or copy it again" in st.message


def test_verify_wrong_role_and_arch(tmp_path: Path) -> None:
    d = tmp_path / "set"
    model, mmproj = make_set(d)
    man = manifest_for(model, mmproj, pin=False)
    pinned_names = ModelManifest(
        man.name, (ModelFile("model", mmproj.name), ModelFile("mmproj", model.name)), arch="qwen35"
    )
    st = verify_set(d, pinned_names)
    assert [f.state for f in st.files] == [FileState.WRONG_ROLE, FileState.WRONG_ROLE]
    write_gguf(model, "llama")
    st = verify_set(d, man)
    assert st.files[0].state == FileState.MISMATCH and "'llama' model" in st.message
    write_gguf(d / "second.gguf", "qwen35")
    with pytest.raises(ModelError, match="more than one model file"):
        verify_set(d)


def test_manifest_validation(tmp_path: Path) -> None:
    good = json.loads((repo_models_dir() / "fada-skd-0.8b-q4_k_m.json").read_text())
    m = ModelManifest.from_dict(good)
    assert m.source["repo_id"] == REPO and not m.pinned and m.file("mmproj").pattern == "*mmproj*.gguf"
    bad = [
        dict(good, manifest_version=2),
        dict(good, name="../evil"),
        dict(good, files=[good["files"][0]]),
        dict(good, files=[dict(good["files"][0], sha256="xyz"), good["files"][1]]),
        dict(good, files=[dict(good["files"][0], filename="../../etc/passwd"), good["files"][1]]),
    ]
    for d in bad:
        with pytest.raises(ModelError):
            ModelManifest.from_dict(d)
    p = tmp_path / "broken.json"
    p.write_text("{not json")
    with pytest.raises(ModelError, match="unreadable manifest"):
        ModelManifest.load(p)


# ---- install ---------------------------------------------------------------------------------


def test_install_copies_and_records_hashes(tmp_path: Path) -> None:
    src = tmp_path / "usb"
    model, mmproj = make_set(src)
    st = drive(install(src, "clinic-set"))
    dest = user_models_dir() / "clinic-set"
    assert st.ok and st.directory == dest
    assert (dest / model.name).read_bytes() == model.read_bytes()
    rec = json.loads((dest / INSTALLED_NAME).read_text())
    assert {f["role"]: f["sha256"] for f in rec["files"]} == {"model": sha(model), "mmproj": sha(mmproj)}
    assert rec["arch"] == "qwen35" and rec["quantization"] == "Q4_K_M"
    # later damage of the installed copy is caught by its recorded checksum
    data = bytearray((dest / model.name).read_bytes())
    data[-1] ^= 1
    (dest / model.name).write_bytes(bytes(data))
    assert verify_set(dest).files[0].state == FileState.MISMATCH


def test_install_refuses_damaged_or_mismatched_files(tmp_path: Path) -> None:
    src = tmp_path / "usb"
    model, mmproj = make_set(src)
    man = manifest_for(model, mmproj)
    model.write_bytes(model.read_bytes()[:-8])
    with pytest.raises(ModelError, match="truncated"):
        drive(install(src, "x"))
    assert not (user_models_dir() / "x").exists()
    make_set(src)  # intact again, but differs from nothing... now damage a byte vs the pinned manifest
    data = bytearray(model.read_bytes())
    data[-1] ^= 1
    model.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="checksum mismatch"):
        drive(install(src, "x", man))


def test_resolve_model_dir(tmp_path: Path) -> None:
    make_set(tmp_path / "set")
    assert resolve_model_dir(tmp_path / "set").ok
    with pytest.raises(ModelError, match="not found"):
        resolve_model_dir(tmp_path / "nope")
    (tmp_path / "set" / "mmproj-fada-F16.gguf").unlink()
    with pytest.raises(ModelError, match="mmproj is missing"):
        resolve_model_dir(tmp_path / "set")


# ---- CLI -------------------------------------------------------------------------------------


def test_models_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "usb"
    model, _ = make_set(src)
    assert main(["models", "list"]) == 0
    out = capsys.readouterr().out
    assert "fada-skd-0.8b-q4_k_m: not installed" in out and "checksums not pinned" in out
    assert main(["models", "install", str(src), "--name", "clinic"]) == 0
    assert "clinic: ready" in capsys.readouterr().out
    assert main(["models", "verify"]) == 0
    out = capsys.readouterr().out
    assert "ok  model" in out and "ok  mmproj" in out
    assert main(["models", "list", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert any(r["name"] == "clinic" and r["ok"] for r in rows)
    inst = user_models_dir() / "clinic" / model.name
    inst.write_bytes(inst.read_bytes()[:100])
    assert main(["models", "verify", "clinic"]) == 1
    out = capsys.readouterr().out
    assert "BAD model" in out and "truncated" in out
    assert main(["models", "install", str(tmp_path / "missing")]) == 1
    assert "not a folder with model files" in capsys.readouterr().err
    assert main(["models", "download", "no-such-set"]) == 1
    assert "unknown model set" in capsys.readouterr().err


# ---- download from a local hub ------------------------------------------------------------------


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants as hub_constants

    monkeypatch.setattr(hub_constants, "HF_HUB_OFFLINE", False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def _hub_files(tmp_path: Path) -> dict[str, bytes]:
    model, mmproj = make_set(
        tmp_path / "hubsrc", model="FADA-SKD-0.8B-Q4_K_M.gguf", mmproj="mmproj-FADA-SKD-0.8B-F16.gguf"
    )
    big = write_gguf(model, "qwen35", tensors={"w": __import__("numpy").ones((64, 64), "float32")})
    return {
        "FADA-SKD-0.8B-Q4_K_M.gguf": big.read_bytes(),
        "mmproj-FADA-SKD-0.8B-F16.gguf": mmproj.read_bytes(),
        "README.md": b"# readme\n",
    }


def test_download_resolves_files_and_verifies(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    man = get_manifest(DEFAULT_SET)  # unpinned: names from the listing, sha from the hub's LFS etag
    with LocalHub(HubState(REPO, files)) as hub:
        st = drive(download(man, tmp_path / "dl", endpoint=hub.endpoint))
        log = list(hub.state.log)
    assert st.ok
    for name in ("FADA-SKD-0.8B-Q4_K_M.gguf", "mmproj-FADA-SKD-0.8B-F16.gguf"):
        assert (tmp_path / "dl" / name).read_bytes() == files[name]
    rec = ModelManifest.load(tmp_path / "dl" / INSTALLED_NAME)
    assert rec.file("model").sha256 == hashlib.sha256(files["FADA-SKD-0.8B-Q4_K_M.gguf"]).hexdigest()
    assert any(path.startswith(f"/api/models/{REPO}/tree/main") for _m, path, _r in log)
    assert not list((tmp_path / "dl").glob("*.part"))
    # a second run finds the files complete and downloads nothing
    with LocalHub(HubState(REPO, files)) as hub:
        drive(download(man, tmp_path / "dl", endpoint=hub.endpoint))
        assert not [x for x in hub.state.log if x[0] == "GET" and "/resolve/" in x[1]]


def test_download_resumes_after_interruption(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    model_name = "FADA-SKD-0.8B-Q4_K_M.gguf"
    size = len(files[model_name])
    man = manifest_for(*(tmp_path / "hubsrc" / n for n in (model_name, "mmproj-FADA-SKD-0.8B-F16.gguf")))
    state = HubState(REPO, files, cut_after=size // 3, cuts=1)
    with LocalHub(state) as hub:
        # retries=0: the first cut ends the run, the partial file stays
        with pytest.raises(ModelError, match="run the download again to resume"):
            drive(download(man, tmp_path / "dl", endpoint=hub.endpoint, retries=0))
        part = tmp_path / "dl" / (model_name + ".part")
        assert part.stat().st_size == size // 3
        assert not (tmp_path / "dl" / model_name).exists()
        st = drive(download(man, tmp_path / "dl", endpoint=hub.endpoint))
        ranges = [r for m, p, r in state.log if m == "GET" and p.endswith(model_name)]
    assert st.ok and ranges == [None, f"bytes={size // 3}-"]
    assert (tmp_path / "dl" / model_name).read_bytes() == files[model_name]


def test_download_retries_within_one_run(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    state = HubState(REPO, files, cut_after=100, cuts=2)
    with LocalHub(state) as hub:
        st = drive(
            download(get_manifest(DEFAULT_SET), tmp_path / "dl", endpoint=hub.endpoint, retries=3)
        )
    assert st.ok


def test_download_rejects_corrupt_data(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    state = HubState(REPO, files, corrupt={"mmproj-FADA-SKD-0.8B-F16.gguf"})
    with LocalHub(state) as hub:
        with pytest.raises(ModelError, match="corrupt \\(checksum mismatch\\)"):
            drive(download(get_manifest(DEFAULT_SET), tmp_path / "dl", endpoint=hub.endpoint))
    assert not (tmp_path / "dl" / "mmproj-FADA-SKD-0.8B-F16.gguf").exists()
    assert not list((tmp_path / "dl").glob("*.part"))


def test_download_hub_version_differs_from_pinned_manifest(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    model_name = "FADA-SKD-0.8B-Q4_K_M.gguf"
    man = manifest_for(*(tmp_path / "hubsrc" / n for n in (model_name, "mmproj-FADA-SKD-0.8B-F16.gguf")))
    files[model_name] = files[model_name][:-4] + b"\0\0\0\1"
    with LocalHub(HubState(REPO, files)) as hub:
        with pytest.raises(ModelError, match="different version"):
            drive(download(man, tmp_path / "dl", endpoint=hub.endpoint))


def test_download_errors_are_clear(tmp_path: Path, online: None) -> None:
    files = _hub_files(tmp_path)
    del files["mmproj-FADA-SKD-0.8B-F16.gguf"]
    with LocalHub(HubState(REPO, files)) as hub:
        with pytest.raises(ModelError, match=r"expected one file matching \*mmproj\*.gguf"):
            drive(download(get_manifest(DEFAULT_SET), tmp_path / "dl", endpoint=hub.endpoint))
    # nothing listening
    with pytest.raises(ModelError, match="cannot reach 127.0.0.1"):
        drive(download(get_manifest(DEFAULT_SET), tmp_path / "dl", endpoint="http://127.0.0.1:9"))


def test_download_offline_mode(tmp_path: Path) -> None:
    import huggingface_hub.constants as hub_constants

    if not hub_constants.HF_HUB_OFFLINE:
        pytest.skip("huggingface_hub was imported before offline mode was set")
    with pytest.raises(ModelError, match="HF_HUB_OFFLINE"):
        drive(download(get_manifest(DEFAULT_SET), tmp_path / "dl"))


def test_download_cli(tmp_path: Path, online: None, capsys: pytest.CaptureFixture[str]) -> None:
    files = _hub_files(tmp_path)
    with LocalHub(HubState(REPO, files)) as hub:
        assert main(["models", "download", "--endpoint", hub.endpoint]) == 0
    assert "fada-skd-0.8b-q4_k_m: ready" in capsys.readouterr().out
    assert verify_set(user_models_dir() / DEFAULT_SET).ok
    assert os.listdir(user_models_dir()) == [DEFAULT_SET]
