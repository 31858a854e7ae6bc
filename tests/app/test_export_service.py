"""The export service the review GUI and ``fada-desk export`` share: options, clinic header, jobs."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from fada_analysis import analysis_dict

from app.fakes import OPERATOR
from fada_desk.app.export import FORMAT_TITLES, FORMATS, ExamExport, export_options, parse_exam_id
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.cancel import CancelToken, drive
from fada_desk.core.errors import Cancelled, ExportError
from fada_desk.export import EXPORTERS
from fada_desk.export.options import ClinicHeader
from fada_desk.storage.review import ReviewStore

CLINIC = ClinicHeader("Clinique du Fleuve", "1 Quai\nSaint-Louis", "+221 33 000 00 00")


def test_formats_are_the_registered_exporters() -> None:
    assert sorted(FORMATS) == sorted(FORMAT_TITLES) == EXPORTERS.names()
    assert list(FORMAT_TITLES) == ["pdf", "png", "json"]


def test_exam_numbers_and_options() -> None:
    assert parse_exam_id("12") == 12 and parse_exam_id(" #7 ") == 7
    with pytest.raises(ExportError, match="EXAM_ID must be an exam number, got 'abc'"):
        parse_exam_id("abc")
    opts = export_options(include_pending=True, operator="  B. Reviewer ")
    assert opts.include_pending and opts.operator == "B. Reviewer" and opts.clinic is None
    assert ExamExport(None, 1, CLINIC).options().clinic == CLINIC


def _json(paths: list[Path]) -> dict[str, Any]:
    (path,) = [p for p in paths if p.suffix == ".json"]
    return json.loads(path.read_text(encoding="utf-8"))


def test_job_exports_and_audits_with_the_given_clinic(store: Any, exam: Any, item: Any,
                                                      tmp_path: Path) -> None:
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.import_analysis(item.id, analysis_dict())
    export = ExamExport(store, exam.id, CLINIC)
    seen: list[str] = []
    paths = drive(export.job("json", tmp_path / "out", export.options(include_pending=True)),
                  lambda p: seen.append(p.message))
    doc = _json(paths)
    assert doc["clinic"]["name"] == "Clinique du Fleuve" and doc["pending_count"] > 0
    assert seen[0] == "reading the exam"
    last = ReviewStore(store).audit_entries(exam.id)[-1]
    assert last.action == "exam.export" and last.after["include_pending"] is True


def test_the_clinic_header_defaults_to_the_settings_file(store: Any, exam: Any, item: Any,
                                                         tmp_path: Path) -> None:
    settings = Path(os.environ["FADA_DESK_DATA_DIR"]) / "settings.ini"
    settings.write_text('[clinic]\nname="Cabinet Sud"\nphone=+221 1\n', encoding="utf-8")
    paths = drive(ExamExport(store, exam.id).job("json", tmp_path))
    assert _json(paths)["clinic"]["name"] == "Cabinet Sud"


def test_run_exports_each_format_once_with_progress(store: Any, exam: Any, item: Any, tmp_path: Path) -> None:
    export = ExamExport(store, exam.id, CLINIC)
    progress: list[str] = []
    paths = export.run(["json", "png", "json"], tmp_path, on_progress=lambda fmt, p: progress.append(fmt))
    assert sorted(p.suffix for p in paths) == [".json", ".png"] and all(p.exists() for p in paths)
    assert progress[0] == "json" and progress[-1] == "png"
    with pytest.raises(ExportError, match="Unknown export format"):
        export.run(["docx"], tmp_path)


def test_a_cancelled_job_writes_nothing(store: Any, exam: Any, item: Any, tmp_path: Path) -> None:
    token = CancelToken()
    token.cancel()
    out = tmp_path / "out"
    with pytest.raises(Cancelled):
        drive(ExamExport(store, exam.id, CLINIC).job("pdf", out, cancel=token))
    assert not out.exists() or not any(out.iterdir())
    assert [e.action for e in ReviewStore(store).audit_entries(exam.id)].count("exam.export") == 0
