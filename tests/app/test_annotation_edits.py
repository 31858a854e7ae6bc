"""What the review editor's drags and drawings do to the document, without Qt."""

from __future__ import annotations

import pytest

from fada_desk.app.annotation_edits import (
    TOOL_HINTS,
    TOOL_KEYS,
    TOOL_TITLES,
    anchor,
    clamp_delta,
    clamp_point,
    drag_step,
    drawn_annotation,
)
from fada_desk.core.annotation_commands import EditEllipse, MoveAnnotation, MoveVertex, ResizeBox
from fada_desk.core.annotations import Box, Caliper, Ellipse, Polygon
from fada_desk.core.commands import UndoStack
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance

F = FrameRef(1)
SIZE = (100, 80)


def test_tools_have_a_key_a_title_and_a_hint() -> None:
    assert set(TOOL_KEYS) == set(TOOL_TITLES) == set(TOOL_HINTS) == {"box", "polygon", "ellipse", "caliper"}


def test_points_and_moves_stay_on_the_image() -> None:
    assert clamp_point(SIZE, -5, 90) == (0.0, 80.0) and clamp_point(None, -5, 90) == (-5, 90)
    box = Box(frame=F, x0=10, y0=10, x1=30, y1=20)
    assert clamp_delta(SIZE, box, -50, 100) == (-10, 60) and clamp_delta(None, box, -50, 1) == (-50, 1)
    assert anchor({"cx": 1, "cy": 2}) == (1.0, 2.0) and anchor({"points": [(3, 4, 2)]}) == (3.0, 4.0)


def test_drag_steps_make_gesture_commands() -> None:
    box = Box(id="b", frame=F, x0=10, y0=10, x1=30, y1=20)
    cal = Caliper(id="c", frame=F, p1=(5, 5), p2=(50, 5))
    ell = Ellipse(id="e", frame=F, cx=50, cy=40, rx=10, ry=5)
    doc = AnnotationSet([box, cal, ell])
    stack = UndoStack(doc)
    g = object()

    move = drag_step(doc, box, {"x0": -5, "y0": 5, "x1": 15, "y1": 15}, True, None, SIZE, g).command()
    assert isinstance(move, MoveAnnotation)
    stack.push(move)  # kept on the image: moved by (-10, -5), not (-15, -5)
    assert (doc.get("b").x0, doc.get("b").y0, doc.get("b").x1) == (0.0, 5.0, 20.0)
    box = doc.get("b")
    held = drag_step(doc, Box(frame=F, x0=0, y0=0, x1=10, y1=10), {"x0": -4, "y0": 0, "x1": 6, "y1": 10},
                     True, None, SIZE, g)
    assert held.held and held.command is None

    resize = drag_step(doc, box, {"x0": 10, "y0": 10, "x1": 140, "y1": 20}, False, 1, SIZE, g).command()
    assert isinstance(resize, ResizeBox)
    stack.push(resize)
    assert doc.get("b").x1 == 100.0

    assert isinstance(drag_step(doc, ell, dict(ell.geometry(), rx=12), False, None,
                                SIZE, g).command(), EditEllipse)

    end = drag_step(doc, cal, {"p1": (5, 5), "p2": (60, 7)}, False, None, SIZE, g)
    assert end.vertex == 1 and isinstance(end.command(), MoveVertex)
    both = drag_step(doc, cal, {"p1": (6, 5), "p2": (60, 7)}, False, None, SIZE, g)
    assert both.command is None and not both.held  # two points changed and no handle: not a vertex drag


def test_drawn_annotations_are_manual_and_tagged() -> None:
    box = drawn_annotation("box", {"x0": 1, "y0": 2, "x1": 30, "y1": 40}, F, "head", None)
    assert isinstance(box, Box) and box.provenance is Provenance.MANUAL and box.label == "head"
    cal = drawn_annotation("caliper", {"p1": [1, 2], "p2": [30, 2]}, F, "BPD", "BPD")
    assert isinstance(cal, Caliper) and cal.measure == "BPD" and cal.p1 == (1, 2)
    ell = drawn_annotation("ellipse", {"cx": 10, "cy": 10, "rx": 5, "ry": 3}, F, "HC", "HC")
    assert isinstance(ell, Ellipse)
    poly = drawn_annotation("polygon", {"points": [[0, 0], [10, 0], [10, 10]]}, F, "", None)
    assert isinstance(poly, Polygon) and len(poly.points) == 3
    with pytest.raises(AnnotationError):
        drawn_annotation("polygon", {"points": [[0, 0], [10, 0]]}, F, "", None)
