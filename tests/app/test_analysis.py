"""The analysis run model without Qt: phases, states, events, jobs on a scripted model, increments."""

from __future__ import annotations

import math
from typing import Any

import pytest
from inference.fakes import FakeBackend

from app.fakes import BRAIN, dark_frame, fake_service
from fada_desk.app.ai_results import AITarget
from fada_desk.app.analysis import AnalysisModel, AnalysisRun, RunMode, RunState
from fada_desk.app.analysis_phases import PhaseBoard, PhaseState
from fada_desk.core.cancel import CancelToken, drive
from fada_desk.core.errors import Cancelled, ModelError
from fada_desk.inference.fada.parsing import Detection, Predictions
from fada_desk.inference.fada.results import PhaseResult


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def _target(item_id: int | None = None) -> AITarget:
    return AITarget(dark_frame(), "Test image", "memory:test", 0, item_id, 1 if item_id else None)


def _record(model: AnalysisModel) -> list[tuple[Any, ...]]:
    events: list[tuple[Any, ...]] = []
    model.state_changed.connect(lambda s, t, e: events.append(("state", s, t, e)))
    model.notice.connect(lambda t, e: events.append(("notice", t, e)))
    model.streamed.connect(lambda ph, t: events.append(("text", ph, t)))
    model.phase_finished.connect(lambda run, res: events.append(("phase", res.phase)))
    model.annotations_changed.connect(lambda run: events.append(("drawn", len(run.annotations()))))
    model.cleared.connect(lambda: events.append(("cleared",)))
    return events


def _run(model: AnalysisModel, run: AnalysisRun, job: Any, token: CancelToken | None = None) -> Any:
    return drive(job(token or CancelToken()), lambda p: model.on_progress(run, p))


def test_phase_board_rows_states_and_times() -> None:
    clock = Clock()
    board = PhaseBoard(clock)
    changed: list[str] = []
    board.changed.connect(lambda row: changed.append(f"{row.phase}:{row.state_text}"))
    board.plan(["interpret", "classify"], reset=True)
    assert board.rows() == [("interpret", "pending", ""), ("classify", "pending", "")]
    board.start("interpret")
    clock.t += 3.4
    board.tick()
    assert board.rows()[0] == ("interpret", "running", "3 s")
    board.start("interpret")  # already running: keeps its start time
    assert board.get("interpret").started == 100.0
    board.finish(PhaseResult("interpret", seconds=3.4, parse_errors=["repaired a bracket"]))
    assert board.state_text("interpret") == "done (warnings)"
    assert board.get("interpret").tip == "repaired a bracket"
    board.start("classify")
    clock.t += 1.0
    board.close(PhaseState.CANCELLED)
    board.plan(["detect"], reset=False)
    board.close(PhaseState.NOT_RUN)
    assert board.rows() == [("interpret", "done (warnings)", "3.4 s"), ("classify", "cancelled", "1.0 s"),
                            ("detect", "not run", "")]
    assert board.state_text("segment") == "" and changed[0] == "interpret:pending"
    board.finish(PhaseResult("segment", status="skipped", error="nothing to segment"))
    board.finish(PhaseResult("keypoints", status="error", error="boom", cached=True))
    assert board.rows()[-2:] == [("segment", "skipped", ""), ("keypoints", "failed", "cached")]


def test_autonomous_run_streams_every_phase_and_ends_done() -> None:
    svc = fake_service(FakeBackend(answers=dict(BRAIN)))
    model = AnalysisModel()
    events = _record(model)
    run = model.start(_target(), "autonomous")
    assert run.mode is RunMode.AUTONOMOUS and model.run is run
    assert [r[0] for r in model.phases.rows()] == ["interpret", "classify", "detect", "segment"]
    model.submitted(run, svc.loaded)
    assert model.state is RunState.LOADING and model.last_message == "Loading the model…"
    res = _run(model, run, run.job(svc))
    model.finished(run, res)
    assert model.state is RunState.DONE and "pending review" in model.last_message
    assert model.result is res and res.mode == "autonomous"
    assert [r[1] for r in model.phases.rows()] == ["done"] * 4
    assert ("state", RunState.RUNNING, "Running…", False) in events
    assert [e[1] for e in events if e[0] == "phase"] == ["interpret", "classify", "detect", "segment"]
    assert {e[1] for e in events if e[0] == "text"} == {"interpret", "classify", "detect", "segment"}
    assert sorted(a.label for a in run.annotations()) == ["Brain", "Brain", "CSP", "LV"]
    assert events[0] == ("cleared",) and ("drawn", 4) in events
    assert run.can_step  # an autonomous run can take further steps too


def test_interpret_then_steps_on_the_same_session() -> None:
    backend = FakeBackend(answers=dict(BRAIN))
    svc = fake_service(backend)
    model = AnalysisModel()
    run = model.start(_target(), RunMode.INTERPRET)
    assert not run.can_step
    model.submitted(run, svc.loaded)
    model.finished(run, _run(model, run, run.job(svc)))
    assert backend.phases() == ["interpret", "classify"] and run.can_step
    steps = [("detect", "Brain"), ("keypoints", "CRL_KP, ScaleBarKpoints")]
    model.plan_steps(steps)
    assert [r[:2] for r in model.phases.rows()][-2:] == [("detect", "pending"), ("keypoints", "pending")]
    model.submitted(run, svc.loaded)
    assert run.first_phase == 2 and model.state is RunState.RUNNING
    res = _run(model, run, run.steps_job(svc, steps))
    model.finished(run, res)
    assert [p.phase for p in res.phases] == ["interpret", "classify", "detect", "keypoints"]
    assert {a.label for a in run.annotations()} >= {"Brain", "CRL_KP"}


def test_cancel_keeps_finished_phases_and_a_failure_says_why() -> None:
    token = CancelToken()
    backend = FakeBackend(answers=dict(BRAIN), cancel_after={"classify": (token, 2)})  # Cancel mid-classify
    svc = fake_service(backend)
    model = AnalysisModel()
    run = model.start(_target(), "autonomous")
    with pytest.raises(Cancelled):
        _run(model, run, run.job(svc), token)
    model.cancelled(run)
    assert model.state is RunState.CANCELLED and model.last_message == "Cancelled; 1 finished phase(s) kept."
    assert [r[1] for r in model.phases.rows()] == ["done", "cancelled", "not run", "not run"]

    other = model.start(_target(), "autonomous")
    model.failed(other, ModelError("out of memory"))
    assert model.state is RunState.FAILED and model.last_message == "out of memory"
    assert [r[1] for r in model.phases.rows()] == ["not run"] * 4
    model.cancelled(other)
    assert model.last_message == "Cancelled."


def test_progress_of_an_old_run_is_ignored_and_replay_shows_a_run_again() -> None:
    svc = fake_service(FakeBackend(answers=dict(BRAIN)))
    model = AnalysisModel()
    first = model.start(_target(), "autonomous")
    model.finished(first, _run(model, first, first.job(svc)))
    second = model.start(_target(), "interpret")
    events = _record(model)
    drive(first.job(svc)(CancelToken()), lambda p: model.on_progress(first, p))
    assert events == [] and model.phases.state_text("detect") == ""
    model.replay(first)
    assert events[0] == ("cleared",)
    assert [e[1] for e in events if e[0] == "phase"] == ["interpret", "classify", "detect", "segment"]
    assert [r[1] for r in model.phases.rows()] == ["done"] * 4 and model.run is second


def test_a_phase_that_cannot_be_drawn_is_reported_and_draws_nothing() -> None:
    model = AnalysisModel()
    events = _record(model)
    run = model.start(_target(), "autonomous")
    boxes = Predictions(detections=[Detection("Brain", (math.nan, 0.0, 10.0, 10.0))], space="pixel",
                        image_size=(100, 100))
    model.phase_done(run, PhaseResult("detect", parse_ok=True, predictions=boxes))
    assert run.phase_anns["detect"] == [] and ("drawn", 0) in events
    (notice,) = [e for e in events if e[0] == "notice"]
    assert notice[1].startswith("Cannot draw the detect result: box x0 must be a finite number") and notice[2]
    assert model.phases.state_text("detect") == "done"


def test_increments_store_only_new_phases_and_later_steps_leave_the_interpretation() -> None:
    backend = FakeBackend(answers=dict(BRAIN))
    svc = fake_service(backend)
    model = AnalysisModel()
    unstored = model.start(_target(), "interpret")
    model.finished(unstored, _run(model, unstored, unstored.job(svc)))
    assert unstored.take_increment() is None  # a frozen live frame: not in the exam

    run = model.start(_target(item_id=7), "interpret")
    model.finished(run, _run(model, run, run.job(svc)))
    doc, start = run.take_increment()
    assert start == 0 and [p["phase"] for p in doc["phases"]] == ["interpret", "classify"]
    assert doc["mapping"] is not None and run.take_increment() is None
    run.store_failed(0)
    assert run.take_increment()[1] == 0
    _run(model, run, run.steps_job(svc, [("detect", "Brain")]))
    doc, start = run.take_increment()
    assert start == 2 and [p["phase"] for p in doc["phases"]] == ["detect"]
    assert doc["mapping"] is None and doc["classification"] is None

    capture = AITarget(dark_frame(), "Capture #9", "exam item #9", 0, 9, 1)
    unstored.moved_to(capture)
    assert unstored.target.item_id == 9 and unstored.target.frame is not capture.frame
    assert unstored.take_increment()[1] == 0
