"""Sign-off and amendment (app/report_versions.py + the review session's lock) on a real exam store."""

from __future__ import annotations

import json
from typing import Any

import pytest

from fada_desk.app import report_versions as rv
from fada_desk.app.exam_edit import ExamChanges, edit_exam
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.annotation_commands import AddAnnotation, MoveVertex, SetStatus
from fada_desk.core.annotations import Caliper
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.interpretation_commands import AcceptAll
from fada_desk.core.report_record import AMENDED, FINAL, LOCKED_MESSAGE, PRELIMINARY, content_hash
from fada_desk.core.review_types import FrameRef
from fada_desk.export.bundle import build_bundle
from fada_desk.export.options import ClinicHeader, ExportOptions
from fada_desk.storage.review import AuditRecord, ReportLocked, ReviewError, ReviewStore

from app.fakes import OPERATOR
from fada_analysis import analysis_dict

LOCKED = f"^{LOCKED_MESSAGE.replace('.', '[.]')}$"
CLINIC = ClinicHeader("Clinique Test")


def reviewed_session(store: Any, exam: Any, item: Any) -> tuple[ReviewSession, list[Any]]:
    """AI result imported and everything accepted, plus a manual caliper."""
    s = ReviewSession(store, exam.id, OPERATOR)
    anns = s.import_analysis(item.id, analysis_dict(), analysis_id="run-1")
    s.push(AcceptAll(s.doc))
    s.push(AddAnnotation(s.doc, Caliper(frame=FrameRef(item.id), label="BPD", p1=(396, 199), p2=(396, 341),
                                        measure="BPD")))
    return s, anns


def test_finalize_is_refused_while_ai_proposals_are_pending_and_needs_an_operator(
        store: Any, exam: Any, item: Any) -> None:
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.import_analysis(item.id, analysis_dict())
    pending = build_bundle(store, exam.id, ExportOptions(clinic=CLINIC)).review.pending  # what exports print
    assert pending == 15
    with pytest.raises(ReviewError, match=r"^15 AI proposals are still pending review \(0 accepted, 0 rejected, "
                                          r"15 not reviewed\); accept or reject them before finalizing"):
        rv.finalize(store, exam.id, OPERATOR, clinic=CLINIC)
    with pytest.raises(ReviewError, match="operator name is required"):
        rv.finalize(store, exam.id, "  ", clinic=CLINIC)
    status = rv.report_status(store, exam.id)
    assert status.state.versions == () and status.state.status == PRELIMINARY and not status.to_dict()["can_finalize"]
    assert "Cannot finalize: 15 AI proposals" in status.lines()[-1]


def test_finalize_records_the_version_and_locks_every_edit_path(store: Any, exam: Any, item: Any) -> None:
    other = ReviewSession(store, exam.id, "B. Colleague")  # open before the sign-off, with an undoable edit
    other.push(AddAnnotation(other.doc, Caliper(frame=FrameRef(item.id), p1=(0, 0), p2=(5, 5), measure="FL")))
    other.flush()
    s, anns = reviewed_session(store, exam, item)
    entry = s.sign_off("Reviewed, BPD measured.")
    after = entry.after
    assert entry.action == "exam.sign_off" and entry.operator == OPERATOR
    assert after["report"]["version"] == 1 and after["report"]["status"] == FINAL
    assert after["report"]["content_hash"] == content_hash(after["snapshot"]["content"])
    assert after["statement"] == "Reviewed, BPD measured." and after["ai_proposals"]["pending"] == 0
    state = s.report_state()
    assert state.locked and state.status == FINAL and state.version == 1
    assert state.signed.signer == OPERATOR and state.signed.signed_at == entry.ts_utc
    assert state.signed.audit_hash == entry.hash and state.signed.problem == ""

    before = s.doc.to_dict()
    with pytest.raises(ReportLocked, match=LOCKED):
        s.push(SetStatus(s.doc, [anns[0].id], "rejected"))
    with pytest.raises(ReportLocked, match=LOCKED):
        s.import_analysis(item.id, analysis_dict(), replace_reviewed=True)
    with pytest.raises(ReportLocked, match=LOCKED), s.stack.macro("Fit ellipse"):
        pass
    with pytest.raises(ReportLocked, match=LOCKED):
        other.undo()  # the other session learns of the lock from the store
    with pytest.raises(ReportLocked, match=LOCKED):
        edit_exam(store, exam.id, ExamChanges(referring="Dr Other"), by=OPERATOR)
    with pytest.raises(ReportLocked, match=LOCKED):  # the store itself refuses changed rows
        ReviewStore(store).commit(exam.id, operator=OPERATOR, removed=[anns[0].id])
    assert s.doc.to_dict() == before and ReviewStore(store).load(exam.id).to_dict() == before
    assert [a.measure for a in other.doc] == ["FL"]  # its refused undo changed nothing
    # audit-only actions (exports, notes) are still recorded
    assert s.record_action("exam.export", "x", None, {"format": "pdf"}).action == "exam.export"
    with pytest.raises(ReviewError, match="already final .*amend it to change it"):
        rv.finalize(store, exam.id, OPERATOR, clinic=CLINIC)
    other.close()
    s.close()
    assert ReviewStore(store).verify_audit().ok


def test_an_unsaved_drag_in_a_session_is_dropped_when_the_report_is_finalized_elsewhere(
        store: Any, exam: Any, item: Any) -> None:
    s, anns = reviewed_session(store, exam, item)
    brain = next(a for a in anns if a.kind == "polygon")
    x0, y0 = brain.points[0]
    s.push(MoveVertex(s.doc, brain.id, 0, x0 + 30, y0, gesture="drag"))  # merging: not written yet
    rv.finalize(store, exam.id, "C. Cli", clinic=CLINIC)  # e.g. `fada-desk report finalize` meanwhile
    with pytest.raises(ReportLocked, match=LOCKED):
        s.flush()
    assert s.doc.get(brain.id).points[0] == (x0, y0)  # the store wins: the signed content is on screen
    assert not s.stack.can_undo
    s.close()
    snap = ReviewStore(store).report_state(exam.id).signed.snapshot["content"]
    (img,) = snap["images"]
    stored = next(a for a in img["annotations"] if a["id"] == brain.id)
    assert stored["geometry"]["points"][0] == [x0, y0]


def test_amend_makes_a_new_version_with_its_reason_and_keeps_every_version(
        store: Any, exam: Any, item: Any) -> None:
    with pytest.raises(ReviewError, match="nothing to amend"):
        rv.amend(store, exam.id, OPERATOR, "typo")
    s, anns = reviewed_session(store, exam, item)
    v1 = s.sign_off()
    with pytest.raises(ReviewError, match="needs a reason"):
        s.amend("   ")
    a = s.amend("Abdomen box was wrong")
    assert (a.amends, a.reason, a.operator) == (1, "Abdomen box was wrong", OPERATOR)
    with pytest.raises(ReviewError, match="already open"):
        rv.amend(store, exam.id, "B. Colleague", "again")
    state = s.report_state()
    assert (state.locked, state.status, state.version) == (False, PRELIMINARY, 2)
    assert "Not yet signed off. Amendment of version 1 in progress (reason: Abdomen box was wrong" in \
        state.sign_off_text()
    s.push(SetStatus(s.doc, [anns[1].id], "rejected"))  # editable again
    v2 = rv.finalize(store, exam.id, "B. Colleague", "Corrected.", clinic=CLINIC)
    state = s.report_state()
    assert state.locked and state.status == AMENDED and [v.status for v in state.versions] == [FINAL, AMENDED]
    first, second = state.versions
    assert (second.version, second.signer, second.reason, second.amended_by) == (
        2, "B. Colleague", "Abdomen box was wrong", OPERATOR)
    assert first.content_hash == v1.after["report"]["content_hash"] != second.content_hash
    assert second.content_hash == v2.after["report"]["content_hash"]
    assert first.snapshot is not None and second.snapshot is not None  # both kept, both verify
    assert v2.before == {"version": 1, "content_hash": first.content_hash}
    with pytest.raises(ReportLocked, match=LOCKED):
        s.push(SetStatus(s.doc, [anns[1].id], "accepted"))
    s.close()
    assert ReviewStore(store).verify_audit().ok


def test_status_reads_the_state_and_notices_changes_made_outside_the_review(
        store: Any, exam: Any, item: Any) -> None:
    s, _ = reviewed_session(store, exam, item)
    s.flush()
    ready = rv.report_status(store, exam.id)
    assert ready.lines()[-1] == "Ready to finalize." and "Not yet signed off." in ready.lines()[1]
    s.sign_off()
    s.close()
    final = rv.report_status(store, exam.id)
    assert not final.changed and final.current_hash == final.state.signed.content_hash
    assert final.lines()[0].endswith("Version 1 - final") and final.lines()[1].startswith(f"Signed off by {OPERATOR}")
    # a calibration set on a captured image after the sign-off changes what the report would say
    store.set_calibration(item.id, Calibration(regions=(Region(0, 0, 799, 539, 0.01, 0.01),), source="dicom"))
    changed = rv.report_status(store, exam.id)
    assert changed.changed and "the exam changed since version 1 was finalized" in changed.lines()[-1]
    doc = json.loads(json.dumps(changed.to_dict()))
    assert doc["status"] == FINAL and doc["changed_since_final"] is True and doc["locked"] is True
    assert doc["versions"][0]["signed_by"] == OPERATOR and doc["finalize_refusal"].startswith("The report is already")


def test_a_review_note_with_pending_items_is_not_a_sign_off(store: Any, exam: Any, item: Any) -> None:
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.import_analysis(item.id, analysis_dict())
        note = s.sign_off("Looked at it.", allow_pending=True)
        assert note.action == "exam.sign_off" and "report" not in note.after
        assert not s.report_state().versions
        s.push(SetStatus(s.doc, [s.doc.pending()[0].id], "rejected"))  # still editable
    ReviewStore(store).append_audit(OPERATOR, [AuditRecord("exam.export", "x")], exam_id=exam.id)
    assert rv.report_status(store, exam.id).state.status == PRELIMINARY
