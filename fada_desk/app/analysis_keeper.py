"""Keeping AI results: store what a run finished with its capture in the exam, as it finishes.

When the analysed frame is a captured item of the open exam, the phases that
finished are stored when a job ends (:meth:`AnalysisKeeper.store_increment`:
only those not stored yet; a later human-in-the-loop step adds its
annotations). A frozen live frame is not in the exam: its analysis is stored
when that frame is captured (:meth:`AnalysisKeeper.item_captured` checks that
the capture holds exactly the analysed pixels). Two things are asked first, as a
:class:`StoreRequest` to answer with :meth:`AnalysisKeeper.answer`: a run that
proposes again what earlier runs on the frame proposed
(:attr:`AnalysisKeeper.choose`: replace the earlier pending ones, keep both, or
:meth:`AnalysisKeeper.decline`), and replacing an interpretation a human
already reviewed (:attr:`AnalysisKeeper.confirm`).

The host does the storing (:class:`StoreHost`: the GUI's store worker or the
review editor's session; callbacks come back on the caller's thread). Nothing
here touches Qt; outcomes are psygnal signals.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol

from psygnal import Signal

from fada_desk.app.ai_results import AITarget, NeedsConfirmation
from fada_desk.app.analysis import AnalysisRun
from fada_desk.app.analysis_runs import DuplicateChoice, NeedsRunChoice
from fada_desk.core.errors import error_text


class StoreHost(Protocol):
    """Where results are stored (the AI panel's host)."""

    def store_analysis(self, target: AITarget, analysis: Mapping[str, Any], analysis_id: str,
                       replace_reviewed: bool, done: Callable[[Any], None],
                       failed: Callable[[BaseException], None],
                       duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        """Store (part of) an analysis of a captured frame; False if the target is not in an exam."""

    def match_capture(self, item: Any, sha256: str, done: Callable[[AITarget | None], None]) -> bool:
        """Check whether captured ``item`` holds exactly the pixels an analysis saw."""

    def status(self, text: str, ms: int = 5000) -> None: ...


@dataclass(frozen=True)
class StoreRequest:
    """One increment of a run to store (phases from ``start``) and the answers given so far."""

    run: AnalysisRun
    doc: dict[str, Any]
    start: int
    replace_reviewed: bool = False
    duplicates: DuplicateChoice = DuplicateChoice.ASK


class AnalysisKeeper:
    """Stores the increments of analysis runs through a :class:`StoreHost`."""

    stored = Signal(object, object)  # AnalysisRun, the ids of the annotations added
    failed = Signal(str)  # one line: the result was not stored (it is tried again with the next one)
    confirm = Signal(object, str)  # StoreRequest, question: replace the reviewed interpretation?
    choose = Signal(object, object)  # StoreRequest, Duplicates: replace the pending ones, keep both, cancel?
    declined = Signal(object)  # AnalysisRun: the user chose not to store its new result
    moved = Signal(object)  # AnalysisRun: its frozen frame was captured, it now targets the capture

    def __init__(self, host: StoreHost) -> None:
        self.host = host
        self.closed = False  # after close: no questions any more (the store worker still runs)

    def close(self) -> None:
        self.closed = True

    def store_increment(self, run: AnalysisRun, replace_reviewed: bool = False) -> bool:
        """Store the phases that finished since the last store (captured frames only)."""
        increment = run.take_increment()
        if increment is None:
            return False
        doc, start = increment
        return self.store(run, doc, start, replace_reviewed)

    def store(self, run: AnalysisRun, doc: dict[str, Any], start: int, replace_reviewed: bool = False,
              duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        """Store ``doc`` (phases from ``start``); False when it could not even be handed over."""
        return self.send(StoreRequest(run, doc, start, replace_reviewed, DuplicateChoice(duplicates)))

    def answer(self, request: StoreRequest, replace_reviewed: bool | None = None,
               duplicates: DuplicateChoice | str | None = None) -> bool:
        """Store ``request`` again with the user's answer to a question."""
        changes: dict[str, Any] = {}
        if replace_reviewed is not None:
            changes["replace_reviewed"] = replace_reviewed
        if duplicates is not None:
            changes["duplicates"] = DuplicateChoice(duplicates)
        return self.send(replace(request, **changes))

    def decline(self, request: StoreRequest) -> None:
        """The user cancelled: ``request`` is not stored (nor tried again)."""
        self.declined.emit(request.run)

    def send(self, request: StoreRequest) -> bool:
        run, start = request.run, request.start

        def done(ids: Any) -> None:
            run.stored = True
            n = len(ids) if isinstance(ids, list) else 0
            self.host.status(f"AI result stored with capture #{run.target.item_id}"
                             + (f": {n} annotation(s) pending review." if n else "."))
            self.stored.emit(run, ids)

        def failed(err: BaseException) -> None:
            if isinstance(err, NeedsRunChoice):
                if self.closed:  # nobody to ask (closing): keep both runs, nothing is lost
                    self.send(replace(request, duplicates=DuplicateChoice.KEEP))
                else:
                    self.choose.emit(request, err.duplicates)
                return
            if isinstance(err, NeedsConfirmation) and not self.closed:
                self.confirm.emit(request, str(err))
                return
            run.store_failed(start)
            self.failed.emit(f"The AI result was not stored: {error_text(err)}")

        try:
            ok = self.host.store_analysis(run.target, request.doc, run.analysis_id, request.replace_reviewed,
                                          done, failed, duplicates=request.duplicates)
        except RuntimeError:  # the window's store worker already shut down (closing)
            run.store_failed(start)
            return False
        if not ok:
            run.store_failed(start)
        return ok

    def item_captured(self, run: AnalysisRun | None, item: Any, running: bool) -> None:
        """A frame was captured into the exam: if it is ``run``'s frozen frame, store the analysis
        with it (decided when the run ends if ``running``)."""
        if self.closed or run is None or run.target.item_id is not None or run.result is None:
            return
        if running:
            run.captured.append(item)
            return
        sha = run.result.image.get("sha256", "")

        def matched(target: AITarget | None) -> None:
            if target is None or run.target.item_id is not None:
                return
            run.moved_to(target)
            self.moved.emit(run)
            self.store_increment(run)

        self.host.match_capture(item, sha, matched)

    def run_ended(self, run: AnalysisRun) -> None:
        """A job of ``run`` ended: store what finished, then the captures made meanwhile."""
        if self.closed:
            return
        self.store_increment(run)
        captured, run.captured = run.captured, []
        for item in captured:
            self.item_captured(run, item, running=False)
