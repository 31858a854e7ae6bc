"""Undoable commands: undo/redo exactness, drag merging, macros, clean state, provenance."""

from __future__ import annotations

import pytest

from fada_desk.core.annotations import Box, Caliper, Ellipse, Polygon
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus
from fada_desk.core.annotation_commands import (
    AddAnnotation,
    DeleteAnnotations,
    DeleteVertex,
    EditEllipse,
    InsertVertex,
    MoveAnnotation,
    MoveVertex,
    Relabel,
    ResizeBox,
    SetMeasure,
    SetStatus,
)
from fada_desk.core.commands import StackEvent, UndoStack
from fada_desk.core.interpretation_commands import (
    AcceptAll,
    EditInterpretationField,
    SetClassification,
    SetFieldStatus,
    SetMappedClasses,
)
from fada_desk.core.interpretation import Interpretation

F = FrameRef(1, 0)


@pytest.fixture()
def doc() -> AnnotationSet:
    box = Box(id="box", frame=F, label="head", x0=10, y0=10, x1=50, y1=40, provenance="ai", analysis_id="a1")
    poly = Polygon(
        id="poly",
        frame=F,
        label="Brain",
        points=[(0, 0), (20, 0), (20, 20), (0, 20)],
        provenance="ai",
        analysis_id="a1",
    )
    cal = Caliper(id="cal", frame=F, label="BPD", p1=(0, 0), p2=(10, 0), measure="BPD")
    interp = Interpretation.from_fada(
        F,
        "a1",
        {"imaging_plane": "transthalamic", "image_quality": "good"},
        "BPD_PLANE",
        {"det_classes": "Brain, CSP, LV", "seg_classes": "Brain", "tier": "priority_1"},
    )
    return AnnotationSet([box, poly, cal], [interp])


def snapshot(doc: AnnotationSet) -> dict:
    return doc.to_dict()


def test_every_command_undoes_and_redoes_exactly(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    states = [snapshot(doc)]
    cmds = [
        lambda: AddAnnotation(doc, Ellipse(id="ell", frame=F, cx=5, cy=5, rx=3, ry=2, measure="HC")),
        lambda: MoveAnnotation(doc, "box", 3, 4),
        lambda: ResizeBox(doc, "box", 0, 0, 100, 80),
        lambda: MoveVertex(doc, "poly", 1, 25, -1),
        lambda: InsertVertex(doc, "poly", 2, 30, 10),
        lambda: DeleteVertex(doc, "poly", 0),
        lambda: Relabel(doc, "poly", "CSP"),
        lambda: AcceptAll(doc, F),
        lambda: SetStatus(doc, ["box", "poly"], "rejected"),
        lambda: EditEllipse(doc, "ell", rx=4.5, angle_deg=15),
        lambda: SetMeasure(doc, "cal", "OFD"),
        lambda: EditInterpretationField(doc, F, "imaging_plane", "transventricular"),
        lambda: SetFieldStatus(doc, F, "image_quality", "rejected"),
        lambda: SetClassification(doc, F, "FL_PLANE"),
        lambda: SetMappedClasses(doc, F, ["legs"], None),
        lambda: DeleteAnnotations(doc, ["cal", "box"]),
    ]
    for make in cmds:
        stack.push(make())
        states.append(snapshot(doc))
    assert len(stack) == len(cmds)
    for i in range(len(cmds), 0, -1):
        stack.undo()
        assert snapshot(doc) == states[i - 1], stack.command(i - 1).text
    assert not stack.can_undo and stack.undo() is None
    for i in range(1, len(cmds) + 1):
        stack.redo()
        assert snapshot(doc) == states[i]
    assert not stack.can_redo


def test_geometry_edits_flip_ai_to_ai_edited_and_undo_restores(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(MoveVertex(doc, "poly", 0, 1, 1))
    poly = doc.get("poly")
    assert poly.provenance is Provenance.AI_EDITED
    assert poly.ai_original["geometry"]["points"][0] == [0.0, 0.0]
    stack.push(SetStatus(doc, ["box"], "accepted"))
    assert doc.get("box").provenance is Provenance.AI  # accepting is not editing
    stack.undo()
    stack.undo()
    assert doc.get("poly").provenance is Provenance.AI and doc.get("poly").ai_original is None


def test_a_drag_is_one_undo_step(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    events: list[StackEvent] = []
    stack.subscribe(events.append)
    drag = object()
    for k in range(1, 31):
        stack.push(MoveVertex(doc, "poly", 2, 20 + k, 20 + k, gesture=drag))
    assert len(stack) == 1
    assert doc.get("poly").points[2] == (50, 50)
    assert [e.kind for e in events] == ["push"] + ["merge"] * 29
    # a new gesture starts a new step, a different vertex too
    stack.push(MoveVertex(doc, "poly", 2, 60, 60, gesture=object()))
    stack.push(MoveVertex(doc, "poly", 1, 5, 5, gesture=drag))
    assert len(stack) == 3
    stack.undo()
    stack.undo()
    stack.undo()
    assert doc.get("poly").points[2] == (20, 20)
    assert stack.index == 0


def test_moves_without_gesture_do_not_merge(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(MoveAnnotation(doc, "box", 1, 0))
    stack.push(MoveAnnotation(doc, "box", 1, 0))
    assert len(stack) == 2


def test_dragging_back_to_start_leaves_nothing_to_undo(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    g = object()
    stack.push(MoveAnnotation(doc, "box", 5, 5, gesture=g))
    stack.push(MoveAnnotation(doc, "box", -5, -5, gesture=g))
    assert len(stack) == 0 and not stack.can_undo
    assert doc.get("box").x0 == 10
    # the flip to ai-edited of the intermediate step is gone too
    assert doc.get("box").provenance is Provenance.AI


def test_merging_never_crosses_the_clean_state(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    g = object()
    stack.push(MoveAnnotation(doc, "box", 1, 0, gesture=g))
    stack.set_clean()
    assert stack.is_clean
    stack.push(MoveAnnotation(doc, "box", 1, 0, gesture=g))
    assert len(stack) == 2 and not stack.is_clean
    stack.undo()
    assert stack.is_clean
    # pushing after undo discards the redo tail
    stack.push(Relabel(doc, "box", "abdomen"))
    assert len(stack) == 2 and not stack.can_redo
    stack.undo()
    assert stack.is_clean


def test_clean_state_lost_when_its_branch_is_discarded(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(Relabel(doc, "box", "a"))
    stack.set_clean()
    stack.undo()
    stack.push(Relabel(doc, "box", "b"))
    assert not stack.is_clean
    stack.undo()
    assert not stack.is_clean  # the saved state ("a") is unreachable now


def test_typing_in_a_field_merges_per_gesture(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    g = object()
    for text in ("t", "tr", "tra", "trans-cerebellar"):
        stack.push(EditInterpretationField(doc, F, "imaging_plane", text, gesture=g))
    assert len(stack) == 1
    it = doc.interpretation(F)
    assert it.get("imaging_plane").value == "trans-cerebellar"
    assert it.get("imaging_plane").ai == "transthalamic"
    assert it.get("imaging_plane").provenance is Provenance.AI_EDITED
    assert it.get("imaging_plane").status is ReviewStatus.ACCEPTED
    stack.undo()
    assert doc.interpretation(F).get("imaging_plane").value == "transthalamic"


def test_macro_is_one_step_and_rolls_back_on_error(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    before = snapshot(doc)
    with stack.macro("Replace head by ellipse"):
        stack.push(DeleteAnnotations(doc, ["box"]))
        stack.push(AddAnnotation(doc, Ellipse(id="e", frame=F, cx=30, cy=25, rx=20, ry=15, measure="HC")))
    assert len(stack) == 1 and stack.undo_text == "Replace head by ellipse"
    stack.undo()
    assert snapshot(doc) == before
    stack.redo()
    assert "e" in doc and "box" not in doc

    after = snapshot(doc)
    with pytest.raises(AnnotationError):
        with stack.macro("broken"):
            stack.push(Relabel(doc, "poly", "CSP"))
            stack.push(DeleteVertex(doc, "poly", 99))  # invalid -> raises in the constructor
    assert snapshot(doc) == after and len(stack) == 1
    assert not stack.in_macro


def test_drag_inside_macro_merges(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    g = object()
    stack.begin_macro("fit")
    for k in range(5):
        stack.push(MoveVertex(doc, "poly", 0, k, k, gesture=g))
    assert not stack.can_undo  # nothing can be undone while a macro is open
    stack.end_macro()
    assert len(stack) == 1 and len(stack.command(0).children) == 1


def test_invalid_edits_never_reach_the_stack(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    before = snapshot(doc)
    bad = [
        lambda: MoveAnnotation(doc, "missing", 1, 1),
        lambda: ResizeBox(doc, "poly", 0, 0, 1, 1),
        lambda: DeleteVertex(doc, "box", 0),
        lambda: InsertVertex(doc, "poly", 9, 0, 0),
        lambda: Relabel(doc, "box", "   "),
        lambda: SetMeasure(doc, "cal", "XX"),
        lambda: SetStatus(doc, ["box"], "maybe"),
        lambda: AddAnnotation(doc, doc.get("box")),
        lambda: DeleteAnnotations(doc, []),
        lambda: SetFieldStatus(doc, FrameRef(99), "image_quality", "accepted"),
        lambda: EditInterpretationField(doc, F, "no_such_field", "x"),
        lambda: EditEllipse(doc, "box", rx=3),
        lambda: SetClassification(doc, F, " "),
    ]
    for make in bad:
        with pytest.raises((AnnotationError, ValueError)):
            stack.push(make())
    # deleting the last vertex of a triangle is refused
    stack.push(DeleteVertex(doc, "poly", 0))
    with pytest.raises(AnnotationError, match="at least 3"):
        DeleteVertex(doc, "poly", 0)
    stack.undo()
    assert snapshot(doc) == before and len(stack) == 1


def test_accept_all_accepts_pending_annotations_and_fields(doc: AnnotationSet) -> None:
    stack = UndoStack(doc)
    stack.push(SetFieldStatus(doc, F, "image_quality", "rejected"))
    stack.push(AcceptAll(doc, F))
    assert all(a.status is ReviewStatus.ACCEPTED for a in doc)
    it = doc.interpretation(F)
    assert it.get("imaging_plane").status is ReviewStatus.ACCEPTED
    assert it.get("image_quality").status is ReviewStatus.REJECTED  # an explicit reject is kept
    assert it.get("fetal_orientation").status is ReviewStatus.PENDING  # empty fields are not "accepted"
    assert it.classification.status is ReviewStatus.ACCEPTED
    stack.undo()
    assert doc.get("box").status is ReviewStatus.PENDING
    with pytest.raises(AnnotationError, match="Nothing is pending"):
        AcceptAll(AnnotationSet())


def test_edit_field_on_frame_without_interpretation_creates_manual_one() -> None:
    doc = AnnotationSet()
    stack = UndoStack(doc)
    stack.push(EditInterpretationField(doc, F, "normality_assessment", "normal"))
    v = doc.interpretation(F).get("normality_assessment")
    assert v.provenance is Provenance.MANUAL and v.status is ReviewStatus.ACCEPTED
    stack.undo()
    assert doc.interpretation(F) is None


def test_audit_records_describe_before_and_after(doc: AnnotationSet) -> None:
    cmd = MoveAnnotation(doc, "box", 2, 0)
    (rec,) = cmd.audit()
    assert rec.action == "annotation.move" and rec.target == "box"
    assert rec.before["geometry"]["x0"] == 10 and rec.after["geometry"]["x0"] == 12
    assert rec.after["provenance"] == "ai-edited"
    acc = AcceptAll(doc, F)
    actions = [a.action for a in acc.audit()]
    assert actions.count("annotation.status") == 2 and "interpretation.accept_all" in actions
    field = EditInterpretationField(doc, F, "imaging_plane", "x").audit()[0]
    assert field.target == "1:0/imaging_plane" and field.before["value"] == "transthalamic"


def test_stack_limit_drops_oldest(doc: AnnotationSet) -> None:
    stack = UndoStack(doc, limit=3)
    for k in range(5):
        stack.push(Relabel(doc, "box", f"l{k}"))
    assert len(stack) == 3 and stack.index == 3
    while stack.can_undo:
        stack.undo()
    assert doc.get("box").label == "l1"
