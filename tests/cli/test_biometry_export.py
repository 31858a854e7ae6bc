"""`fada-desk biometry` and `fada-desk export` through the real dispatcher (main([...]))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fada_desk.cli import main
from fada_desk.core.annotations import Caliper
from fada_desk.core.review_types import FrameRef
from fada_desk.core.annotation_commands import AddAnnotation
from fada_desk.storage import CapturedItem, Exam, ExamStore
from fada_desk.app.review_session import ReviewSession

from fada_analysis import analysis_dict


def test_biometry_text(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["biometry", "--hc", "60", "--ac", "60", "--fl", "60"]) == 0
    out = capsys.readouterr().out
    assert "Hadlock 1985 (HC, AC, FL)" in out and "305 g" in out  # 304.5 g (published check value)
    assert "* Hadlock 1985 (HC, AC, FL)" in out
    assert "Hadlock 1984 (HC, AC, FL)" in out
    assert "Am J Obstet Gynecol 1985;151:333-337" in out


def test_biometry_json_subset_and_decimal_comma(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["biometry", "--ac", "260", "--hc", "290,0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    ig = next(e for e in doc["efw"] if e["equation"] == "INTERGROWTH-21st (AC, HC)")
    assert round(ig["efw_g"]) == 1499
    assert doc["measurements_mm"] == {"HC": 290.0, "AC": 260.0}


def test_biometry_crl_and_dates(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["biometry", "--crl", "45", "--lmp", "2024-01-01", "--date", "2024-04-01", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["primary_ga"]["equation"] == "INTERGROWTH-21st (CRL)"
    assert doc["ga_by_dates_days"] == 91
    assert any("redating threshold" in w for w in doc["warnings"])  # 11w1d vs 13w0d


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["biometry"], "at least one measurement"),
        (["biometry", "--hc", "abc"], "HC must be a number"),
        (["biometry", "--fl", "-3"], "positive"),
        (["biometry", "--ac", "3"], "plausible"),
        (["biometry", "--hc", "175", "--lmp", "01/02/2024"], "date like"),
        (["biometry", "--hc", "175", "--date", "2024-01-01"], "--date needs --lmp"),
    ],
)
def test_biometry_errors(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("fada-desk: error: ") and message in err and err.count("\n") == 1


def test_export_cli_all_formats(
    store: ExamStore, exam: Exam, item: CapturedItem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReviewSession(store, exam.id, "Op") as s:
        anns = s.import_analysis(item.id, analysis_dict())
        s.push(
            AddAnnotation(
                s.doc,
                Caliper(frame=FrameRef(item.id), label="BPD", p1=(396, 199), p2=(396, 341), measure="BPD"),
            )
        )
    db = store.path
    store.close()  # the CLI opens the store itself (as another process would)
    out = tmp_path / "export"
    assert (
        main(
            [
                "export",
                str(exam.id),
                "--format",
                "json",
                "--format",
                "png",
                "--format",
                "pdf",
                "--out",
                str(out),
                "--store",
                str(db),
            ]
        )
        == 0
    )
    captured = capsys.readouterr()
    paths = [Path(p) for p in captured.out.split()]
    assert sorted(p.suffix for p in paths) == [".json", ".pdf", ".png"]
    assert all(p.exists() and p.parent == out for p in paths)
    doc = json.loads(next(p for p in paths if p.suffix == ".json").read_text(encoding="utf-8"))
    assert doc["images"][0]["fada"]["detections"] == []  # everything AI is still pending
    assert doc["measurements"][0]["parameter"] == "BPD"
    # with --include-pending the AI output is in, marked
    assert (
        main(
            [
                "export",
                str(exam.id),
                "--format",
                "json",
                "--out",
                str(out),
                "--store",
                str(db),
                "--include-pending",
                "--operator",
                "Dr Reviewer",
            ]
        )
        == 0
    )
    doc = json.loads(Path(capsys.readouterr().out.strip()).read_text(encoding="utf-8"))
    assert len(doc["images"][0]["fada"]["detections"]) == 2
    assert {a["id"] for a in doc["images"][0]["annotations"]} >= {a.id for a in anns}
    assert doc["review"]["reviewed_by"] == "Dr Reviewer"


def test_export_cli_errors(
    store: ExamStore, exam: Exam, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = str(store.path)
    store.close()
    assert main(["export", "999", "--format", "json", "--out", str(tmp_path), "--store", db]) == 1
    assert "No exam #999" in capsys.readouterr().err
    assert main(["export", "abc", "--format", "json", "--out", str(tmp_path), "--store", db]) == 1
    assert "EXAM_ID must be an exam number" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: unknown format
        main(["export", "1", "--format", "docx", "--out", str(tmp_path)])
