"""Exports of finalized report versions: version/status/signer shown, bytes reproducible from the store."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from fada_desk.app import report_versions as rv
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.annotation_commands import AddAnnotation, SetStatus
from fada_desk.core.annotations import Caliper, Ellipse
from fada_desk.core.cancel import drive
from fada_desk.core.errors import ExportError, StorageError
from fada_desk.core.interpretation_commands import AcceptAll
from fada_desk.core.report_record import ReportState
from fada_desk.core.review_types import FrameRef
from fada_desk.export import ClinicHeader, ExportOptions, export_exam
from fada_desk.export.bundle import build_bundle
from fada_desk.export.report_snapshot import content_of, version_bundle
from fada_desk.storage import CapturedItem, Exam, ExamStore
from fada_desk.storage.review import ReviewStore

from fada_analysis import analysis_dict

OP = "A. Sonographer"
CLINIC = ClinicHeader("Clinique Étoile de Thiès", "12 Rue des Manguiers\nThiès, Sénégal")


@pytest.fixture()
def final(store: ExamStore, exam: Exam, item: CapturedItem) -> dict[str, Any]:
    """AI output reviewed (abdomen box rejected, the rest accepted), HC + BPD measured, version 1 signed."""
    f = FrameRef(item.id)
    with ReviewSession(store, exam.id, OP) as s:
        anns = s.import_analysis(item.id, analysis_dict(), analysis_id="run-1")
        s.push(SetStatus(s.doc, [anns[1].id], "rejected"))
        s.push(AcceptAll(s.doc))
        s.push(AddAnnotation(s.doc, Ellipse(frame=f, label="HC", cx=396, cy=270, rx=89, ry=71, measure="HC")))
        s.push(AddAnnotation(s.doc, Caliper(frame=f, label="BPD", p1=(396, 199), p2=(396, 341), measure="BPD")))
    entry = rv.finalize(store, exam.id, OP, "Head measured.", clinic=CLINIC)
    return {"anns": anns, "entry": entry}


def _text(path: Path) -> tuple[str, dict[str, str]]:
    """All pages' text, wrapped lines joined with spaces, and the PDF metadata."""
    pdf = pdfium.PdfDocument(str(path))
    try:
        text = " ".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        return text.replace("\r\n", " "), pdf.get_metadata_dict()
    finally:
        pdf.close()


def test_a_final_report_exports_to_the_same_bytes_every_time(
        store: ExamStore, exam: Exam, final: dict, tmp_path: Path) -> None:
    a = drive(export_exam(store, exam.id, "pdf", tmp_path / "a", ExportOptions(clinic=ClinicHeader("Other"))))
    b = drive(rv.export_version(store, exam.id, 1, "pdf", tmp_path / "b"))  # after a's audit entry
    c = drive(export_exam(store, exam.id, "pdf", tmp_path / "c", ExportOptions(include_pending=True)))
    assert a[0].name == "exam-1_MRN-001_report_v1.pdf"
    assert a[0].read_bytes() == b[0].read_bytes() == c[0].read_bytes()
    j1 = drive(export_exam(store, exam.id, "json", tmp_path / "a"))
    j2 = drive(rv.export_version(store, exam.id, 1, "json", tmp_path / "b"))
    assert j1[0].read_bytes() == j2[0].read_bytes()
    doc = json.loads(j1[0].read_text(encoding="utf-8"))
    signed = final["entry"]
    assert doc["generated_at"] == signed.ts_utc and doc["clinic"]["name"] == CLINIC.name  # the signed header
    assert doc["report"]["version"] == 1 and doc["report"]["status"] == "final" and doc["report"]["locked"]
    assert doc["report"]["exported_version"] == 1 and doc["report"]["signed_by"] == OP
    assert doc["report"]["content_hash"] == signed.after["report"]["content_hash"]
    assert doc["review"]["sign_off"]["audit_hash"] == signed.hash == doc["audit"]["head_hash"]
    assert doc["pending_count"] == 0 and [m["parameter"] for m in doc["measurements"]] == ["HC", "BPD"]
    exports = [e for e in ReviewStore(store).audit_entries(exam.id) if e.action == "exam.export"]
    assert [e.after["report_version"] for e in exports] == [1, 1, 1, 1, 1]


def test_the_pdf_of_a_final_report_names_version_status_signer_and_hash(
        store: ExamStore, exam: Exam, final: dict, tmp_path: Path) -> None:
    (path,) = drive(rv.export_version(store, exam.id, 1, "pdf", tmp_path))
    text, meta = _text(path)
    signed = final["entry"]
    sha = signed.after["report"]["content_hash"]
    for needle in (
        f"Report version 1 - final. Signed off by {OP} on {signed.ts_utc} (UTC).",
        f"Version 1 - final. Finalized in fada_desk by {OP} on {signed.ts_utc} (UTC). Statement: Head measured.",
        f"Content hash (SHA-256): {sha}",
        f"signed in entry #{signed.seq}",
        f"v1 finalized {signed.ts_utc}",
        "Hadlock 1984 (HC)",
    ):
        assert needle in text, needle
    assert "Not yet signed off" not in text and "generated" not in text
    digits = "".join(ch for ch in signed.ts_utc[:19] if ch.isdigit())
    assert meta["CreationDate"] == meta["ModDate"] == f"D:{digits}+00'00'"
    assert meta["Keywords"] == f"fada_desk report version 1 final sha256:{sha}"


def test_the_rebuilt_version_is_the_signed_content(store: ExamStore, exam: Exam, final: dict) -> None:
    live = build_bundle(store, exam.id, ExportOptions(clinic=CLINIC))
    state = ReviewStore(store).report_state(exam.id)
    rebuilt = version_bundle(store, exam.id, state, 1)
    assert content_of(rebuilt) == content_of(live)  # lossless: same hash as signed
    assert rebuilt.biometry.to_dict() == live.biometry.to_dict()  # a field added to the report must be kept
    primary = [i for i, e in enumerate(rebuilt.biometry.ga) if e is rebuilt.biometry.primary_ga]  # "(primary)"
    assert primary == [live.biometry.ga.index(live.biometry.primary_ga)]
    assert [m.to_dict() for m in rebuilt.measurements] == [m.to_dict() for m in live.measurements]
    assert (rebuilt.frames[0].rgb() == live.frames[0].rgb()).all()
    assert rebuilt.operator == OP and rebuilt.version is state.versions[0]


def test_amended_versions_each_export_as_signed(
        store: ExamStore, exam: Exam, item: CapturedItem, final: dict, tmp_path: Path) -> None:
    (v1_before,) = drive(rv.export_version(store, exam.id, 1, "pdf", tmp_path / "before"))
    rv.amend(store, exam.id, "Dr Reviewer", "BPD caliper misplaced")
    (draft,) = drive(export_exam(store, exam.id, "pdf", tmp_path / "draft", ExportOptions(clinic=CLINIC)))
    text, _ = _text(draft)
    assert "Report version 2 - preliminary. Not yet signed off. Amendment of version 1 in progress (reason: " \
           "BPD caliper misplaced; opened by Dr Reviewer" in text
    assert draft.name == "exam-1_MRN-001_report.pdf" and "generated" in text
    with ReviewSession(store, exam.id, "Dr Reviewer") as s:
        bpd = next(a for a in s.doc if a.measure == "BPD")
        s.push(SetStatus(s.doc, [bpd.id], "rejected"))
        s.sign_off("BPD removed.")
    (v1_after,) = drive(rv.export_version(store, exam.id, 1, "pdf", tmp_path / "after"))
    assert v1_after.read_bytes() == v1_before.read_bytes()  # a later version changes no earlier one
    (v2,) = drive(export_exam(store, exam.id, "pdf", tmp_path / "v2"))
    assert v2.name == "exam-1_MRN-001_report_v2.pdf"
    flat, meta = _text(v2)
    assert "Report version 2 - amended. Signed off by Dr Reviewer" in flat
    assert "Amends version 1: BPD caliper misplaced (amendment opened by Dr Reviewer)." in flat
    assert f"Earlier versions: v1 final: signed by {OP}" in flat and "Not yet signed off" not in flat
    assert "sha256:" in meta["Keywords"] and "version 2 amended" in meta["Keywords"]
    (j2,) = drive(rv.export_version(store, exam.id, 2, "json", tmp_path / "v2"))
    doc = json.loads(j2.read_text(encoding="utf-8"))
    assert [m["parameter"] for m in doc["measurements"]] == ["HC"]
    assert [v["status"] for v in doc["report"]["versions"]] == ["final", "amended"]
    assert doc["report"]["reason"] == "BPD caliper misplaced"


def test_versions_that_cannot_be_exported_say_why(
        store: ExamStore, exam: Exam, final: dict, tmp_path: Path) -> None:
    state = ReviewStore(store).report_state(exam.id)
    with pytest.raises(ExportError, match=r"^Exam #1 has no report version 3 \(versions 1 to 1\)\.$"):
        drive(rv.export_version(store, exam.id, 3, "pdf", tmp_path))
    damaged = ReportState((dataclasses.replace(state.versions[0], snapshot=None, problem="it was tampered with"),))
    with pytest.raises(ExportError, match="damaged in the store: it was tampered with"):
        version_bundle(store, exam.id, damaged, 1)
    bad = dict(state.versions[0].snapshot)
    bad["content"] = {**bad["content"], "images": [{"item": {}}]}
    with pytest.raises(ExportError, match="cannot be read from the store"):
        version_bundle(store, exam.id, ReportState((dataclasses.replace(state.versions[0], snapshot=bad),)), 1)

    class OtherPixels:  # the store's image no longer has the signed SHA-256
        def __getattr__(self, name: str) -> Any:
            return getattr(store, name)

        def get_item(self, item_id: int) -> Any:
            return dataclasses.replace(store.get_item(item_id), sha256="0" * 64)

    frames = version_bundle(OtherPixels(), exam.id, state, 1).frames
    with pytest.raises(StorageError, match="are not those of report version 1"):
        frames[0].rgb()
