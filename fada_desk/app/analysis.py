"""An AI analysis of one still frame, as a pure, evented model (the AI panel draws it).

Two ways to run (:mod:`fada_desk.inference.fada.pipeline`):

* **autonomous** — interpret, classify, map, detect, segment (+ keypoints on
  CRL/NT views) in one go;
* **interpret** — human in the loop: interpret, classify and map first; the
  sonographer then chooses which steps (detect / segment / keypoints) and
  which structures to run (:mod:`fada_desk.app.analysis_steps`), as often as
  needed, on the same pipeline session;
* **chat** — a typed request ("interpret", "detect the brain"), routed by
  FADA's intent rules (``AnalysisSession.chat``). Each request is a run of its
  own (its own ``analysis_id``, so a repeated request meets the duplicate
  question of :mod:`fada_desk.app.analysis_runs`), continuing the pipeline
  session of the run before it on the same frame (:meth:`AnalysisModel.start_chat`).

:class:`AnalysisRun` is one analysis of one frame: its jobs (generators for a
worker thread), the annotations each finished phase produced, and how much of
it is already stored in the exam (:meth:`AnalysisRun.take_increment`).
:class:`AnalysisModel` holds the current run, its phases (a
:class:`~fada_desk.app.analysis_phases.PhaseBoard`) and the run state, turns
the jobs' progress into events (psygnal signals) and the outcomes into the
one-line texts the user sees.

Nothing here touches Qt. Methods run on the caller's thread and signals are
emitted synchronously: the GUI calls them on its GUI thread (the worker's
progress is delivered there), so its widgets may subscribe directly.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Any

from psygnal import Signal

from fada_desk.app.ai_results import AITarget, annotations_for
from fada_desk.app.analysis_phases import PhaseBoard, PhaseState
from fada_desk.core.annotations import Annotation
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import FadaError, error_text
from fada_desk.inference.fada.intents import parse_intent
from fada_desk.inference.fada.results import (
    ERROR,
    SKIPPED,
    AnalysisResult,
    PhaseDone,
    PhaseResult,
    TokenChunk,
)

ANNOTATING = ("detect", "segment", "keypoints")
JobFn = Callable[[CancelToken], Generator[Progress, None, Any]]


class RunMode(str, Enum):
    AUTONOMOUS = "autonomous"
    INTERPRET = "interpret"
    CHAT = "chat"

    def __str__(self) -> str:
        return self.value


class RunState(str, Enum):
    """What the AI panel is doing (the values are the panel's historical state strings)."""

    IDLE = "idle"
    LOADING = "loading"
    RUNNING = "running"
    CANCELLING = "cancelling"
    DONE = "done"
    CANCELLED = "cancelled"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value


@dataclass(eq=False)
class AnalysisRun:
    """One analysis of one frame; human-in-the-loop steps continue the same pipeline session."""

    target: AITarget
    mode: RunMode
    analysis_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    session: Any = None  # the pipeline's AnalysisSession, set by the job before the first phase
    stored_upto: int = 0  # phases[:stored_upto] are in the exam (or being stored)
    stored: bool = False
    declined: bool = False  # the user chose not to store it (the duplicate question's Cancel)
    phase_anns: dict[str, list[Annotation]] = field(default_factory=dict)
    captured: list[Any] = field(default_factory=list)  # items captured while running
    first_phase: int = 0  # phases[first_phase:] belong to the job running now

    @property
    def result(self) -> AnalysisResult | None:
        return self.session.result if self.session is not None else None

    @property
    def can_step(self) -> bool:
        """True once interpreted: next steps can run on the same session."""
        return self.session is not None and self.session.result.phase("interpret") is not None

    def planned(self) -> list[str]:
        """The phases the first job runs."""
        return ["interpret", "classify"] + (["detect", "segment"] if self.mode is RunMode.AUTONOMOUS else [])

    # ------------------------------------------------------------------ jobs (worker thread)
    def job(self, service: Any) -> JobFn:
        """The first job: load the model if needed, start the session, interpret (and run on)."""
        target, mode = self.target, self.mode

        def job(token: CancelToken) -> Generator[Progress, None, Any]:
            pipeline = yield from service.ensure_loaded(token)
            session = pipeline.start(target.frame, source=target.source, frame_index=target.frame_index,
                                     mode=mode.value)
            self.session = session
            if mode is RunMode.AUTONOMOUS:
                return (yield from session.run_autonomous(token))
            return (yield from session.run_interpret_first(token))

        return job

    def chat_job(self, service: Any, text: str) -> JobFn:
        """One chat request on this run's session (started here if the run has none);
        the job returns the :class:`~fada_desk.inference.fada.results.ChatReply`."""
        target = self.target

        def job(token: CancelToken) -> Generator[Progress, None, Any]:
            pipeline = yield from service.ensure_loaded(token)
            if self.session is None:
                self.session = pipeline.start(target.frame, source=target.source, frame_index=target.frame_index,
                                              mode=RunMode.INTERPRET.value)
            return (yield from self.session.chat(text, token))

        return job

    def steps_job(self, service: Any, steps: Sequence[tuple[str, str]]) -> JobFn:
        """Run ``steps`` ((phase, classes) in order) on the interpreted session."""
        session, steps = self.session, list(steps)

        def job(token: CancelToken) -> Generator[Progress, None, Any]:
            yield from service.ensure_loaded(token)
            for phase, classes in steps:
                if phase == "detect":
                    yield from session.detect(classes, token)
                elif phase == "segment":
                    yield from session.segment(classes, token)
                else:
                    yield from session.keypoints(classes, token)
            return session.result

        return job

    def begin_job(self) -> None:
        self.first_phase = len(self.result.phases) if self.result is not None else 0

    # ------------------------------------------------------------------ results
    def add_phase(self, res: PhaseResult) -> list[Annotation]:
        """The annotations of a finished detect / segment / keypoints phase (kept per phase).

        Raises FadaError when the result cannot be turned into annotations (then the
        phase draws nothing)."""
        self.phase_anns[res.phase] = []
        anns = annotations_for({"phases": [res.to_dict()]}, analysis_id=self.analysis_id)
        self.phase_anns[res.phase] = anns
        return anns

    def annotations(self) -> list[Annotation]:
        """What the run draws: the latest result of every annotating phase."""
        return [a for ph in ANNOTATING for a in self.phase_anns.get(ph, [])]

    # ------------------------------------------------------------------ storing in the exam
    def take_increment(self) -> tuple[dict[str, Any], int] | None:
        """The analysis document of the phases finished since the last store, and where they start.

        None when there is nothing (new) to store or the frame is not a capture. The
        phases count as stored from now on; :meth:`store_failed` gives them back.
        """
        result = self.result
        if result is None or self.target.frame_ref is None:
            return None
        start = self.stored_upto
        new = result.phases[start:]
        if not new:
            return None
        doc = result.to_dict()
        doc["phases"] = doc["phases"][start:]
        if not any(p.phase in ("interpret", "classify") for p in new):
            doc["mapping"] = None  # a later step adds annotations; the interpretation stays as reviewed
            doc["classification"] = None
        self.stored_upto = len(result.phases)
        return doc, start

    def store_failed(self, start: int) -> None:
        """The increment from ``start`` was not stored: store it again with the next one."""
        self.stored_upto = min(self.stored_upto, start)

    def moved_to(self, target: AITarget) -> None:
        """The analysed frozen frame was captured as ``target``: everything is stored with it."""
        self.target = replace(target, frame=self.target.frame, description=target.description)
        self.stored_upto = 0


def chat_phases(text: str, has_interpretation: bool) -> list[str]:
    """The phases a chat request will run (FADA's intent rules, as ``AnalysisSession.chat``)."""
    task = parse_intent(text, has_image=True, has_interpretation=has_interpretation).task
    return {"interpret": ["interpret", "classify"], "classify": ["classify"], "detect": ["detect"],
            "segment": ["segment"]}.get(task, [])


class AnalysisModel:
    """The AI panel's state without widgets: the current run, its phases, state and messages."""

    state_changed = Signal(object, str, bool)  # RunState, text ("" keeps the last), error
    notice = Signal(str, bool)  # a one-line message (text, error) for the status line
    progress_text = Signal(str)  # what a job reports between phases
    cleared = Signal()  # the outputs shown belong to nothing any more (new run, other frame)
    streamed = Signal(str, str)  # phase, text: the model's answer as it is generated
    phase_finished = Signal(object, object)  # AnalysisRun, PhaseResult
    annotations_changed = Signal(object)  # AnalysisRun: what it draws changed

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.state = RunState.IDLE
        self.last_message = ""
        self.run: AnalysisRun | None = None
        self.phases = PhaseBoard(clock)

    @property
    def result(self) -> AnalysisResult | None:
        """The current analysis (what finished so far)."""
        return self.run.result if self.run is not None else None

    def set_state(self, state: RunState, text: str = "", error: bool = False) -> None:
        self.state = state
        if text:
            self.last_message = text
        self.state_changed.emit(state, text, error)

    def notify(self, text: str, error: bool = False) -> None:
        self.last_message = text
        self.notice.emit(text, error)

    def clear(self) -> None:
        self.phases.clear()
        self.cleared.emit()

    # ------------------------------------------------------------------ runs
    def start(self, target: AITarget, mode: RunMode) -> AnalysisRun:
        """A new analysis of ``target`` (its phases planned; the job is :meth:`AnalysisRun.job`)."""
        run = AnalysisRun(target, RunMode(mode))
        self.run = run
        self.clear()
        self.phases.plan(run.planned(), reset=True)
        return run

    def start_chat(self, target: AITarget, text: str,
                   shows: Callable[[AITarget], bool] = lambda _t: False) -> AnalysisRun:
        """A chat request on ``target``. While the current run's frame is still the one shown
        (``shows``), the request continues that run's pipeline session (what it interpreted) and
        what it drew, on its target, and stores only the phases it adds."""
        previous = self.run
        if previous is None or previous.session is None or previous.declined or not shows(previous.target):
            previous = None
        run = AnalysisRun(previous.target if previous is not None else target, RunMode.CHAT)
        if previous is not None:
            run.session = previous.session
            run.stored_upto = len(previous.session.result.phases)
            run.phase_anns = dict(previous.phase_anns)
        else:
            self.clear()
        self.run = run
        has_interp = run.session is not None and run.session.interpretation is not None
        self.phases.plan(chat_phases(text, has_interp), reset=previous is None)
        return run

    def plan_steps(self, steps: Sequence[tuple[str, str]]) -> None:
        self.phases.plan([p for p, _ in steps], reset=False)

    def submitted(self, run: AnalysisRun, loaded: bool) -> None:
        """A job of ``run`` was queued (``loaded``: the model is already in memory)."""
        run.begin_job()
        run.declined = False  # a new job's result is offered again
        self.set_state(RunState.RUNNING if loaded else RunState.LOADING,
                       "Running…" if loaded else "Loading the model…")

    def cancelling(self) -> None:
        self.set_state(RunState.CANCELLING, "Cancelling…")

    def on_progress(self, run: AnalysisRun, p: Progress) -> None:
        """One progress report of ``run``'s job (ignored once another run took over)."""
        if run is not self.run:
            return
        payload = p.payload
        if isinstance(payload, TokenChunk):
            if self.state in (RunState.LOADING, RunState.IDLE):
                self.set_state(RunState.RUNNING, "Running…")
            self.phases.start(payload.phase)
            if payload.text:
                self.streamed.emit(payload.phase, payload.text)
            elif p.message == "loading the model":
                self.set_state(RunState.LOADING, "Loading the model…")
        elif isinstance(payload, PhaseDone):
            self.phase_done(run, payload.result)
        else:
            self.progress_text.emit(p.message)

    def phase_done(self, run: AnalysisRun, res: PhaseResult) -> None:
        self.phases.finish(res)
        self.phase_finished.emit(run, res)
        if res.phase in ANNOTATING and res.status not in (ERROR, SKIPPED):
            try:
                run.add_phase(res)
            except FadaError as err:
                self.notify(f"Cannot draw the {res.phase} result: {err}", error=True)
            self.annotations_changed.emit(run)

    def replay(self, run: AnalysisRun) -> None:
        """Show ``run``'s results again (its frame is back on screen)."""
        self.clear()
        result = run.result
        if result is None:
            return
        for phase in result.phases:
            self.streamed.emit(phase.phase, phase.raw_text)
            self.phase_done(run, phase)

    # ------------------------------------------------------------------ outcomes
    def finished(self, run: AnalysisRun, res: AnalysisResult) -> None:
        self.phases.close(PhaseState.NOT_RUN)
        errors = res.errors
        total = sum(p.seconds for p in res.phases[run.first_phase:])
        if errors:
            self.set_state(RunState.DONE, "Finished with errors: " + "; ".join(errors), error=True)
        else:
            self.set_state(RunState.DONE, f"Done in {total:.1f} s. AI output is pending review.")

    def answered(self, run: AnalysisRun, reply: Any) -> None:
        """A chat request of ``run`` was answered (a ChatReply)."""
        self.phases.close(PhaseState.NOT_RUN)
        res = run.result
        new = res.phases[run.first_phase:] if res is not None else []
        errors = [f"{p.phase}: {p.error}" for p in new if p.status == ERROR]
        if errors:
            self.set_state(RunState.DONE, "Answered with errors: " + "; ".join(errors), error=True)
        elif new:
            self.set_state(RunState.DONE, f"Answered in {sum(p.seconds for p in new):.1f} s. "
                                          "AI output is pending review.")
        else:
            self.set_state(RunState.DONE, "Answered.")

    def cancelled(self, run: AnalysisRun) -> None:
        self.phases.close(PhaseState.CANCELLED)
        kept = len(run.result.phases) if run.result is not None else 0
        self.set_state(RunState.CANCELLED,
                       f"Cancelled; {kept} finished phase(s) kept." if kept else "Cancelled.")

    def failed(self, run: AnalysisRun, err: BaseException) -> None:
        self.phases.close(PhaseState.FAILED)
        self.set_state(RunState.FAILED, error_text(err), error=True)
