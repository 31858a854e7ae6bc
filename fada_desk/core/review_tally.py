"""What was reviewed: counts of AI proposals accepted, edited, rejected and still pending.

Every export states exactly this (issue: a report must never claim a review that did
not happen). An AI proposal is an AI annotation (box, polygon, keypoints...) or one
AI-filled interpretation value (one of the 8 FADA fields, the view classification,
the detect/segment class lists). A human edit of an AI proposal is a review: it
counts as accepted and as edited. Manual annotations are not AI proposals.

The wording lives here, once, so the PDF, the JSON and the export dialog say the
same thing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_types import Provenance, ReviewStatus


@dataclass(frozen=True)
class ReviewTally:
    """Counts of AI proposals by review state. ``edited`` is part of ``accepted``."""

    accepted: int = 0
    edited: int = 0
    rejected: int = 0
    pending: int = 0

    @property
    def total(self) -> int:
        return self.accepted + self.rejected + self.pending

    @property
    def reviewed(self) -> int:
        return self.accepted + self.rejected

    @property
    def complete(self) -> bool:
        """True when there was AI output and every proposal was accepted, edited or rejected."""
        return self.total > 0 and self.pending == 0

    def __add__(self, other: ReviewTally) -> ReviewTally:
        return ReviewTally(self.accepted + other.accepted, self.edited + other.edited,
                           self.rejected + other.rejected, self.pending + other.pending)

    def to_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "edited": self.edited, "rejected": self.rejected,
                "pending": self.pending, "total": self.total}

    # -- wording ---------------------------------------------------------------------------
    def counts_text(self) -> str:
        """``3 accepted (1 edited), 1 rejected, 2 not reviewed``."""
        acc = f"{self.accepted} accepted" + (f" ({self.edited} edited)" if self.edited else "")
        return f"{acc}, {self.rejected} rejected, {self.pending} not reviewed"

    def note(self, operator: str) -> str:
        """The one-line AI note for footers and headers; claims a review only when it happened."""
        if self.total == 0:
            return "No AI output in this report"
        who = operator or "no operator recorded"
        if self.pending == 0:
            return f"AI-assisted, reviewed by {who}"
        if self.reviewed == 0:
            return f"AI-assisted, NOT reviewed ({self.pending} AI {_proposals(self.pending)} pending)"
        return (f"AI-assisted, review incomplete: {self.reviewed} of {self.total} AI proposals reviewed "
                f"by {who}")

    def statement(self, include_pending: bool) -> str:
        """Full sentence(s) for the report's review section."""
        if self.total == 0:
            return "No AI (FADA) output was part of this exam."
        text = f"AI output (FADA): {self.total} {_proposals(self.total)}: {self.counts_text()}."
        if self.rejected:
            text += " Rejected proposals are not shown."
        if self.pending:
            if include_pending:
                text += (f" {self.pending} AI {_proposals(self.pending)} not reviewed: included and marked "
                         f"\"pending review\"; they are not confirmed findings.")
            else:
                text += f" {self.pending} AI {_proposals(self.pending)} not reviewed and not included."
        return text


def _proposals(n: int) -> str:
    return "proposal" if n == 1 else "proposals"


def tally_annotations(annotations: Iterable[Annotation]) -> ReviewTally:
    acc = ed = rej = pen = 0
    for a in annotations:
        if a.provenance is Provenance.MANUAL:
            continue
        if a.status is ReviewStatus.ACCEPTED:
            acc += 1
            ed += a.provenance is Provenance.AI_EDITED
        elif a.status is ReviewStatus.REJECTED:
            rej += 1
        else:
            pen += 1
    return ReviewTally(acc, ed, rej, pen)


def tally_values(values: Iterable[object]) -> ReviewTally:
    """Tally interpretation :class:`~fada_desk.core.interpretation.ReviewedValue` s that came from AI."""
    acc = ed = rej = pen = 0
    for v in values:
        if not getattr(v, "from_ai", False) or (v.ai is None and v.value is None):  # type: ignore[attr-defined]
            continue
        status = v.status  # type: ignore[attr-defined]
        if status is ReviewStatus.ACCEPTED:
            acc += 1
            ed += v.provenance is Provenance.AI_EDITED  # type: ignore[attr-defined]
        elif status is ReviewStatus.REJECTED:
            rej += 1
        else:
            pen += 1
    return ReviewTally(acc, ed, rej, pen)
