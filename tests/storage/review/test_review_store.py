"""Review persistence: autosave, reload, audit trail (append-only, hash-chained), AI import, sign-off."""

from __future__ import annotations

import json
import math
import sqlite3

import pytest

from fada_desk.core.annotations import Box, Caliper, Ellipse
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.audit import GENESIS_HASH, make_entry, verify_chain
from fada_desk.core.annotation_commands import (
    AddAnnotation,
    DeleteAnnotations,
    MoveVertex,
    Relabel,
    SetStatus,
)
from fada_desk.core.interpretation_commands import AcceptAll, EditInterpretationField
from fada_desk.core.errors import StorageError
from fada_desk.storage import CapturedItem, Exam, ExamStore
from fada_desk.app.review_session import ReviewSession
from fada_desk.storage.review import ReviewError, ReviewStore

from hc18_exam import HC18_MM_PER_PX
from fada_analysis import analysis_dict

OP = "A. Sonographer"


def test_pure_chain_detects_edits_insertions_and_truncation() -> None:
    entries = []
    prev = None
    for k in range(5):
        prev = make_entry(
            prev, operator="op", action=f"a{k}", target="t", before={"k": k}, after=[k, "é"], exam_id=1
        )
        entries.append(prev)
    assert entries[0].prev_hash == GENESIS_HASH
    assert verify_chain(entries).ok and verify_chain(entries, entries[-1].hash).ok
    tampered = list(entries)
    tampered[2] = type(entries[2])(**{**entries[2].to_dict(), "after": [99]})
    check = verify_chain(tampered)
    assert not check and check.first_bad_seq == 3 and "hash" in check.reason
    dropped = entries[:2] + entries[3:]
    assert verify_chain(dropped).first_bad_seq == 4
    assert not verify_chain(entries[:3], expected_head=entries[-1].hash)


def test_session_autosaves_and_reloads(store: ExamStore, exam: Exam, item: CapturedItem) -> None:
    f = FrameRef(item.id)
    with ReviewSession(store, exam.id, OP) as s:
        s.push(
            AddAnnotation(
                s.doc, Caliper(id="bpd", frame=f, label="BPD", p1=(300, 270), p2=(490, 270), measure="BPD")
            )
        )
        s.push(AddAnnotation(s.doc, Box(id="b", frame=f, label="head", x0=1, y0=2, x1=30, y1=40)))
        s.push(Relabel(s.doc, "b", "skull"))
        s.push(DeleteAnnotations(s.doc, ["b"]))
        s.undo()  # the box comes back
        saved = s.doc.to_dict()
    # written without close() too: a new session (another process) sees the same document
    again = ReviewSession(store, exam.id, OP)
    assert again.doc.to_dict() == saved
    assert [a.id for a in again.doc] == ["bpd", "b"]
    again.close()


def test_deleted_annotations_are_kept_in_the_database(
    store: ExamStore, exam: Exam, item: CapturedItem
) -> None:
    with ReviewSession(store, exam.id, OP) as s:
        s.push(AddAnnotation(s.doc, Box(id="gone", frame=FrameRef(item.id), x0=0, y0=0, x1=5, y1=5)))
        s.push(DeleteAnnotations(s.doc, ["gone"]))
    with sqlite3.connect(store.path) as conn:
        row = conn.execute("SELECT deleted_at, data FROM annotations WHERE id='gone'").fetchone()
    assert row[0] is not None and json.loads(row[1])["id"] == "gone"
    assert "gone" not in ReviewStore(store).load(exam.id)


def test_a_drag_is_one_audit_entry_and_undo_is_audited(
    store: ExamStore, exam: Exam, item: CapturedItem
) -> None:
    f = FrameRef(item.id)
    s = ReviewSession(store, exam.id, OP)
    s.push(AddAnnotation(s.doc, Caliper(id="fl", frame=f, p1=(10, 10), p2=(50, 10), measure="FL")))
    drag = object()
    for k in range(20):
        s.push(MoveVertex(s.doc, "fl", 1, 50 + k, 10, gesture=drag))
    s.flush()  # mouse released
    s.push(MoveVertex(s.doc, "fl", 1, 99, 9, gesture=drag))  # after flush, the same token starts a new step
    s.undo()
    s.close()
    actions = [(e.action, e.target) for e in ReviewStore(store).audit_entries(exam.id)]
    assert actions == [
        ("annotation.add", "fl"),
        ("annotation.vertex.move", "fl"),
        ("annotation.vertex.move", "fl"),
        ("annotation.vertex.move.undo", "fl"),
    ]
    entries = ReviewStore(store).audit_entries(exam.id)
    drag_entry = entries[1]
    assert drag_entry.before["geometry"]["p2"] == [50.0, 10.0]
    assert drag_entry.after["geometry"]["p2"] == [69.0, 10.0]
    assert entries[3].before["geometry"]["p2"] == [99.0, 9.0] and entries[3].after["geometry"]["p2"] == [
        69.0,
        10.0,
    ]
    assert all(e.operator == OP for e in entries)
    assert ReviewStore(store).verify_audit().ok


def test_audit_log_is_append_only_and_tampering_is_detected(
    store: ExamStore, exam: Exam, item: CapturedItem
) -> None:
    with ReviewSession(store, exam.id, OP) as s:
        for k in range(4):
            s.push(AddAnnotation(s.doc, Box(id=f"b{k}", frame=FrameRef(item.id), x0=k, y0=0, x1=k + 5, y1=5)))
    reviews = ReviewStore(store)
    head = reviews.audit_head()
    assert reviews.verify_audit(head).ok
    conn = sqlite3.connect(store.path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE audit_log SET operator='mallory' WHERE seq=2")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM audit_log WHERE seq=4")
        # a determined attacker drops the trigger: the chain still tells
        conn.execute("DROP TRIGGER audit_log_append_only_update")
        conn.execute('UPDATE audit_log SET after=\'{"id":"forged"}\' WHERE seq=2')
        conn.commit()
        check = reviews.verify_audit()
        assert not check.ok and check.first_bad_seq == 2
        conn.execute("DROP TRIGGER audit_log_append_only_delete")
        conn.execute("DELETE FROM audit_log WHERE seq >= 2")
        conn.commit()
        # truncation: the remaining chain is valid, but the head recorded earlier is missing
        assert reviews.verify_audit().ok
        assert not reviews.verify_audit(head).ok
    finally:
        conn.close()


def test_import_analysis_and_review_flow(store: ExamStore, exam: Exam, item: CapturedItem) -> None:
    s = ReviewSession(store, exam.id, OP)
    anns = s.import_analysis(item.id, analysis_dict(), analysis_id="run-1")
    assert [a.kind for a in anns] == ["box", "box", "polygon", "keypoints"]
    assert all(a.provenance is Provenance.AI and a.status is ReviewStatus.PENDING for a in anns)
    assert all(a.analysis_id == "run-1" for a in anns)
    interp = s.doc.interpretation(FrameRef(item.id))
    assert interp.classification.value == "BPD_PLANE"
    assert interp.get("imaging_plane").value == "transthalamic plane"

    with pytest.raises(ReviewError, match="pending review"):
        s.sign_off()
    s.push(SetStatus(s.doc, [anns[1].id], "rejected"))
    s.push(EditInterpretationField(s.doc, FrameRef(item.id), "gestational_age", "20w 2d"))
    s.push(AcceptAll(s.doc))
    entry = s.sign_off("Reviewed, HC measured.")
    s.close()
    assert entry.action == "exam.sign_off" and entry.operator == OP
    assert entry.after["annotations"] == {"pending": 0, "accepted": 3, "rejected": 1}

    reviews = ReviewStore(store)
    actions = [e.action for e in reviews.audit_entries(exam.id)]
    assert actions[0] == "ai.output" and actions[-1] == "exam.sign_off"
    ai = reviews.audit_entries(exam.id)[0]
    assert ai.after["analysis"]["phases"][0]["raw_text"].startswith('{"fetal_orientation"')
    assert ai.after["annotation_ids"] == [a.id for a in anns]
    assert reviews.last_sign_off(exam.id).seq == reviews.audit_entries(exam.id)[-1].seq

    # a second AI run on a reviewed frame needs confirmation (once the final report is amended)
    s2 = ReviewSession(store, exam.id, OP)
    with pytest.raises(ReviewError, match="report is final"):
        s2.import_analysis(item.id, analysis_dict())
    s2.amend("second AI run")
    with pytest.raises(ReviewError, match="already reviewed"):
        s2.import_analysis(item.id, analysis_dict())
    s2.import_analysis(item.id, analysis_dict(), replace_reviewed=True)
    assert len(s2.doc) == 8
    s2.close()
    assert reviews.verify_audit().ok


def test_items_must_belong_to_the_exam(store: ExamStore, exam: Exam, item: CapturedItem) -> None:
    other = store.create_exam("MRN-001", operator="B")
    with ReviewSession(store, other.id, OP) as s:
        with pytest.raises(ReviewError, match="another exam"):
            s.import_analysis(item.id, analysis_dict())
        with pytest.raises(ReviewError, match="another exam"):
            s.push(AddAnnotation(s.doc, Box(frame=FrameRef(item.id), x0=0, y0=0, x1=1, y1=1)))
        assert len(s.doc) == 0 and len(s.stack) == 0  # refused before anything changed
    with pytest.raises(ReviewError, match="frame"):
        ReviewSession(store, exam.id, OP).import_analysis(item.id, analysis_dict(), frame_index=3)


def test_failed_write_is_retried_not_lost(
    store: ExamStore, exam: Exam, item: CapturedItem, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = ReviewSession(store, exam.id, OP)
    real = ReviewStore.commit
    calls = {"n": 0}

    def flaky(self, *a, **k):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        if calls["n"] == 1:
            raise StorageError("The disk is full: could not save the review.")
        return real(self, *a, **k)

    monkeypatch.setattr(ReviewStore, "commit", flaky)
    with pytest.raises(StorageError, match="disk is full"):
        s.push(AddAnnotation(s.doc, Box(id="kept", frame=FrameRef(item.id), x0=0, y0=0, x1=1, y1=1)))
    assert "kept" in s.doc  # the edit itself happened
    s.push(Relabel(s.doc, "kept", "head"))  # the next write carries both
    s.close()
    doc = ReviewStore(store).load(exam.id)
    assert doc.get("kept").label == "head"
    assert [e.action for e in ReviewStore(store).audit_entries(exam.id)] == [
        "annotation.add",
        "annotation.relabel",
    ]


def test_operator_is_required(store: ExamStore, exam: Exam) -> None:
    with pytest.raises(ReviewError, match="operator"):
        ReviewSession(store, exam.id, "  ")
    with pytest.raises(StorageError):
        ReviewSession(store, 999, OP)


def test_measurements_and_biometry_use_the_item_calibration(
    store: ExamStore, exam: Exam, item: CapturedItem, plain_item: CapturedItem
) -> None:
    with ReviewSession(store, exam.id, OP) as s:
        s.push(
            AddAnnotation(
                s.doc,
                Ellipse(frame=FrameRef(item.id), label="head", cx=400, cy=270, rx=100, ry=80, measure="HC"),
            )
        )
        s.push(
            AddAnnotation(s.doc, Caliper(frame=FrameRef(plain_item.id), p1=(0, 0), p2=(10, 0), measure="FL"))
        )
        ms, problems = s.measurements()
        assert [m.parameter for m in ms] == ["HC"]
        a, b = 100 * HC18_MM_PER_PX, 80 * HC18_MM_PER_PX
        h = ((a - b) / (a + b)) ** 2
        assert ms[0].value_mm == pytest.approx(math.pi * (a + b) * (1 + 3 * h / (10 + math.sqrt(4 - 3 * h))))
        assert len(problems) == 1 and "not calibrated" in problems[0]
        report = s.biometry()
        assert report is not None and report.ga_by_dates_days == 140
        assert report.primary_ga.equation.name == "Hadlock 1984 (HC)"
        entry = s.sign_off()
        assert entry.after["biometry"]["primary_ga"]["equation"] == "Hadlock 1984 (HC)"
        assert entry.after["measurement_problems"] == problems


def test_record_action_for_changes_outside_the_editor(
    store: ExamStore, exam: Exam, item: CapturedItem
) -> None:
    with ReviewSession(store, exam.id, OP) as s:
        e = s.record_action("item.calibration", f"item:{item.id}", None, {"mm_per_px": 0.1})
    assert e.action == "item.calibration" and e.after == {"mm_per_px": 0.1} and e.exam_id == exam.id
