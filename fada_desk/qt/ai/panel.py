"""The AI panel: run FADA on the still frame, watch it stream, see and keep the results.

A thin view over the application layer: :class:`~fada_desk.app.analysis.AnalysisModel`
(the run, its phases, states and messages; autonomous or interpret-first),
:class:`~fada_desk.app.analysis_keeper.AnalysisKeeper` (storing results in the
exam; its questions: :mod:`.questions`) and the process model (:mod:`.model_box`).
The panel composes the widgets (:mod:`.run_views`, :mod:`.result_views`,
:mod:`.result_display`, the chat :mod:`.chat_pane`, the runs on a capture
:mod:`.runs_bar`), subscribes them to the model's events and runs the jobs on its own
:class:`~fada_desk.qt.workers.JobRunner` (one worker thread: model check, lazy
model load, phases); the GUI thread only receives progress. Cancel stops a run
within about a second; phases that finished before are kept, drawn and stored.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QSize, Signal
from PySide6.QtWidgets import QWidget

from fada_desk.app import model_service as M
from fada_desk.app.ai_results import AITarget
from fada_desk.app.analysis import AnalysisModel, AnalysisRun, RunMode, RunState
from fada_desk.app.analysis_keeper import AnalysisKeeper
from fada_desk.app.analysis_runs import HiddenRuns
from fada_desk.app.chat import Conversation
from fada_desk.core.cancel import Progress
from fada_desk.core.errors import FadaError, error_text
from fada_desk.inference.fada.results import AnalysisResult, PhaseResult
from fada_desk.qt.ai.chat_pane import ChatKeeper
from fada_desk.qt.ai.host import AIHost
from fada_desk.qt.ai.overlay import AIOverlay
from fada_desk.qt.ai.result_display import ResultDisplay
from fada_desk.qt.ai.model_box import close_shared_on_quit
from fada_desk.qt.ai.panel_ui import build_widgets
from fada_desk.qt.ai.questions import StoreQuestions
from fada_desk.qt.ai.settings_dialog import AISettingsDialog, load_config
from fada_desk.qt.util import tracked_timer
from fada_desk.qt.workers import JobHandle, JobRunner

POLL_MS = 150


class AIPanel(QWidget):
    """Model status, run/cancel, per-phase progress, streamed text, chat, interpretation, next steps."""

    stateChanged = Signal(str)  # noqa: N815 - Qt naming
    resultReady = Signal(object)  # noqa: N815 - AnalysisResult (complete or what finished)
    storedInExam = Signal(object)  # noqa: N815 - list of stored annotation ids

    def __init__(self, host: AIHost, service: M.ModelService | None = None, settings: Any = None,
                 parent: QWidget | None = None, check: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("aiPanel")
        self.host = host
        self.settings = settings
        self.service = service if service is not None else M.shared_service()
        if service is None:
            close_shared_on_quit()  # the process model is freed when the application quits
        if settings is not None:
            self.service.configure(load_config(settings))
        self.runner = JobRunner(max_threads=1, parent=self)
        self.overlay = AIOverlay(host.view.viewbox)
        self.model = AnalysisModel()
        self.keeper = AnalysisKeeper(host)
        self.hidden = HiddenRuns()  # AI runs not drawn (here and in the review editor)
        self.conversation = Conversation()
        self._job: JobHandle | None = None
        self._closed = False
        self._build_ui()
        self.questions = StoreQuestions(self, self.keeper, self._message)
        self.chat_keeper = ChatKeeper(host, self.conversation, self.chat)
        self.display = ResultDisplay(host, self.model, self.overlay, self.results, lambda: self.running,
                                     self._show_mapping)
        self._subscribe()
        self._timer = tracked_timer(self, POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()
        self._refresh_model()
        if check:
            self.check_model()
        self._poll()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        build_widgets(self)  # the views, under the names others look for (tests, screenshots)
        self.model_box.settings_button.clicked.connect(self.open_settings)
        self.model_box.recheck_button.clicked.connect(lambda: self.check_model())
        self.model_box.changed.connect(self._refresh_model)
        self.model_box.failed.connect(lambda text: self._message(text, error=True))
        self.autonomous_button.clicked.connect(lambda: self.run_autonomous())
        self.interpret_button.clicked.connect(lambda: self.run_interpret())
        self.cancel_button.clicked.connect(self.cancel)
        self.run_selected_button.clicked.connect(lambda: self.run_selected())
        self.chat.submitted.connect(lambda text: self.run_chat(text))
        self.chat.cancelRequested.connect(self.cancel)
        self._refresh_model()

    def _subscribe(self) -> None:
        m, k = self.model, self.keeper
        m.state_changed.connect(self._on_state)
        m.notice.connect(self._on_notice)
        m.progress_text.connect(self._on_progress_text)
        m.cleared.connect(self._on_cleared)
        m.streamed.connect(self.stream.add_text)
        m.phase_finished.connect(self._on_phase_finished)
        m.annotations_changed.connect(self.display.draw_run)
        k.stored.connect(self._on_stored)
        k.failed.connect(lambda text: self._message(text, error=True))
        k.declined.connect(self.display.declined)
        k.moved.connect(self.display.moved)
        self.hidden.changed.connect(self.overlay.set_hidden)
        self.hidden.changed.connect(self.host.set_hidden_runs)

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 640)  # a side panel: leave the width to the image

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def state(self) -> RunState:
        return self.model.state

    @property
    def last_message(self) -> str:
        return self.model.last_message

    @property
    def result(self) -> AnalysisResult | None:
        """The current analysis (what finished so far)."""
        return self.model.result

    def _on_state(self, state: RunState, text: str, error: bool) -> None:
        self.controls.show_state(text, error)
        self._refresh_model()
        self.stateChanged.emit(state.value)

    def _message(self, text: str, error: bool = False) -> None:
        self.model.notify(text, error)

    def _on_notice(self, text: str, error: bool) -> None:
        self.controls.show_state(text, error)
        self.host.status(text)

    def _on_progress_text(self, text: str) -> None:
        self.state_label.setText(text)
        self._refresh_model()

    def _refresh_model(self) -> None:
        """Show the model's state and enable what can be done now."""
        busy, run = self._job is not None, self.model.run
        self.model_box.show_service(busy)
        usable = not self.service.state.unusable
        self.autonomous_button.setEnabled(not busy and usable)
        self.interpret_button.setEnabled(not busy and usable)
        self.run_selected_button.setEnabled(not busy and run is not None and run.can_step)
        self.cancel_button.setEnabled(busy and self.model.state is not RunState.CANCELLING)
        self.chat.set_busy(busy or not usable, busy and self.model.state is not RunState.CANCELLING)

    # ------------------------------------------------------------------ model
    def check_model(self) -> JobHandle | None:
        """Locate and verify the model files in the worker (no load)."""
        return None if self._closed else self.model_box.check_model()

    def open_settings(self) -> AISettingsDialog | None:
        return None if self.running else self.model_box.open_settings(self.apply_config)

    def apply_config(self, config: M.ModelConfig) -> JobHandle | None:
        """Use other model files / device options: closes a loaded model, then checks again.

        Freeing a loaded model (gigabytes, maybe GPU memory) is not for the GUI thread: it
        runs on the AI worker, before any run queued after it. None when nothing changes.
        """
        if self.running or self._closed:
            return None
        if config != self.service.config and self.model.run is not None:
            self.model.run.session = None  # its pipeline belongs to the model being closed
        return self.model_box.apply_config(config)

    # ------------------------------------------------------------------ runs
    def run_autonomous(self) -> JobHandle | None:
        return self._start(RunMode.AUTONOMOUS)

    def run_interpret(self) -> JobHandle | None:
        return self._start(RunMode.INTERPRET)

    def _target(self) -> AITarget | None:
        try:
            return self.host.current_target()
        except FadaError as err:
            self._message(str(err), error=True)
            return None

    def _ready(self) -> AITarget | None:
        """The frame to analyse if a run can start now (else None, the reason shown)."""
        if self._closed:
            return None
        if self.running:
            self._message("The AI is already running (Cancel stops it).")
            return None
        if self.service.state.unusable:
            self.model.set_state(RunState.FAILED, self.service.message, error=True)
            return None
        return self._target()

    def _start(self, mode: RunMode) -> JobHandle | None:
        target = self._ready()
        if target is None:
            return None
        run = self.model.start(target, mode)
        self.display.displayed = run
        return self._submit(run.job(self.service), run, f"ai-{mode.value}")

    def run_chat(self, text: str) -> JobHandle | None:
        """A typed request on the frame on screen ("interpret", "detect the brain"), answered in
        the chat; it continues the pipeline session of the run before it on the same frame."""
        target = self._ready() if text.strip() else None
        if target is None:
            return None
        run = self.model.start_chat(target, text, self.host.shows)
        self.display.displayed = run
        self.tabs.setCurrentWidget(self.chat)
        h = self._submit(run.chat_job(self.service, text), run, "ai-chat")
        self.chat_keeper.follow(h, run, text)  # the request, then its answer, in the chat
        return h

    def selected_steps(self) -> list[tuple[str, str]]:
        """(phase, classes) the "Next step" tab asks for, in run order. Raises FadaError if incomplete."""
        return self.steps.selected_steps()

    def set_step_classes(self, phase: str, classes: list[str]) -> None:
        """Tick exactly ``classes`` for ``phase`` ("detect" / "segment") and tick the step."""
        self.steps.set_step_classes(phase, classes)

    def _poll(self) -> None:
        if self._closed:
            return
        self.display.update()
        self.model.phases.tick()
        if self.model_label.text() != self.service.message:  # e.g. another window loaded the model
            self._refresh_model()
        target = self.controls.show_target(self.host)
        self.display.follow(target)
        self.runs_bar.follow(self.host, target)

    def run_selected(self) -> JobHandle | None:
        """Human in the loop: run the ticked steps on the interpreted frame."""
        if self._closed or self.running:
            return None
        run = self.model.run
        if run is None or not run.can_step:
            self._message("Run Interpret on the frame first.", error=True)
            return None
        if not self.host.shows(run.target):
            self._message("The image changed since Interpret: run Interpret on this frame.", error=True)
            return None
        try:
            steps = self.selected_steps()
        except FadaError as err:
            self._message(str(err), error=True)
            return None
        self.model.plan_steps(steps)
        self.tabs.setCurrentIndex(0)
        return self._submit(run.steps_job(self.service, steps), run, "ai-steps")

    def _submit(self, job: Any, run: AnalysisRun, name: str) -> JobHandle:
        self.model.submitted(run, self.service.loaded)
        self.controls.set_fraction(0.0)
        h = self.runner.submit(job, name)
        self._job = h
        h.progress.connect(lambda p, r=run: self._on_progress(r, p))
        h.result.connect(lambda res, r=run: self._on_result(r, res))
        h.cancelled.connect(lambda r=run: self._on_cancelled(r))
        h.error.connect(lambda err, r=run: self._on_error(r, err))
        h.finished.connect(self._on_finished)
        self._refresh_model()
        return h

    def cancel(self) -> None:
        """Stop the running analysis (finished phases are kept)."""
        if self._job is None:
            return
        self._job.cancel()
        self.model.cancelling()

    # ------------------------------------------------------------------ progress
    def phase_state(self, phase: str) -> str:
        """The state shown for ``phase`` ("" if it has no row)."""
        return self.model.phases.state_text(phase)

    def phase_rows(self) -> list[tuple[str, str, str]]:
        """(phase, state, time) for every row, in order (tests, screenshots)."""
        return self.model.phases.rows()

    def stream_text(self) -> str:
        return self.stream.toPlainText()

    def interpretation_values(self) -> dict[str, str]:
        """Field title -> text shown (tests)."""
        return self.results.values()

    def _on_cleared(self) -> None:
        self.display.clear()
        self.stream.reset()
        self.results.reset()

    def _on_progress(self, run: AnalysisRun, p: Progress) -> None:
        if run is not self.model.run:
            return
        self.model.on_progress(run, p)
        if p.fraction is not None:
            self.controls.set_fraction(p.fraction)
        self._show_mapping(run)

    def _on_phase_finished(self, run: AnalysisRun, res: PhaseResult) -> None:
        if res.phase == "interpret":
            self.results.show_interpretation(res.interpretation, res.parse_ok)
        elif res.phase == "classify":
            self.results.show_classification(res.label)

    def _show_mapping(self, run: AnalysisRun) -> None:
        mapping = run.result.mapping if run.result is not None else None
        if mapping is not None and self.results.show_mapping(mapping):
            self.steps.fill(mapping)

    # ------------------------------------------------------------------ outcomes
    def _on_result(self, run: AnalysisRun, res: Any) -> None:
        """``res``: the AnalysisResult, or a chat run's ChatReply."""
        self.controls.set_fraction(1.0)
        self._show_mapping(run)
        if run.mode is RunMode.CHAT:
            self.model.answered(run, res)
            res = run.result
        else:
            self.model.finished(run, res)
            if run.mode is RunMode.INTERPRET and res.phase("detect") is None:
                self.tabs.setCurrentWidget(self.steps)
        self._after_run(run)
        self.resultReady.emit(res)

    def _on_cancelled(self, run: AnalysisRun) -> None:
        self.model.cancelled(run)
        self._after_run(run)
        if run.result is not None and run.result.phases:
            self.resultReady.emit(run.result)

    def _on_error(self, run: AnalysisRun, err: BaseException) -> None:
        self.model.failed(run, err)
        self.host.status(f"AI: {error_text(err)}", 10000)
        self._after_run(run)

    def _on_finished(self) -> None:
        self._job = None
        self._refresh_model()

    def _after_run(self, run: AnalysisRun) -> None:
        if self._closed:
            return
        self._job = None
        self.keeper.run_ended(run)

    # ------------------------------------------------------------------ storing
    def item_captured(self, item: Any) -> None:
        """A frame was captured into the exam: if it is the analysed frame, store the analysis with it."""
        self.keeper.item_captured(self.model.run, item, self.running)

    def _on_stored(self, run: AnalysisRun, ids: Any) -> None:
        if not self._closed:
            self.state_label.setText(self.state_label.text() + " Stored in the exam.")
            self.display.update()
        self.storedInExam.emit(ids)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the poll timer, cancel a run (finished phases are stored), wait for the worker."""
        if self._closed:
            return
        self._timer.stop()
        if self._job is not None:
            self._job.cancel()
        self.runner.shutdown(timeout=timeout, cancel=True)
        if self.model.run is not None:
            self.keeper.store_increment(self.model.run)  # the window's store worker is still running
        self._closed = self.display.closed = self.model_box.closed = True
        self.keeper.close()
        self.questions.close()
