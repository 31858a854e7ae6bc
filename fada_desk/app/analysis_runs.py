"""AI runs on one frame: which runs the review document holds, duplicates, replace, hide.

Every AI annotation carries the ``analysis_id`` of the run that proposed it.
Running the AI again on a capture that already has AI items must not stack
identical proposals silently: :func:`find_duplicates` says which items of
*earlier* runs propose the same structures (same kind and label, not
rejected) as the new run, and the user chooses (:class:`DuplicateChoice`):

* **replace** — the *pending* items of those earlier runs go, the new ones come,
  as ONE undoable command (:func:`replace_command`: undo brings the old
  pending items back and removes the new ones). Accepted, edited and rejected
  items always stay: they are the sonographer's, never replaced; a new proposal
  identical to one already reviewed is not added again;
* **keep** — both runs stay, told apart by their ``analysis_id``
  (:func:`frame_runs`; a view may hide a run: :class:`HiddenRuns`);
* **cancel** — the new result is not stored.

Nothing here touches Qt or the store; the storing is :mod:`fada_desk.app.ai_results`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from psygnal import Signal

from fada_desk.core.annotation_commands import AddAnnotation, DeleteAnnotations
from fada_desk.core.annotations import Annotation
from fada_desk.core.commands import Command, MacroCommand
from fada_desk.core.errors import FadaError
from fada_desk.core.interpretation import Interpretation
from fada_desk.core.interpretation_commands import SetInterpretation
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus


class DuplicateChoice(str, Enum):
    """What to do with a new run whose proposals earlier runs on the frame already made."""

    ASK = "ask"  # raise NeedsRunChoice: the user decides
    REPLACE = "replace"  # the earlier runs' pending duplicates are replaced (one undoable step)
    KEEP = "keep"  # keep both runs (separate, hideable)

    def __str__(self) -> str:
        return self.value


def is_ai(ann: Annotation) -> bool:
    return ann.provenance is not Provenance.MANUAL and bool(ann.analysis_id)


def structure(ann: Annotation) -> tuple[str, str]:
    """What an annotation proposes: its kind and structure (label), compared case-blind."""
    return ann.kind, ann.label.strip().lower()


def proposal(ann: Annotation) -> str:
    """What the model proposed (kind, label, geometry; the AI original of an edited item)."""
    return json.dumps([ann.kind, ann.ai_original or ann.original_snapshot()], sort_keys=True, default=str)


def structure_text(ann: Annotation) -> str:
    return f"{ann.label or '(unlabelled)'} {ann.kind}"


@dataclass(frozen=True)
class RunSummary:
    """One AI run's items on a frame (runs numbered in the order they appear)."""

    analysis_id: str
    number: int
    total: int
    pending: int
    reviewed: int  # accepted (an edit is an acceptance)
    rejected: int
    structures: tuple[str, ...]

    @property
    def title(self) -> str:
        return f"Run {self.number}"

    def text(self) -> str:
        """``Run 2: 4 items (3 pending)``."""
        parts = [f"{self.pending} pending"] if self.pending else []
        if self.reviewed:
            parts.append(f"{self.reviewed} accepted")
        if self.rejected:
            parts.append(f"{self.rejected} rejected")
        return f"{self.title}: {self.total} item(s)" + (f" ({', '.join(parts)})" if parts else "")


def frame_runs(doc: Any, frame: FrameRef) -> list[RunSummary]:
    """The AI runs with items on ``frame`` of review document ``doc``, in document order."""
    groups: dict[str, list[Annotation]] = {}
    for ann in doc.for_frame(frame):
        if is_ai(ann):
            groups.setdefault(str(ann.analysis_id), []).append(ann)
    out = []
    for n, (aid, anns) in enumerate(groups.items(), start=1):
        count = {s: sum(1 for a in anns if a.status is s) for s in ReviewStatus}
        names = tuple(dict.fromkeys(structure_text(a) for a in anns))
        out.append(RunSummary(aid, n, len(anns), count[ReviewStatus.PENDING], count[ReviewStatus.ACCEPTED],
                              count[ReviewStatus.REJECTED], names))
    return out


@dataclass(frozen=True)
class Duplicates:
    """Items of earlier runs on ``frame`` that propose what a new run proposes again."""

    frame: FrameRef
    structures: tuple[str, ...]  # "Brain box", ... (what both runs propose)
    pending_ids: tuple[str, ...]  # the earlier runs' pending duplicates: what "replace" removes
    reviewed: int  # accepted / edited duplicates: never replaced
    repeated_ids: tuple[str, ...] = ()  # new items identical to a reviewed earlier one: not added on replace

    @property
    def can_replace(self) -> bool:
        return bool(self.pending_ids)

    def question(self) -> str:
        """The question to the user, in one paragraph."""
        shown = ", ".join(self.structures[:6]) + (", …" if len(self.structures) > 6 else "")
        counts = [f"{len(self.pending_ids)} pending"] if self.pending_ids else []
        if self.reviewed:
            counts.append(f"{self.reviewed} accepted or edited")
        offer = ("Replace the pending ones with the new run's, keep both as separate runs, "
                 if self.can_replace else "Keep both as separate runs ")
        again = (f" {len(self.repeated_ids)} new proposal(s) repeat items already reviewed and would not be "
                 "added again." if self.repeated_ids and self.can_replace else "")
        return (f"Capture #{self.frame.item_id} already has AI items from an earlier run for the same "
                f"structures ({shown}): {', '.join(counts)}. {offer}or cancel (the new result is not "
                f"stored)? Accepted and edited items are never replaced.{again}")


class NeedsRunChoice(FadaError):
    """A new run repeats proposals of earlier runs on the frame: replace, keep both, or cancel?"""

    def __init__(self, duplicates: Duplicates) -> None:
        super().__init__(duplicates.question())
        self.duplicates = duplicates


def find_duplicates(doc: Any, frame: FrameRef, new: Sequence[Annotation], analysis_id: str) -> Duplicates | None:
    """The not-rejected AI items of other runs on ``frame`` with a structure of ``new``; None if none."""
    wanted = {structure(a) for a in new}
    if not wanted:
        return None
    earlier = [a for a in doc.for_frame(frame)
               if is_ai(a) and a.analysis_id != analysis_id and a.status is not ReviewStatus.REJECTED
               and structure(a) in wanted]
    if not earlier:
        return None
    pending = tuple(a.id for a in earlier if a.status is ReviewStatus.PENDING and a.provenance is Provenance.AI)
    names = tuple(dict.fromkeys(structure_text(a) for a in earlier))
    reviewed = {proposal(a) for a in doc.for_frame(frame)
                if is_ai(a) and a.analysis_id != analysis_id and a.id not in pending}
    repeated = tuple(a.id for a in new if proposal(a) in reviewed)
    return Duplicates(frame, names, pending, len(earlier) - len(pending), repeated)


def replace_command(doc: Any, frame: FrameRef, remove_ids: Sequence[str], new: Sequence[Annotation],
                    interpretation: Interpretation | None) -> Command:
    """One undoable step: the earlier runs' pending items ``remove_ids`` go, ``new`` come (and the
    frame's interpretation becomes ``interpretation`` when the new run has one).

    Only pending, unedited AI items may be replaced: anything else in ``remove_ids`` raises
    FadaError before the document changes."""
    for i in remove_ids:
        ann = doc.get(i)
        if ann.frame != frame or ann.status is not ReviewStatus.PENDING or ann.provenance is not Provenance.AI:
            raise FadaError(f"The {structure_text(ann)} was reviewed or edited: it is never replaced.")
    n = len(remove_ids)
    text = f"Replace {n} pending AI item(s) with a new run" if n else "Add a new AI run"
    children: list[Command] = []
    if remove_ids:
        children.append(DeleteAnnotations(doc, list(remove_ids), text))
    children += [AddAnnotation(doc, a, text) for a in new]
    if interpretation is not None:
        cmd = SetInterpretation(doc, frame, interpretation, text)
        cmd.action = "interpretation.ai_replace"
        children.append(cmd)
    return MacroCommand(text, children)


class HiddenRuns:
    """The AI runs a view does not draw (view state, not stored); ``changed`` after each change."""

    changed = Signal(object)  # frozenset of the hidden analysis ids

    def __init__(self) -> None:
        self._ids: frozenset[str] = frozenset()

    @property
    def ids(self) -> frozenset[str]:
        return self._ids

    def __contains__(self, analysis_id: object) -> bool:
        return analysis_id in self._ids

    def set_shown(self, analysis_id: str, shown: bool) -> None:
        ids = self._ids - {analysis_id} if shown else self._ids | {analysis_id}
        self._set(ids)

    def show_all(self) -> None:
        self._set(frozenset())

    def _set(self, ids: Iterable[str]) -> None:
        ids = frozenset(ids)
        if ids != self._ids:
            self._ids = ids
            self.changed.emit(ids)

    def visible(self, anns: Iterable[Annotation]) -> list[Annotation]:
        """``anns`` without the items of hidden runs."""
        return [a for a in anns if not (a.analysis_id and a.analysis_id in self._ids)]
