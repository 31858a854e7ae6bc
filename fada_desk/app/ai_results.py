"""AI results and the exam: which frame an analysis ran on, storing it for review, reading it back.

An :class:`AITarget` is the still frame an analysis runs on and where it lives
(a captured item of the open exam, or a frozen / paused frame that is not in
the exam yet). Storing goes through :meth:`ReviewSession.import_analysis
<fada_desk.app.review_session.ReviewSession.import_analysis>`: AI output
becomes *pending* annotations + an interpretation under review, and the whole
analysis document is written to the audit trail. :func:`import_into_session`
does it on an open session (the review editor's, GUI thread);
:func:`import_into_store` on a short-lived one (any thread: the GUI's store
worker, a script). Replacing an interpretation a human already reviewed needs
confirmation: :class:`NeedsConfirmation` says so in one line. A run that proposes
again what earlier runs on the frame proposed asks first too
(:class:`~fada_desk.app.analysis_runs.NeedsRunChoice`): replace the earlier pending
ones (one undoable command), keep both runs, or cancel.

:func:`stored_from_doc` / :func:`stored_ai` read back what the exam holds for
a frame (:class:`StoredAI`), to show it again when that capture is reviewed.
Nothing here touches Qt.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fada_desk.app.analysis_runs import DuplicateChoice, NeedsRunChoice, find_duplicates, replace_command
from fada_desk.app.review_session import ReviewSession
from fada_desk.core.annotations import Annotation
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.errors import FadaError
from fada_desk.core.frame import Frame
from fada_desk.core.interpretation import Interpretation, review_items_from_analysis
from fada_desk.core.vocabulary import INTERPRETATION_KEYS
from fada_desk.storage.review import AI_OUTPUT, ReviewError, ReviewStore

PREVIEW_FRAME = FrameRef(0, 0)  # a frame that is not in any exam (display only)


class NeedsConfirmation(FadaError):
    """The frame's interpretation was already reviewed; a new AI result would replace it."""


@dataclass(frozen=True)
class AITarget:
    """The still frame an analysis runs on, and where it lives."""

    frame: Frame
    description: str
    source: str = ""
    frame_index: int | None = None
    item_id: int | None = None  # a captured item of the current exam
    exam_id: int | None = None

    @property
    def frame_ref(self) -> FrameRef | None:
        if self.item_id is None:
            return None
        return FrameRef(int(self.item_id), int(self.frame_index or 0))


@dataclass(frozen=True)
class StoredAI:
    """What the exam holds for a frame: AI annotations and the interpretation under review."""

    frame: FrameRef
    annotations: list[Annotation]
    interpretation: Interpretation | None

    @property
    def empty(self) -> bool:
        return not self.annotations and self.interpretation is None

    @property
    def pending(self) -> int:
        """How many of the annotations still wait for review."""
        return sum(1 for a in self.annotations if a.status is ReviewStatus.PENDING)

    def values(self) -> dict[str, Any]:
        """Current value of every reviewed value of the interpretation (fields, classification...)."""
        interp = self.interpretation
        return {k: v.value for k, v in interp.values.items()} if interp is not None else {}

    def fields(self) -> dict[str, Any]:
        """The 8 interpretation fields in prompt order, "N/A" where there is no value."""
        values = self.values()
        return {k: values.get(k) if values.get(k) is not None else "N/A" for k in INTERPRETATION_KEYS}

    def summary(self) -> str:
        """One line for the AI panel's status."""
        return (f"Stored AI result of capture #{self.frame.item_id}: "
                f"{len(self.annotations)} annotation(s), {self.pending} pending review.")


def annotations_for(analysis: Mapping[str, Any], frame: FrameRef | None = None,
                    analysis_id: str = "preview") -> list[Annotation]:
    """Annotations (boxes, polygons, keypoints) of an ``AnalysisResult.to_dict()``."""
    anns, _interp = review_items_from_analysis(analysis, frame or PREVIEW_FRAME, analysis_id)
    return list(anns)


def is_reviewed(interp: Interpretation) -> bool:
    """True once a human accepted, rejected or edited any value of ``interp``."""
    return any(v.status is not ReviewStatus.PENDING or v.edited for v in interp.values.values())


def _needs_confirmation(session: Any, frame: FrameRef) -> NeedsConfirmation | None:
    old = session.doc.interpretation(frame)
    if old is None or not is_reviewed(old):
        return None
    return NeedsConfirmation(
        f"The interpretation of capture #{frame.item_id} was already reviewed. "
        "Replace it with the new AI result? (the reviewed one stays in the audit trail)")


def import_into_session(session: Any, frame: FrameRef, analysis: Mapping[str, Any], analysis_id: str,
                        replace_reviewed: bool, duplicates: DuplicateChoice | str = DuplicateChoice.ASK
                        ) -> list[str]:
    """``session.import_analysis`` with the questions as errors: :class:`NeedsRunChoice` when
    earlier runs on the frame proposed the same structures (``duplicates`` answers it),
    :class:`NeedsConfirmation` when a reviewed interpretation would be replaced.

    ``session`` is a :class:`~fada_desk.app.review_session.ReviewSession`; returns the
    ids of the annotations added.
    """
    choice = DuplicateChoice(duplicates)
    new, interp = review_items_from_analysis(analysis, frame, analysis_id)
    dup = find_duplicates(session.doc, frame, new, analysis_id)
    if dup is not None and choice is DuplicateChoice.ASK:
        raise NeedsRunChoice(dup)
    if dup is not None and choice is DuplicateChoice.REPLACE and dup.can_replace:
        ask = _needs_confirmation(session, frame) if interp is not None and not replace_reviewed else None
        if ask is not None:
            raise ask
        fresh = [a for a in new if a.id not in dup.repeated_ids]  # not what was already reviewed
        return _replace(session, frame, analysis, analysis_id, dup.pending_ids, fresh, interp)
    try:
        anns = session.import_analysis(frame.item_id, analysis, frame.frame_index, analysis_id,
                                       replace_reviewed=replace_reviewed)
    except ReviewError as err:
        ask = None if replace_reviewed else _needs_confirmation(session, frame)
        if ask is not None:
            raise ask from err
        raise
    return [a.id for a in anns]


def _replace(session: Any, frame: FrameRef, analysis: Mapping[str, Any], analysis_id: str,
             remove: tuple[str, ...], new: list[Annotation], interp: Interpretation | None) -> list[str]:
    """The new run replaces the earlier runs' pending duplicates: one undoable command on the
    session's stack (persisted and audited with it), then the analysis in the audit trail."""
    session.flush()
    old = session.doc.interpretation(frame)
    session.push(replace_command(session.doc, frame, remove, new, interp))
    session.record_action(AI_OUTPUT, frame.key(), old.to_dict() if old is not None else None,
                          {"analysis_id": analysis_id, "analysis": dict(analysis),
                           "annotation_ids": [a.id for a in new], "replaced": list(remove)})
    return [a.id for a in new]


def import_into_store(store: Any, exam_id: int, frame: FrameRef, analysis: Mapping[str, Any],
                      analysis_id: str, operator: str, replace_reviewed: bool,
                      duplicates: DuplicateChoice | str = DuplicateChoice.ASK) -> list[str]:
    """Store an analysis with a short-lived review session (the GUI's store worker, scripts)."""
    with ReviewSession(store, exam_id, operator) as session:
        return import_into_session(session, frame, analysis, analysis_id, replace_reviewed, duplicates)


def stored_from_doc(doc: Any, frame: FrameRef) -> StoredAI:
    """The AI annotations (pending, accepted or edited; not rejected) and interpretation of a frame."""
    anns = [a for a in doc.for_frame(frame)
            if a.provenance is not Provenance.MANUAL and a.status is not ReviewStatus.REJECTED]
    return StoredAI(frame, anns, doc.interpretation(frame))


def stored_ai(store: Any, exam_id: int, frame: FrameRef) -> StoredAI:
    """:func:`stored_from_doc` on the exam's stored review document (store worker)."""
    return stored_from_doc(ReviewStore(store).load(exam_id), frame)


def frame_sha256(frame: Frame) -> str:
    """The pipeline's image identity (sha256 of the RGB pixels), as in ``AnalysisResult.image``."""
    from fada_desk.inference.fada.image import prepare_image

    return prepare_image(frame, max_side=8192).sha256
