"""Annotation model: validation, provenance flips, serialisation, document notifications."""

from __future__ import annotations

import json

import pytest

from fada_desk.core.annotation_commands import with_vertex
from fada_desk.core.annotations import Annotation, Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.points import Keypoint
from fada_desk.core.review_doc import AnnotationSet, Change
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus
from fada_desk.core.interpretation import Interpretation

F = FrameRef(7, 2)


def _all_kinds() -> list[Annotation]:
    return [
        Box(frame=F, label="head", x0=30, y0=40, x1=10, y1=20, provenance=Provenance.AI, analysis_id="run1"),
        Polygon(frame=F, label="Brain", points=[(0, 0), (10, 0), (10, 10), (0, 10)]),
        Keypoints(
            frame=F, label="CRL_KP", points=[[1, 2, 2], [30.5, 40.25, 1]], provenance="ai", analysis_id="run1"
        ),
        Ellipse(frame=F, label="head", cx=50, cy=60, rx=20, ry=10, angle_deg=390, measure="HC"),
        Caliper(frame=F, label="BPD", p1=(1, 1), p2=(4, 5), measure="BPD", note="outer-inner"),
    ]


def test_defaults_follow_provenance() -> None:
    ai = Box(frame=F, x0=0, y0=0, x1=1, y1=1, provenance=Provenance.AI)
    manual = Box(frame=F, x0=0, y0=0, x1=1, y1=1)
    assert ai.status is ReviewStatus.PENDING
    assert manual.status is ReviewStatus.ACCEPTED and manual.provenance is Provenance.MANUAL
    assert ai.id != manual.id and len(ai.id) == 32


def test_box_is_normalised_and_ellipse_angle_wrapped() -> None:
    b, _, _, e, _ = _all_kinds()
    assert (b.x0, b.y0, b.x1, b.y1) == (10, 20, 30, 40)
    assert e.angle_deg == pytest.approx(30.0)


@pytest.mark.parametrize(
    "bad",
    [
        lambda: Box(frame=F, x0="a", y0=0, x1=1, y1=1),
        lambda: Box(frame=F, x0=float("nan"), y0=0, x1=1, y1=1),
        lambda: Polygon(frame=F, points=[(0, 0), (1, 1)]),
        lambda: Keypoints(frame=F, points=[[1, 2, 7]]),
        lambda: Keypoints(frame=F, points=[]),
        lambda: Ellipse(frame=F, cx=0, cy=0, rx=0, ry=1),
        lambda: Caliper(frame=F, p1=(1,), p2=(2, 2)),
        lambda: Caliper(frame=F, p1=(1, 1), p2=(2, 2), measure="XYZ"),
        lambda: Caliper(frame=F, p1=(1, 1), p2=(2, 2), provenance="robot"),
        lambda: Caliper(frame=F, p1=(1, 1), p2=(2, 2), provenance="ai-edited"),  # no AI original
        lambda: FrameRef(1, -1),
        lambda: FrameRef("1", 0),  # type: ignore[arg-type]
    ],
)
def test_invalid_input_is_a_clear_error(bad) -> None:
    with pytest.raises(AnnotationError):
        bad()


def test_round_trip_every_kind_through_json() -> None:
    for ann in _all_kinds():
        d = json.loads(json.dumps(ann.to_dict()))
        back = Annotation.from_dict(d)
        assert back == ann
        assert type(back) is type(ann)


def test_from_dict_rejects_garbage() -> None:
    with pytest.raises(AnnotationError, match="Unknown annotation kind"):
        Annotation.from_dict({"kind": "circle"})
    good = _all_kinds()[0].to_dict()
    with pytest.raises(AnnotationError, match="Malformed box"):
        Annotation.from_dict({**good, "geometry": {"x0": 1}})


def test_editing_ai_geometry_flips_provenance_and_keeps_original() -> None:
    box = _all_kinds()[0]
    moved = box.translated(5, -5)
    assert moved.provenance is Provenance.AI_EDITED
    assert moved.ai_original == {"label": "head", "geometry": {"x0": 10, "y0": 20, "x1": 30, "y1": 40}}
    assert (moved.x0, moved.y0) == (15, 15)
    # a second edit keeps the *first* original
    again = moved.translated(1, 1)
    assert again.ai_original == moved.ai_original
    # status changes are not content edits
    accepted = box.edited(status=ReviewStatus.ACCEPTED)
    assert accepted.provenance is Provenance.AI and accepted.ai_original is None
    # relabel is a content edit
    assert box.edited(label="abdomen").provenance is Provenance.AI_EDITED
    # a no-op "edit" is not an edit
    assert box.edited(x0=box.x0).provenance is Provenance.AI


def test_manual_annotation_edits_stay_manual() -> None:
    cal = _all_kinds()[4]
    moved = cal.translated(1, 1)
    assert moved.provenance is Provenance.MANUAL and moved.ai_original is None


def test_with_vertex_for_polygon_keypoints_caliper() -> None:
    _, poly, kps, ell, cal = _all_kinds()
    assert with_vertex(poly, 2, 11, 12).points[2] == (11, 12)
    moved = with_vertex(kps, 1, 3, 4)
    assert moved.points[1] == Keypoint(3, 4, 1, "") and moved.provenance is Provenance.AI_EDITED
    assert with_vertex(cal, 1, 9, 9).p2 == (9, 9)
    with pytest.raises(AnnotationError, match="does not exist"):
        with_vertex(poly, 4, 0, 0)
    with pytest.raises(AnnotationError, match="no individually editable"):
        with_vertex(ell, 0, 0, 0)


def test_ellipse_sample_lies_on_the_ellipse() -> None:
    e = Ellipse(frame=F, cx=100, cy=50, rx=40, ry=20, angle_deg=30)
    import math

    t = math.radians(30)
    for x, y in e.sample(24):
        u = (x - 100) * math.cos(t) + (y - 50) * math.sin(t)
        v = -(x - 100) * math.sin(t) + (y - 50) * math.cos(t)
        assert (u / 40) ** 2 + (v / 20) ** 2 == pytest.approx(1.0)


def test_annotation_set_notifies_and_keeps_order() -> None:
    doc = AnnotationSet()
    seen: list[Change] = []
    unsubscribe = doc.subscribe(seen.append)
    anns = _all_kinds()
    for a in anns:
        doc.insert(a)
    assert [c.kind for c in seen] == ["added"] * 5
    assert seen[0].frames == (F,)
    removed = doc.remove_many([anns[1].id, anns[3].id])
    assert [i for i, _ in removed] == [1, 3]
    assert [a.id for a in doc] == [anns[0].id, anns[2].id, anns[4].id]
    doc.insert_many([a for _, a in removed], [i for i, _ in removed])
    assert [a.id for a in doc] == [a.id for a in anns]
    doc.replace_many([anns[0].edited(label="abdomen")])
    assert seen[-1] == Change("updated", (anns[0].id,), (F,))
    unsubscribe()
    doc.insert(Box(frame=F, x0=0, y0=0, x1=1, y1=1))
    assert len(seen) == 8  # 5 added, removed, re-added, updated; nothing after unsubscribe
    with pytest.raises(AnnotationError, match="already exists"):
        doc.insert(anns[0])
    with pytest.raises(AnnotationError, match="No annotation"):
        doc.get("nope")
    with pytest.raises(AnnotationError, match="another frame"):
        doc.replace_many([Box(id=anns[0].id, frame=FrameRef(8), x0=0, y0=0, x1=1, y1=1)])


def test_annotation_set_queries_and_round_trip() -> None:
    anns = _all_kinds()
    other = Box(frame=FrameRef(9), x0=0, y0=0, x1=1, y1=1, provenance="ai")
    interp = Interpretation.from_fada(F, "run1", {"imaging_plane": "transthalamic"}, "BPD_PLANE", None)
    doc = AnnotationSet([*anns, other], [interp])
    assert doc.frames() == [F, FrameRef(9)]
    assert [a.id for a in doc.pending()] == [anns[0].id, anns[2].id, other.id]
    assert [a.id for a in doc.pending(FrameRef(9))] == [other.id]
    assert len(doc.for_frame(F, statuses=[ReviewStatus.ACCEPTED])) == 3
    back = AnnotationSet.from_dict(json.loads(json.dumps(doc.to_dict())))
    assert [a for a in back] == [a for a in doc]
    assert back.interpretation(F) == interp


def test_a_failing_observer_does_not_starve_others() -> None:
    doc = AnnotationSet()
    seen = []

    def broken(change: Change) -> None:
        raise RuntimeError("view crashed")

    doc.subscribe(broken)
    doc.subscribe(seen.append)
    with pytest.raises(RuntimeError, match="view crashed"):
        doc.insert(Box(frame=F, x0=0, y0=0, x1=1, y1=1))
    assert len(seen) == 1 and len(doc) == 1
