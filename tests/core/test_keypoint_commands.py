"""Keypoint sets gain and lose landmarks through undoable commands (issue 15: "Keypoints can only
be moved: add and delete points")."""

from __future__ import annotations

import pytest

from fada_desk.app.annotation_edits import add_keypoint, keypoint_insert_index
from fada_desk.core.annotation_commands import AddKeypoint, DeleteKeypoint, DeleteVertex, InsertVertex
from fada_desk.core.annotations import Box, Keypoints
from fada_desk.core.commands import UndoStack
from fada_desk.core.points import Keypoint
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_tally import tally_annotations
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus

F = FrameRef(1, 0)


@pytest.fixture()
def doc() -> AnnotationSet:
    return AnnotationSet([
        Keypoints(frame=F, id="crl", label="CRL", provenance=Provenance.AI, measure="CRL",
                  points=(Keypoint(10, 10, 2, "crown"), Keypoint(50, 10, 2, "rump"))),
        Keypoints(frame=F, id="one", label="NT", points=(Keypoint(5, 5),)),
        Box(frame=F, id="box", label="head", x0=1, y0=1, x1=5, y1=5),
    ])


def test_adding_a_landmark_is_one_undoable_step_that_reviews_the_ai_set(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    before = doc.get("crl")
    stack.push(AddKeypoint(doc, "crl", 1, 30, 14))
    kp = doc.get("crl")
    assert [(p.x, p.y, p.name) for p in kp.points] == [(10, 10, "crown"), (30, 14, ""), (50, 10, "rump")]
    assert kp.points[1].visibility == 2
    # a human edit of a pending AI set is its review ("AI, edited"), the AI's original kept
    assert (kp.status, kp.provenance) == (ReviewStatus.ACCEPTED, Provenance.AI_EDITED)
    assert kp.ai_original == before.original_snapshot()
    assert tally_annotations(doc).edited == 1
    assert stack.undo_text == "Add point to CRL"
    stack.undo()
    assert doc.get("crl") == before
    stack.redo()
    assert len(doc.get("crl").points) == 3
    (entry,) = stack.command(stack.index - 1).audit()
    assert entry.action == "annotation.keypoint.add" and entry.target == "crl"


def test_appending_and_prepending(doc: AnnotationSet) -> None:
    AddKeypoint(doc, "crl", 2, 70, 10).redo(doc)
    AddKeypoint(doc, "crl", 0, 0, 10).redo(doc)
    assert [p.x for p in doc.get("crl").points] == [0, 10, 50, 70]


def test_deleting_a_landmark_undoes_exactly(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    before = doc.get("crl")
    stack.push(DeleteKeypoint(doc, "crl", 0))
    assert [p.name for p in doc.get("crl").points] == ["rump"]
    assert doc.get("crl").status is ReviewStatus.ACCEPTED
    assert stack.undo_text == "Remove point from CRL"
    stack.undo()
    assert doc.get("crl") == before


@pytest.mark.parametrize(("make", "message"), [
    (lambda d: DeleteKeypoint(d, "one", 0), "at least 1 point; delete the annotation instead"),
    (lambda d: DeleteKeypoint(d, "crl", 2), "Point 2 does not exist (the set has 2)"),
    (lambda d: DeleteKeypoint(d, "box", 0), "keypoint sets only, not a box"),
    (lambda d: AddKeypoint(d, "crl", 3, 1, 1), "Cannot add a point at 3: the set has 2 points"),
    (lambda d: AddKeypoint(d, "box", 0, 1, 1), "keypoint sets only, not a box"),
    (lambda d: AddKeypoint(d, "crl", 0, float("nan"), 1), "x"),
    (lambda d: AddKeypoint(d, "crl", 0, 1, 1, visibility=7), "visibility must be 0, 1 or 2"),
    # the polygon commands still refuse keypoint sets: each kind has its own, clearly named, command
    (lambda d: InsertVertex(d, "crl", 0, 1, 1), "polygons only"),
    (lambda d: DeleteVertex(d, "crl", 0), "polygons only"),
])
def test_invalid_edits_are_refused_before_anything_changes(doc: AnnotationSet, make, message: str) -> None:  # noqa: ANN001
    snapshot = list(doc)
    with pytest.raises(AnnotationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make(doc)
    assert list(doc) == snapshot


@pytest.mark.parametrize(("x", "y", "index"), [
    (30, 12, 1),  # between the two: on the line
    (80, 10, 2),  # beyond the last: appended
    (-20, 10, 0),  # before the first: prepended
    (50, 40, 2),  # below the last point: extends the line there
])
def test_a_new_landmark_goes_where_it_lengthens_the_line_least(x: float, y: float, index: int) -> None:
    assert keypoint_insert_index([(10, 10), (50, 10)], x, y) == index
    assert keypoint_insert_index([(10, 10)], x, y) == 1
    assert keypoint_insert_index([(0, 0), (10, 0), (10, 10), (0, 10)], 10.5, 5) == 2


def test_add_keypoint_keeps_the_point_on_the_image(doc: AnnotationSet) -> None:
    cmd, index = add_keypoint(doc, doc.get("crl"), 90, -5, (64, 48))
    assert index == 2
    cmd.redo(doc)
    last = doc.get("crl").points[-1]
    assert (last.x, last.y) == (64, 0)
