"""`fada-desk analyze` end to end through main([...]) with a scripted backend, then `evaluate`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fada_desk.cli import main
from fada_desk.inference.fada import constants as C
from fada_desk.inference.model_store import resolve
from fada_desk.inference.model_store.status import SetStatus

from .._gguf import make_set
from ..fakes import FakeBackend
from .test_pipeline import BRAIN


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeBackend:
    backend = FakeBackend(answers=dict(BRAIN))
    created: list[dict] = []

    def create(status: SetStatus, **options: object) -> FakeBackend:
        created.append({"model": status.path("model"), **options})
        return backend

    monkeypatch.setattr(resolve, "create_backend", create)
    backend.created = created  # type: ignore[attr-defined]
    make_set(tmp_path / "model")
    return backend


def _png(path: Path, w: int = 800, h: int = 600, value: int = 40) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((h, w), value, np.uint8)).save(path)
    return path


def test_analyze_single_image(fake: FakeBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    img = _png(tmp_path / "scan.png")
    out = tmp_path / "out"
    rc = main(
        [
            "analyze",
            str(img),
            "--model-dir",
            str(tmp_path / "model"),
            "--out",
            str(out),
            "--threads",
            "2",
            "--max-side",
            "512",
        ]
    )
    assert rc == 0, capsys.readouterr().err
    assert fake.created[0]["n_threads"] == 2 and fake.closed
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["format"] == "fada-desk-analysis/1" and doc["mode"] == "autonomous"
    assert doc["mapping"]["tier"] == "cls_specific_BPD_PLANE" and doc["classification"] == "BPD_PLANE"
    assert [p["phase"] for p in doc["phases"]] == ["interpret", "classify", "detect", "segment"]
    assert doc["models"]["model_sha256"] == "a" * 64 and doc["settings"]["max_side"] == 512
    assert doc["image"]["source"] == str(img) and doc["image"]["width"] == 800
    det = doc["phases"][2]
    assert det["raw_text"] == BRAIN["detect"] and det["prompt"] == C.build_detect_prompt("Brain, CSP, LV")
    # 0-1000 -> 800 x 600 pixels: 212*.8, 118*.6, 803*.8, 876*.6
    assert det["predictions"]["detections"][0]["box"] == pytest.approx([169.6, 70.8, 642.4, 525.6])
    assert set(doc["timings"]) == {"interpret", "classify", "detect", "segment"}
    # overlays: the Brain box outline is drawn in the FADA palette colour along its top edge
    pix = np.asarray(Image.open(out / "detect.png"))
    assert pix.shape == (600, 800, 3)
    brain = np.array(C.class_color("Brain"))
    top_edge = pix[69:74, 300:600]
    assert (np.abs(top_edge.astype(int) - brain).sum(axis=2) == 0).sum() >= 300
    assert (pix[300, 100] == 40).all()  # untouched background
    seg = np.asarray(Image.open(out / "segment.png")).astype(int)
    inside = seg[300, 400]  # inside the Brain polygon: 25 % palette colour over grey 40
    assert np.allclose(inside, 0.75 * 40 + 0.25 * brain, atol=2)
    assert not (out / "keypoints.png").exists()
    assert "view BPD_PLANE" in capsys.readouterr().err


def test_analyze_interpret_mode(fake: FakeBackend, tmp_path: Path) -> None:
    img = _png(tmp_path / "scan.png")
    assert (
        main(
            [
                "analyze",
                str(img),
                "--mode",
                "interpret",
                "--model-dir",
                str(tmp_path / "model"),
                "--out",
                str(tmp_path / "o"),
                "--no-cache",
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "o" / "analysis.json").read_text())
    assert [p["phase"] for p in doc["phases"]] == ["interpret", "classify"]
    assert doc["mapping"]["det_classes"] == "Brain, CSP, LV"
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["analysis.json"]


def test_analyze_batch_folder(fake: FakeBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "exam"
    _png(folder / "img10.png", value=10)
    _png(folder / "img2.png", value=20)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "--model-dir", str(tmp_path / "model"), "--out", str(out)]) == 0
    summary = json.loads((out / "batch_summary.json").read_text())
    assert [Path(r["file"]).name for r in summary["results"]] == ["img2.png", "img10.png"]  # natural order
    assert summary["failed"] == 0
    for name in ("img2.png", "img10.png"):
        assert json.loads((out / name / "analysis.json").read_text())["image"]["source"].endswith(name)
        assert (out / name / "detect.png").exists()
    err = capsys.readouterr().err
    assert "[1/2] img2.png" in err and "2/2 analysed without errors" in err


def test_analyze_batch_reports_bad_files_and_goes_on(
    fake: FakeBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "exam"
    _png(folder / "a.png")
    (folder / "b.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    out = tmp_path / "out"
    assert main(["analyze", str(folder), "--model-dir", str(tmp_path / "model"), "--out", str(out)]) == 1
    summary = json.loads((out / "batch_summary.json").read_text())
    assert [r["ok"] for r in summary["results"]] == [True, False]
    assert (out / "a.png" / "analysis.json").exists()
    assert "b.png: error:" in capsys.readouterr().err


def test_analyze_errors_are_one_line(
    fake: FakeBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    img = _png(tmp_path / "scan.png")
    model = str(tmp_path / "model")
    assert (
        main(["analyze", str(img), "--frame", "3", "--model-dir", model, "--out", str(tmp_path / "o")]) == 1
    )
    assert "frame 3 does not exist" in capsys.readouterr().err
    assert (
        main(["analyze", str(tmp_path / "nope.png"), "--model-dir", model, "--out", str(tmp_path / "o")]) == 1
    )
    assert "no such file or directory" in capsys.readouterr().err
    assert (
        main(["analyze", str(img), "--model-dir", str(tmp_path / "none"), "--out", str(tmp_path / "o")]) == 1
    )
    assert "model folder not found" in capsys.readouterr().err
    (tmp_path / "model" / "mmproj-fada-F16.gguf").write_bytes(b"GGUF")
    assert main(["analyze", str(img), "--model-dir", model, "--out", str(tmp_path / "o")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fada-desk: error:") and err.count("\n") == 1
    assert (
        main(["analyze", str(img), "--max-side", "5", "--model-dir", model, "--out", str(tmp_path / "o")])
        == 1
    )


def test_analyze_then_evaluate(fake: FakeBackend, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "exam"
    _png(folder / "case1.png")
    out = tmp_path / "pred"
    assert main(["analyze", str(folder), "--model-dir", str(tmp_path / "model"), "--out", str(out)]) == 0
    gt = tmp_path / "gt"
    gt.mkdir()
    # ground truth = the Brain box the fake model answered (800 x 600), CSP elsewhere, view BPD_PLANE
    (gt / "case1.json").write_text(
        json.dumps(
            {
                "width": 800,
                "height": 600,
                "classification": "BPD_PLANE",
                "detections": [
                    {"label": "Brain", "box": [169.6, 70.8, 642.4, 525.6]},
                    {"label": "CSP", "box": [0, 0, 10, 10]},
                ],
            }
        )
    )
    capsys.readouterr()
    assert main(["evaluate", "--pred", str(out), "--gt", str(gt), "--json", str(tmp_path / "m.json")]) == 0
    m = json.loads((tmp_path / "m.json").read_text())
    det = m["detection"]
    # Brain matched (and the segmentation box of Brain is a second, duplicate Brain prediction),
    # CSP/LV predicted away from their GT -> FP
    assert det["ap_Brain@0.50"] == pytest.approx(1.0)
    assert det["ap_CSP@0.50"] == pytest.approx(1 / 101)
    assert det["ap_LV@0.50"] == 0.0
    assert m["classification"]["accuracy"] == 1.0


@pytest.mark.parametrize(
    "rel,frame,size",
    [(("video", "us_cine_sonosite_30f.mp4"), 29, (320, 240)), (("dicom", "OBXXXX1A_2frame.dcm"), 1, (800, 600))],
)
def test_analyze_cine_and_dicom_frames(
    fake: FakeBackend, tmp_path: Path, rel: tuple[str, str], frame: int, size: tuple[int, int]
) -> None:
    from testdata import shared_or_local

    path = shared_or_local(*rel)
    out = tmp_path / "o"
    args = ["analyze", str(path), "--frame", str(frame), "--model-dir", str(tmp_path / "model"), "--out", str(out)]
    assert main(args) == 0
    doc = json.loads((out / "analysis.json").read_text())
    assert doc["image"]["frame_index"] == frame and (doc["image"]["width"], doc["image"]["height"]) == size
    args[3] = str(frame + 1)
    assert main(args) == 1
