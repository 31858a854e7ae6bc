"""A human edit of a pending AI annotation is its review (accepted, "AI, edited"); undo restores both."""

from __future__ import annotations

import pytest

from fada_desk.core.annotation_commands import (
    MoveAnnotation,
    MoveVertex,
    Relabel,
    ResizeBox,
    SetMeasure,
    SetStatus,
)
from fada_desk.core.annotations import Box, Polygon
from fada_desk.core.commands import UndoStack
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_tally import tally_annotations
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus

F = FrameRef(1, 0)


@pytest.fixture()
def doc() -> AnnotationSet:
    return AnnotationSet([
        Box(frame=F, id="box", label="head", provenance=Provenance.AI, x0=10, y0=10, x1=50, y1=40),
        Polygon(frame=F, id="poly", label="Brain", provenance=Provenance.AI,
                points=((0, 0), (20, 0), (20, 20))),
        Box(frame=F, id="manual", label="head", x0=1, y0=1, x1=5, y1=5),
    ])


@pytest.mark.parametrize("edit", [
    lambda d: ResizeBox(d, "box", 12, 10, 50, 44),
    lambda d: MoveAnnotation(d, "box", 3, 0),
    lambda d: Relabel(d, "box", "abdomen"),
])
def test_editing_a_pending_ai_box_accepts_it_and_undo_restores_both(doc: AnnotationSet, edit) -> None:  # noqa: ANN001
    assert doc.get("box").status is ReviewStatus.PENDING
    stack = UndoStack(doc)
    stack.push(edit(doc))
    box = doc.get("box")
    assert (box.status, box.provenance) == (ReviewStatus.ACCEPTED, Provenance.AI_EDITED)
    assert tally_annotations(doc).edited == 1
    stack.undo()
    box = doc.get("box")
    assert (box.status, box.provenance) == (ReviewStatus.PENDING, Provenance.AI)
    stack.redo()
    assert doc.get("box").status is ReviewStatus.ACCEPTED


def test_a_drag_back_to_the_start_reviews_nothing(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    g = object()
    stack.push(MoveVertex(doc, "poly", 1, 25, 0, gesture=g))
    assert doc.get("poly").status is ReviewStatus.ACCEPTED  # mid-drag: edited
    stack.push(MoveVertex(doc, "poly", 1, 20, 0, gesture=g))
    poly = doc.get("poly")
    assert (poly.status, poly.provenance) == (ReviewStatus.PENDING, Provenance.AI)
    assert len(stack) == 0


def test_rejected_stays_rejected_and_tagging_a_measure_is_no_review(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(SetMeasure(doc, "box", "HC"))
    assert doc.get("box").status is ReviewStatus.PENDING
    stack.push(SetStatus(doc, ["box"], "rejected"))
    stack.push(MoveAnnotation(doc, "box", 2, 2))
    box = doc.get("box")
    assert (box.status, box.provenance) == (ReviewStatus.REJECTED, Provenance.AI_EDITED)


def test_manual_annotations_are_unaffected(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(MoveAnnotation(doc, "manual", 1, 1))
    m = doc.get("manual")
    assert (m.status, m.provenance) == (ReviewStatus.ACCEPTED, Provenance.MANUAL)
