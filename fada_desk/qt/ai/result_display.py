"""Which AI result the panel shows for the frame on screen, and when the overlay draws it.

The AI panel shows the current run's result while its frame is on screen (again
when the frame comes back), else, when a capture of the exam is reviewed, the
AI result stored with it (read once per frame, through the host). The
read-only :class:`~.overlay.AIOverlay` hides when another frame is shown, and
once a result is stored and the review editor shows that frame (the editor
draws the very same annotations, editable).
"""

from __future__ import annotations

from collections.abc import Callable

from fada_desk.app.ai_results import AITarget, StoredAI
from fada_desk.app.analysis import AnalysisModel, AnalysisRun, RunState
from fada_desk.core.review_types import FrameRef
from fada_desk.core.errors import error_text
from fada_desk.qt.ai.host import AIHost
from fada_desk.qt.ai.overlay import AIOverlay
from fada_desk.qt.ai.result_views import InterpretationView


class ResultDisplay:
    """The overlay's content and visibility, and the result shown in the panel (GUI thread)."""

    def __init__(self, host: AIHost, model: AnalysisModel, overlay: AIOverlay, results: InterpretationView,
                 busy: Callable[[], bool], run_shown: Callable[[AnalysisRun], None]) -> None:
        self.host, self.model, self.overlay, self.results = host, model, overlay, results
        self.busy = busy  # True while a job runs: nothing else is shown meanwhile
        self.run_shown = run_shown  # a run's results are back on screen (its mapping to show)
        self.target: AITarget | None = None  # whose annotations the overlay holds
        self.stored_frame: FrameRef | None = None  # set when they are a result stored in the exam
        self.displayed: object = None  # the AnalysisRun or the FrameRef of a stored result shown
        self.closed = False

    def clear(self) -> None:
        self.overlay.clear()
        self.target = self.stored_frame = None

    def draw_run(self, run: AnalysisRun) -> None:
        """Draw what ``run`` produced so far."""
        self.overlay.set_annotations(run.annotations())
        self.target, self.stored_frame = run.target, None
        self.update()

    def declined(self, run: AnalysisRun) -> None:
        """The user chose not to store ``run``'s new result: it is no longer drawn; what the
        exam holds for its frame is shown instead."""
        run.declined = True
        if self.target is run.target:
            self.clear()
        self.displayed = None

    def moved(self, run: AnalysisRun) -> None:
        """``run``'s frozen frame was captured: it now targets the capture."""
        self.target = run.target if self.target is not None else None

    def update(self) -> None:
        """Show the overlay only over its own frame, and not under the review editor's copy."""
        target, run = self.target, self.model.run
        if target is None:
            self.overlay.set_visible(False)
            return
        visible = self.host.shows(target)
        ref = target.frame_ref
        stored = self.stored_frame is not None or (run is not None and run.stored and run.target is target)
        if visible and ref is not None and stored and self.host.editor_shows(ref):
            visible = False  # the review editor draws the same annotations, editable
        self.overlay.set_visible(visible)

    def follow(self, target: AITarget | None) -> None:
        """Show what belongs to the frame on screen (``target``): the current run's result when its
        frame is back, else (reviewing a capture) the AI result stored with it, read once per frame."""
        if self.busy():
            return
        run = self.model.run
        if run is not None and not run.declined and self.host.shows(run.target):
            if self.displayed is not run:
                self.show_run(run)
            return
        ref = target.frame_ref if target is not None else None
        if ref is None:
            if isinstance(self.displayed, FrameRef):
                self.displayed = None  # read again when the capture is shown again (it may be edited)
            return
        if ref == self.displayed:
            return
        self.displayed = ref
        self.host.load_stored(ref, lambda stored, t=target: self.show_stored(t, stored),
                              lambda err: self.model.notify(
                                  f"Cannot read the stored AI result: {error_text(err)}", error=True))

    def show_run(self, run: AnalysisRun) -> None:
        """Show a run's results again (its frame is back on screen)."""
        self.model.replay(run)
        self.displayed = run
        if run.result is None:
            return
        self.run_shown(run)
        self.target = run.target
        self.update()

    def show_stored(self, target: AITarget, stored: StoredAI) -> None:
        if self.closed or self.busy() or self.displayed != stored.frame:
            return
        self.model.clear()
        self.displayed = stored.frame
        if stored.empty:
            self.model.set_state(RunState.IDLE, "")
            return
        self.overlay.set_annotations(stored.annotations)
        self.target, self.stored_frame = target, stored.frame
        self.results.show_stored(stored)
        self.model.set_state(RunState.IDLE, stored.summary())
        self.update()
