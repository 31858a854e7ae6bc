"""The shared vocabulary of review: frame references, provenance, review status.

Both annotations (:mod:`fada_desk.core.annotations`) and interpretations
(:mod:`fada_desk.core.interpretation`) are reviewed items that belong to a
frame; these types are what they, the review document, the store, the exporters
and the GUI compare, so they are enums, never bare strings.

Provenance rules (enforced by the models, not by the GUI):

* ``ai``: exactly as the model produced it (``analysis_id`` names the run);
* ``ai-edited``: a human changed it; the model's original is kept forever;
* ``manual``: written or drawn by a human.

Review status (``pending``/``accepted``/``rejected``) is separate: accepting or
rejecting does not change provenance. AI output starts ``pending``; manual
annotations start ``accepted`` (a human drew them on purpose).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

from fada_desk.core.errors import FadaError


class AnnotationError(FadaError):
    """An annotation, an interpretation or an edit is invalid (unknown id, too few vertices, bad value)."""


class Provenance(str, Enum):
    AI = "ai"
    AI_EDITED = "ai-edited"
    MANUAL = "manual"


class ReviewStatus(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: The verb of a status change, for undo texts ("Accept BPD", "Reset 3 annotations").
STATUS_VERBS: dict[ReviewStatus, str] = {
    ReviewStatus.ACCEPTED: "Accept",
    ReviewStatus.REJECTED: "Reject",
    ReviewStatus.PENDING: "Reset",
}


@dataclass(frozen=True, order=True)
class FrameRef:
    """The frame a reviewed item belongs to: a captured item and a frame inside it."""

    item_id: int
    frame_index: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.item_id, bool) or not isinstance(self.item_id, int):
            raise AnnotationError(f"item id must be an integer, got {self.item_id!r}.")
        if (
            isinstance(self.frame_index, bool)
            or not isinstance(self.frame_index, int)
            or self.frame_index < 0
        ):
            raise AnnotationError(f"frame index must be an integer >= 0, got {self.frame_index!r}.")

    def to_dict(self) -> dict[str, int]:
        return {"item_id": self.item_id, "frame_index": self.frame_index}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FrameRef:
        return cls(int(d["item_id"]), int(d.get("frame_index", 0)))

    def key(self) -> str:
        return f"{self.item_id}:{self.frame_index}"
