"""A new AI run on a capture that already has AI items: duplicates found, replace / keep / cancel, undo."""

from __future__ import annotations

from typing import Any

import pytest
from fada_analysis import analysis_dict

from app.fakes import OPERATOR
from fada_desk.app.ai_results import AITarget, import_into_session, import_into_store
from fada_desk.app.analysis import AnalysisRun, RunMode
from fada_desk.app.analysis_keeper import AnalysisKeeper
from fada_desk.app.analysis_runs import (
    DuplicateChoice,
    HiddenRuns,
    NeedsRunChoice,
    find_duplicates,
    frame_runs,
    replace_command,
)
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.annotation_commands import MoveAnnotation, SetStatus
from fada_desk.core.errors import FadaError
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.storage.review import AI_OUTPUT, ReviewStore


def _shapes(anns: Any) -> list[tuple[Any, ...]]:
    """What is drawn: kind, label and geometry (ids and runs aside)."""
    return sorted((a.kind, a.label, str(a.geometry())) for a in anns)


def test_a_second_run_asks_and_replace_swaps_only_the_pending_items_in_one_undoable_step(
        store: Any, exam: Any, item: Any) -> None:
    frame = FrameRef(item.id)
    first = import_into_store(store, exam.id, frame, analysis_dict(), "run-1", OPERATOR, False)
    assert len(first) == 4
    with ReviewSession(store, exam.id, OPERATOR) as s:
        with pytest.raises(NeedsRunChoice) as asked:
            import_into_session(s, frame, analysis_dict(), "run-2", False)
        dup = asked.value.duplicates
        assert set(dup.pending_ids) == set(first) and dup.reviewed == 0 and dup.can_replace
        assert f"Capture #{item.id} already has AI items" in str(asked.value) and "4 pending" in str(asked.value)
        assert len(s.doc.for_frame(frame)) == 4  # nothing stored while asking

        # the sonographer accepted one item and corrected another: those are never replaced
        accepted, edited, *pending = first
        s.push(SetStatus(s.doc, [accepted], ReviewStatus.ACCEPTED))
        s.push(MoveAnnotation(s.doc, edited, 5.0, 0.0))
        assert s.doc.get(edited).provenance is Provenance.AI_EDITED
        with pytest.raises(NeedsRunChoice) as asked:
            import_into_session(s, frame, analysis_dict(), "run-2", False)
        dup = asked.value.duplicates
        assert set(dup.pending_ids) == set(pending) and dup.reviewed == 2 and len(dup.repeated_ids) == 2
        assert "2 new proposal(s) repeat items already reviewed" in dup.question()
        before = _shapes(s.doc.for_frame(frame))

        new = import_into_session(s, frame, analysis_dict(), "run-2", False, DuplicateChoice.REPLACE)
        ids = {a.id for a in s.doc.for_frame(frame)}
        assert ids == {accepted, edited, *new} and not ids & set(pending)
        assert s.stack.undo_text == "Replace 2 pending AI item(s) with a new run"
        # the new run's two other proposals are pending; the two it repeats of what the sonographer
        # accepted or corrected are not added again: no two equal items on the frame
        assert len(new) == 2 and {a.id for a in s.doc.pending(frame)} == set(new)
        assert len(set(_shapes(s.doc.for_frame(frame)))) == 4

        s.undo()  # one step: the old pending items are back, the new ones gone
        assert {a.id for a in s.doc.for_frame(frame)} == set(first)
        assert _shapes(s.doc.for_frame(frame)) == before
        s.redo()
        assert {a.id for a in s.doc.for_frame(frame)} == {accepted, edited, *new}

    # persisted and audited: the exam holds the replaced state, the audit names what was replaced
    doc = ReviewStore(store).load(exam.id)
    assert {a.id for a in doc.for_frame(frame)} == {accepted, edited, *new}
    outputs = [e for e in ReviewStore(store).audit_entries(exam.id) if e.action == AI_OUTPUT]
    assert [e.after["analysis_id"] for e in outputs] == ["run-1", "run-2"]
    assert sorted(outputs[1].after["replaced"]) == sorted(pending)
    assert ReviewStore(store).verify_audit().ok


def test_keep_both_keeps_the_runs_apart_and_a_view_can_hide_one(store: Any, exam: Any, item: Any) -> None:
    frame = FrameRef(item.id)
    first = import_into_store(store, exam.id, frame, analysis_dict(), "run-1", OPERATOR, False)
    second = import_into_store(store, exam.id, frame, analysis_dict(), "run-2", OPERATOR, False, "keep")
    doc = ReviewStore(store).load(exam.id)
    runs = frame_runs(doc, frame)
    assert [(r.analysis_id, r.title, r.total, r.pending) for r in runs] == [
        ("run-1", "Run 1", 4, 4), ("run-2", "Run 2", 4, 4)]
    assert runs[1].text() == "Run 2: 4 item(s) (4 pending)"
    hidden = HiddenRuns()
    changes: list[frozenset[str]] = []
    hidden.changed.connect(changes.append)
    hidden.set_shown("run-1", False)
    hidden.set_shown("run-1", False)  # no change, no event
    assert [a.id for a in hidden.visible(doc.for_frame(frame))] == second and changes == [frozenset({"run-1"})]
    hidden.show_all()
    assert {a.id for a in hidden.visible(doc.for_frame(frame))} == {*first, *second}
    # a rejected item is no duplicate: a third run re-proposing only rejected items is not asked about
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.push(SetStatus(s.doc, [*first, *second], ReviewStatus.REJECTED))
        assert find_duplicates(s.doc, frame, s.doc.for_frame(frame), "run-3") is None
        assert len(import_into_session(s, frame, analysis_dict(), "run-3", False)) == 4


def test_replace_refuses_reviewed_items(store: Any, exam: Any, item: Any) -> None:
    frame = FrameRef(item.id)
    ids = import_into_store(store, exam.id, frame, analysis_dict(), "run-1", OPERATOR, False)
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.push(SetStatus(s.doc, [ids[0]], ReviewStatus.ACCEPTED))
        with pytest.raises(FadaError, match="never replaced"):
            replace_command(s.doc, frame, [ids[0]], [], None)
        assert len(s.doc.for_frame(frame)) == 4


class _Host:
    """A synchronous store host over a real store (what the GUI's dock session does)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.messages: list[str] = []

    def store_analysis(self, target: AITarget, analysis: Any, analysis_id: str, replace_reviewed: bool,
                       done: Any, failed: Any, duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        try:
            ids = import_into_store(self.store, target.exam_id, target.frame_ref, analysis, analysis_id,
                                    OPERATOR, replace_reviewed, duplicates)
        except FadaError as err:
            failed(err)
        else:
            done(ids)
        return True

    def match_capture(self, item: Any, sha256: str, done: Any) -> bool:
        return False

    def status(self, text: str, ms: int = 5000) -> None:
        self.messages.append(text)


def _run(item: Any, exam: Any) -> AnalysisRun:
    from app.fakes import dark_frame

    return AnalysisRun(AITarget(dark_frame(800, 540), f"Capture #{item.id}", "", 0, item.id, exam.id),
                       RunMode.AUTONOMOUS)


def test_the_keeper_asks_then_stores_the_answer_or_drops_the_result(store: Any, exam: Any, item: Any) -> None:
    frame = FrameRef(item.id)
    import_into_store(store, exam.id, frame, analysis_dict(), "run-1", OPERATOR, False)
    keeper = AnalysisKeeper(_Host(store))
    asked: list[Any] = []
    keeper.choose.connect(lambda request, dup: asked.append((request, dup)))
    declined: list[AnalysisRun] = []
    keeper.declined.connect(declined.append)
    stored: list[Any] = []
    keeper.stored.connect(lambda run, ids: stored.append(ids))

    cancelled = _run(item, exam)
    assert keeper.store(cancelled, analysis_dict(), 0)
    ((request, dup),) = asked
    assert request.run is cancelled and len(dup.pending_ids) == 4 and stored == []
    keeper.decline(request)
    assert declined == [cancelled] and not cancelled.stored
    assert len(ReviewStore(store).load(exam.id).for_frame(frame)) == 4

    replaced = _run(item, exam)
    keeper.store(replaced, analysis_dict(), 0)
    assert keeper.answer(asked[-1][0], duplicates="replace") and replaced.stored
    runs = frame_runs(ReviewStore(store).load(exam.id), frame)
    assert [r.analysis_id for r in runs] == [replaced.analysis_id]  # three runs, one set of items

    keeper.close()  # closing: nobody to ask; keeping both loses nothing
    late = _run(item, exam)
    keeper.store(late, analysis_dict(), 0)
    assert len(asked) == 2 and late.stored
    assert len(frame_runs(ReviewStore(store).load(exam.id), frame)) == 2
