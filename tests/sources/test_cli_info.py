"""``fada-desk info``: table and JSON output, and one-line errors with exit code 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from testdata import shared_or_local

from fada_desk.cli import main

OB = shared_or_local("dicom", "OBXXXX1A.dcm")
MP4 = shared_or_local("video", "us_cine_sonosite_30f.mp4")
ROOT = Path(__file__).resolve().parents[2]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fada_desk", *args], cwd=ROOT, capture_output=True, text=True, timeout=120
    )


def test_info_dicom_table_via_subprocess() -> None:
    res = _cli("info", str(OB))
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for expected in (
        "Kind             dicom",
        "Frames           1",
        "Size             800 x 600 px",
        "Photometric      PALETTE COLOR",
        "Transfer syntax  Explicit VR Little Endian (1.2.840.10008.1.2.1)",
        "Modality         US",
        "SOP Class        Ultrasound Image Storage",
        "2 region(s), 1 calibrated (cm), from SequenceOfUltrasoundRegions",
    ):
        assert expected in out, expected
    # the regions table: bounds, units, mm/px, what the region shows
    row1 = next(line for line in out.splitlines() if line.startswith("1  "))
    assert (
        "(120,60)-(800,518)" in row1 and "cm/cm" in row1 and "0.2623/0.2623" in row1 and "2D tissue" in row1
    )
    row2 = next(line for line in out.splitlines() if line.startswith("2  "))
    assert "seconds/none" in row2 and "- (not cm)" in row2 and "ECG trace" in row2
    assert res.stderr == ""


def test_info_json_via_main(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(OB)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["kind"], data["width"], data["height"], data["frame_count"]) == ("dicom", 800, 600, 1)
    md = data["metadata"]
    assert md["TransferSyntaxUID"] == "1.2.840.10008.1.2.1"
    assert md["PhotometricInterpretation"] == "PALETTE COLOR"
    assert md["Modality"] == "US" and md["StudyInstanceUID"]
    cal = data["calibration"]
    assert cal["source"] == "dicom" and cal["is_calibrated"] is True
    r1, r2 = cal["regions"]
    assert r1["calibrated"] is True and r1["units"] == ["cm", "cm"]
    assert r1["mm_per_px"] == pytest.approx([0.2622878766196998, 0.2622878766196998])
    assert (r1["x0"], r1["y0"], r1["x1"], r1["y1"]) == (120, 60, 800, 518)
    assert r2["calibrated"] is False and r2["mm_per_px"] is None and r2["units"] == ["seconds", "none"]


def test_info_video_and_folder(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", str(MP4)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["kind"], data["frame_count"], data["fps"], data["calibration"]) == ("video", 30, 30.0, None)
    assert main(["info", str(shared_or_local("images", "001_HC.png")).rsplit("/", 1)[0]]) == 0
    out = capsys.readouterr().out
    assert "Kind         folder" in out and "Frames       2" in out


@pytest.mark.parametrize("bad", ["missing.dcm", "notes.txt", "fake.dcm"])
def test_unreadable_input_one_line_error_exit_1(tmp_path: Path, bad: str) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "fake.dcm").write_text("not dicom")
    res = _cli("info", str(tmp_path / bad))
    assert res.returncode == 1
    assert res.stdout == ""
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fada-desk: error: ")
    assert "Traceback" not in res.stderr


def test_missing_device_via_main(capsys: pytest.CaptureFixture[str]) -> None:
    if Path("/dev/video0").exists():
        pytest.skip("this machine has a capture device")
    assert main(["info", "device:0"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("fada-desk: error: capture device") and err.count("\n") == 1
