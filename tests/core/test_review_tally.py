"""What an export may claim about review: counts and wording of accepted/edited/rejected/pending AI."""

from __future__ import annotations

from fada_desk.core.annotations import Box
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.interpretation import ReviewedValue
from fada_desk.core.review_tally import ReviewTally, tally_annotations, tally_values

F = FrameRef(1, 0)


def box(prov: Provenance, status: ReviewStatus) -> Box:
    original = {"x0": 0, "y0": 0, "x1": 4, "y1": 4} if prov is Provenance.AI_EDITED else None
    return Box(frame=F, label="head", provenance=prov, status=status, ai_original=original,
               x0=1, y0=1, x1=5, y1=5)


def test_annotations_are_counted_by_state_and_manual_ones_are_not_ai() -> None:
    t = tally_annotations([
        box(Provenance.AI, ReviewStatus.ACCEPTED),
        box(Provenance.AI_EDITED, ReviewStatus.ACCEPTED),
        box(Provenance.AI, ReviewStatus.REJECTED),
        box(Provenance.AI, ReviewStatus.PENDING),
        box(Provenance.AI, ReviewStatus.PENDING),
        box(Provenance.MANUAL, ReviewStatus.ACCEPTED),
    ])
    assert t == ReviewTally(accepted=2, edited=1, rejected=1, pending=2)
    assert t.total == 5 and t.reviewed == 3 and not t.complete


def test_interpretation_values_count_only_ai_values_with_content() -> None:
    t = tally_values([
        ReviewedValue("cephalic", "cephalic", ReviewStatus.ACCEPTED),
        ReviewedValue("20 weeks", "13 weeks", ReviewStatus.ACCEPTED),   # edited
        ReviewedValue("poor", "poor", ReviewStatus.REJECTED),
        ReviewedValue("normal", "normal", ReviewStatus.PENDING),
        ReviewedValue(None, None, ReviewStatus.PENDING),                # the model gave nothing
        ReviewedValue(None, "typed by hand", ReviewStatus.ACCEPTED, from_ai=False),
    ])
    assert t == ReviewTally(accepted=2, edited=1, rejected=1, pending=1)


def test_note_claims_review_only_when_every_proposal_was_reviewed() -> None:
    assert ReviewTally(3, 1, 1, 0).note("A. Sono") == "AI-assisted, reviewed by A. Sono"
    partial = ReviewTally(1, 0, 0, 2).note("A. Sono")
    assert partial == "AI-assisted, review incomplete: 1 of 3 AI proposals reviewed by A. Sono"
    assert ReviewTally(0, 0, 0, 4).note("A. Sono") == "AI-assisted, NOT reviewed (4 AI proposals pending)"
    assert ReviewTally().note("A. Sono") == "No AI output in this report"


def test_statement_names_every_count_and_what_was_left_out() -> None:
    t = ReviewTally(accepted=3, edited=1, rejected=1, pending=2)
    left_out = t.statement(include_pending=False)
    assert "6 proposals: 3 accepted (1 edited), 1 rejected, 2 not reviewed." in left_out
    assert "2 AI proposals not reviewed and not included." in left_out
    shown = t.statement(include_pending=True)
    assert "not included" not in shown and 'marked "pending review"' in shown
    assert ReviewTally(1, 0, 0, 0).statement(False) == "AI output (FADA): 1 proposal: 1 accepted, 0 rejected, 0 not reviewed."


def test_tallies_add_up() -> None:
    assert ReviewTally(1, 1, 0, 2) + ReviewTally(2, 0, 3, 1) == ReviewTally(3, 1, 3, 3)
    assert ReviewTally(1, 1, 0, 2).to_dict() == {"accepted": 1, "edited": 1, "rejected": 0, "pending": 2, "total": 3}
