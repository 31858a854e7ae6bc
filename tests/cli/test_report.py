"""`fada-desk report finalize|amend|status|export` through the real dispatcher (main([...]))."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fada_desk.app.review_session import ReviewSession
from fada_desk.cli import main
from fada_desk.core.annotation_commands import AddAnnotation
from fada_desk.core.annotations import Caliper
from fada_desk.core.interpretation_commands import AcceptAll
from fada_desk.core.review_types import FrameRef
from fada_desk.storage import CapturedItem, Exam, ExamStore

from fada_analysis import analysis_dict


def _one_line_error(capsys: pytest.CaptureFixture[str], needle: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("fada-desk: error: ") and err.count("\n") == 1 and needle in err, err


def test_finalize_amend_status_export(
    store: ExamStore, exam: Exam, item: CapturedItem, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with ReviewSession(store, exam.id, "Op") as s:
        s.import_analysis(item.id, analysis_dict())
        s.push(AddAnnotation(s.doc, Caliper(frame=FrameRef(item.id), label="BPD", p1=(396, 199), p2=(396, 341),
                                            measure="BPD")))
    db = str(store.path)
    store.close()  # the CLI opens the store itself (as another process would)
    ex = str(exam.id)

    assert main(["report", "finalize", ex, "--operator", "Dr A", "--store", db]) == 1
    _one_line_error(capsys, "15 AI proposals are still pending review")
    assert main(["report", "export", ex, "--format", "pdf", "--out", str(tmp_path), "--store", db]) == 1
    _one_line_error(capsys, "has no finalized report version yet")
    assert main(["report", "amend", ex, "--operator", "Dr A", "--reason", "x", "--store", db]) == 1
    _one_line_error(capsys, "nothing to amend")
    assert main(["report", "status", ex, "--json", "--store", db]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["status"] == "preliminary" and doc["ai_proposals"]["pending"] == 15 and not doc["can_finalize"]

    with ExamStore.open(db) as st, ReviewSession(st, exam.id, "Op") as s:
        s.push(AcceptAll(s.doc))
    assert main(["report", "finalize", ex, "--operator", "Dr A", "--statement", "Normal head.", "--store", db]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("Version 1 - final") and "Signed off by Dr A on " in out
    assert main(["report", "finalize", ex, "--operator", "Dr A", "--store", db]) == 1
    _one_line_error(capsys, "already final")

    pdfs = []
    for sub in ("one", "two"):
        assert main(["report", "export", ex, "--version", "1", "--format", "pdf", "--out", str(tmp_path / sub),
                     "--store", db]) == 0
        pdfs.append(Path(capsys.readouterr().out.strip()))
    assert pdfs[0].name == f"exam-{exam.id}_MRN-001_report_v1.pdf"
    assert pdfs[0].read_bytes() == pdfs[1].read_bytes()

    assert main(["report", "amend", ex, "--operator", "Dr B", "--reason", "  ", "--store", db]) == 1
    _one_line_error(capsys, "needs a reason")
    assert main(["report", "amend", ex, "--operator", "Dr B", "--reason", "Referral letter", "--store", db]) == 0
    assert "amendment of version 1 opened by Dr B" in capsys.readouterr().out
    assert main(["report", "finalize", ex, "--operator", "Dr B", "--store", db]) == 0
    capsys.readouterr()
    assert main(["report", "status", ex, "--store", db]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].endswith("Version 2 - amended") and "Reason for amendment: Referral letter" in lines
    assert any(line.strip().startswith("v1 final: signed by Dr A") for line in lines)
    assert main(["report", "export", ex, "--version", "1", "--format", "json", "--out", str(tmp_path / "j"),
                 "--store", db]) == 0
    captured = capsys.readouterr()
    assert "version 1 was superseded by version 2" in captured.err
    assert json.loads(Path(captured.out.strip()).read_text(encoding="utf-8"))["report"]["status"] == "final"
    assert main(["report", "export", ex, "--version", "7", "--format", "pdf", "--out", str(tmp_path), "--store",
                 db]) == 1
    _one_line_error(capsys, "has no report version 7 (versions 1 to 2)")
    assert pdfs[0].read_bytes() == (tmp_path / "one" / pdfs[0].name).read_bytes()


def test_report_cli_argument_errors(store: ExamStore, exam: Exam, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(store.path)
    store.close()
    assert main(["report", "finalize", str(exam.id), "--operator", " ", "--store", db]) == 1
    _one_line_error(capsys, "operator name is required")
    assert main(["report", "status", "999", "--store", db]) == 1
    _one_line_error(capsys, "No exam #999")
    with pytest.raises(SystemExit):  # argparse: --reason is required
        main(["report", "amend", str(exam.id), "--operator", "Dr B"])
    with pytest.raises(SystemExit):  # argparse: docx is not a report format
        main(["report", "export", str(exam.id), "--format", "docx", "--out", "x"])
