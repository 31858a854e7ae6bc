"""AI results and the exam without Qt: import for review, confirmation, read back, keep a run's results."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import pytest
from inference.fakes import FakeBackend
from fada_analysis import INTERPRETATION, analysis_dict

from app.fakes import BRAIN, OPERATOR, dark_frame, fake_service
from fada_desk.app.ai_results import (
    AITarget,
    NeedsConfirmation,
    frame_sha256,
    import_into_store,
    is_reviewed,
    stored_ai,
)
from fada_desk.app.analysis import AnalysisModel, AnalysisRun
from fada_desk.app.analysis_keeper import AnalysisKeeper
from fada_desk.app.analysis_runs import DuplicateChoice
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.cancel import CancelToken, drive
from fada_desk.core.errors import FadaError
from fada_desk.core.interpretation_commands import SetFieldStatus
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.storage.review import AI_OUTPUT, ReviewStore


def test_import_reads_back_and_asks_before_replacing_a_reviewed_interpretation(store: Any, exam: Any,
                                                                                  item: Any) -> None:
    frame = FrameRef(item.id)
    ids = import_into_store(store, exam.id, frame, analysis_dict(), "run-1", OPERATOR, False)
    assert len(ids) == 4
    stored = stored_ai(store, exam.id, frame)
    assert [a.id for a in stored.annotations] == ids and stored.pending == 4 and not stored.empty
    assert stored.fields()["fetal_orientation"] == INTERPRETATION["fetal_orientation"]
    assert stored.values()["classification"] == "BPD_PLANE"
    assert stored.summary() == f"Stored AI result of capture #{item.id}: 4 annotation(s), 4 pending review."
    assert not is_reviewed(stored.interpretation)

    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.push(SetFieldStatus(s.doc, frame, "imaging_plane", "accepted"))
        s.push(SetFieldStatus(s.doc, frame, "image_quality", "rejected"))
    assert is_reviewed(stored_ai(store, exam.id, frame).interpretation)
    with pytest.raises(NeedsConfirmation, match=f"capture #{item.id} was already reviewed"):
        import_into_store(store, exam.id, frame, analysis_dict(), "run-2", OPERATOR, False, "keep")
    again = import_into_store(store, exam.id, frame, analysis_dict(), "run-2", OPERATOR, True, "keep")
    assert len(again) == 4 and len(stored_ai(store, exam.id, frame).annotations) == 8
    actions = [e.action for e in ReviewStore(store).audit_entries(exam.id)]
    assert actions.count(AI_OUTPUT) == 2 and ReviewStore(store).verify_audit().ok


def test_an_unknown_frame_is_refused(store: Any, exam: Any, item: Any) -> None:
    with pytest.raises(FadaError, match="no frame 3"):
        import_into_store(store, exam.id, FrameRef(item.id, 3), analysis_dict(), "r", OPERATOR, False)
    rejected = stored_ai(store, exam.id, FrameRef(item.id))
    assert rejected.empty and rejected.pending == 0 and rejected.fields()["imaging_plane"] == "N/A"


class StoreHost:
    """A store host over a real exam store, synchronous (what the GUI does on its store worker)."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: list[tuple[int | None, list[str], bool]] = []
        self.messages: list[str] = []
        self.shut_down = False

    def store_analysis(self, target: AITarget, analysis: Mapping[str, Any], analysis_id: str,
                       replace_reviewed: bool, done: Callable[[Any], None],
                       failed: Callable[[BaseException], None],
                       duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        if self.shut_down:
            raise RuntimeError("job runner is shut down")
        if target.frame_ref is None or target.exam_id is None:
            return False
        self.calls.append((target.item_id, [p["phase"] for p in analysis["phases"]], replace_reviewed))
        try:
            ids = import_into_store(self.store, target.exam_id, target.frame_ref, analysis, analysis_id,
                                    OPERATOR, replace_reviewed, duplicates)
        except FadaError as err:
            failed(err)
        else:
            done(ids)
        return True

    def match_capture(self, item: Any, sha256: str, done: Callable[[AITarget | None], None]) -> bool:
        frame = self.store.load_frame(item.id, 0)
        done(AITarget(frame, f"Capture #{item.id}", f"exam item #{item.id}", 0, item.id, item.exam_id)
             if frame_sha256(frame) == sha256 else None)
        return True

    def status(self, text: str, ms: int = 5000) -> None:
        self.messages.append(text)


def _analyse(target: AITarget, mode: str = "interpret") -> tuple[AnalysisModel, AnalysisRun, Any]:
    svc = fake_service(FakeBackend(answers=dict(BRAIN)))
    model = AnalysisModel()
    run = model.start(target, mode)
    model.finished(run, drive(run.job(svc)(CancelToken()), lambda p: model.on_progress(run, p)))
    return model, run, svc


def test_a_frozen_frame_analysis_is_stored_once_its_frame_is_captured(store: Any, exam: Any) -> None:
    host = StoreHost(store)
    keeper = AnalysisKeeper(host)
    stored: list[Any] = []
    keeper.stored.connect(lambda run, ids: stored.append(ids))
    moved: list[AnalysisRun] = []
    keeper.moved.connect(moved.append)
    frozen = AITarget(dark_frame(800, 540), "Frozen live frame 800×540", "capture:0")
    _model, run, _svc = _analyse(frozen)
    keeper.run_ended(run)
    assert host.calls == [] and stored == []  # not in the exam yet
    other = store.add_image(exam.id, dark_frame(640, 480, index=0))
    keeper.item_captured(run, other, running=False)  # other pixels: not this analysis
    assert run.target.item_id is None
    item = store.add_image(exam.id, dark_frame(800, 540, index=0))
    keeper.item_captured(run, item, running=True)  # decided when the run ends
    assert run.captured == [item] and host.calls == []
    keeper.run_ended(run)
    assert moved == [run] and run.target.item_id == item.id and run.stored
    assert host.calls == [(item.id, ["interpret", "classify"], False)]
    assert host.messages == [f"AI result stored with capture #{item.id}."] and stored == [[]]
    assert stored_ai(store, exam.id, FrameRef(item.id)).interpretation is not None
    keeper.run_ended(run)  # nothing new
    assert len(host.calls) == 1


def test_replacing_a_reviewed_interpretation_is_asked_then_stored(store: Any, exam: Any, item: Any) -> None:
    host = StoreHost(store)
    keeper = AnalysisKeeper(host)
    questions: list[tuple[Any, ...]] = []
    keeper.confirm.connect(lambda request, text: questions.append((request, text)))
    failures: list[str] = []
    keeper.failed.connect(failures.append)
    target = AITarget(dark_frame(800, 540), f"Capture #{item.id}", "", 0, item.id, exam.id)
    _m, first, _s = _analyse(target)
    assert keeper.store_increment(first)
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.push(SetFieldStatus(s.doc, FrameRef(item.id), "imaging_plane", "accepted"))
    _m, second, _s = _analyse(target)
    assert keeper.store_increment(second) is True
    ((request, text),) = questions
    assert request.run is second and request.start == 0 and "already reviewed" in text and not second.stored
    assert keeper.answer(request, replace_reviewed=True) and second.stored
    interp = stored_ai(store, exam.id, FrameRef(item.id)).interpretation
    assert interp.values["imaging_plane"].status is ReviewStatus.PENDING and failures == []

    keeper.close()  # closing: no more questions, the increment is tried again next time
    _m, third, _s = _analyse(target)
    with ReviewSession(store, exam.id, OPERATOR) as s:
        s.push(SetFieldStatus(s.doc, FrameRef(item.id), "imaging_plane", "accepted"))
    keeper.store_increment(third)
    assert len(questions) == 1 and failures[0].startswith("The AI result was not stored: The interpretation")
    assert third.take_increment() is not None  # given back


def test_a_store_that_is_gone_gives_the_increment_back(store: Any, exam: Any, item: Any) -> None:
    host = StoreHost(store)
    keeper = AnalysisKeeper(host)
    target = AITarget(dark_frame(800, 540), "c", "", 0, item.id, exam.id)
    _m, run, _s = _analyse(target)
    host.shut_down = True
    assert keeper.store_increment(run) is False and run.stored_upto == 0
    bad = AITarget(dark_frame(800, 540), "c", "", 0, 999, exam.id)
    _m, lost, _s = _analyse(bad)
    failures: list[str] = []
    keeper.failed.connect(failures.append)
    host.shut_down = False
    assert keeper.store_increment(lost) is True
    assert lost.stored_upto == 0 and "not stored" in failures[0]
