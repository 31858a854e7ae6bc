"""Interpretation model: the 8 upstream fields, AI original kept, per-field review."""

from __future__ import annotations

import json

import pytest

from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus
from fada_desk.core.interpretation import (
    FIELD_TITLES,
    INTERPRETATION_FIELDS,
    Interpretation,
    display_text,
)

F = FrameRef(3, 0)

FADA_OUTPUT = {
    "anatomical_structures": ["skull", "thalami", "cavum septi pellucidi"],
    "fetal_orientation": "cephalic",
    "imaging_plane": "transthalamic",
    "biometric_measurements": {"BPD": "measurable", "HC": "measurable"},
    "gestational_age": "approximately 22 weeks",
    "image_quality": "good",
    "normality_assessment": "normal",
    "clinical_recommendations": "routine follow-up",
    "extra_key": "kept",
    "_parse_success": True,
    "_raw_text": "{...}",
}


def test_field_names_match_the_upstream_prompt() -> None:
    """The names are fixed by FADA's INTERPRET_PROMPT (webapp/constants.py)."""
    assert INTERPRETATION_FIELDS == (
        "anatomical_structures",
        "fetal_orientation",
        "imaging_plane",
        "biometric_measurements",
        "gestational_age",
        "image_quality",
        "normality_assessment",
        "clinical_recommendations",
    )
    from fada_desk.inference.fada import constants

    assert INTERPRETATION_FIELDS == constants.INTERPRETATION_KEYS
    for key in INTERPRETATION_FIELDS:
        assert key in constants.INTERPRET_PROMPT
    assert FIELD_TITLES == {k: t for t, k in constants.INTERPRETATION_FIELDS}


def test_from_fada_keeps_everything() -> None:
    it = Interpretation.from_fada(
        F,
        "run-9",
        FADA_OUTPUT,
        "BPD_PLANE",
        {"det_classes": "Brain, CSP, LV", "seg_classes": "Brain", "tier": "p1"},
    )
    assert it.parse_success and it.raw_text == "{...}" and it.mapping_tier == "p1"
    assert it.extra == {"extra_key": "kept"}
    for name in INTERPRETATION_FIELDS:
        v = it.get(name)
        assert v.ai == FADA_OUTPUT[name] and v.value == v.ai
        assert v.status is ReviewStatus.PENDING and v.provenance is Provenance.AI
    assert it.classification.value == "BPD_PLANE"
    assert it.to_fada()["mapping"] == {"det_classes": "Brain, CSP, LV", "seg_classes": "Brain", "tier": "p1"}


def test_unknown_classification_is_no_classification() -> None:
    it = Interpretation.from_fada(F, "r", {}, "Unknown", None)
    assert it.classification.value is None
    assert not it.parse_success


def test_edit_accept_reject_per_field() -> None:
    it = Interpretation.from_fada(F, "r", FADA_OUTPUT, "BPD_PLANE", None)
    it2 = it.with_value("gestational_age", "22w 3d").with_status("image_quality", "rejected")
    ga = it2.get("gestational_age")
    assert ga.ai == "approximately 22 weeks" and ga.value == "22w 3d"
    assert ga.provenance is Provenance.AI_EDITED and ga.status is ReviewStatus.ACCEPTED
    assert it2.get("image_quality").status is ReviewStatus.REJECTED
    assert it.get("gestational_age").value == "approximately 22 weeks"  # immutable
    accepted = it2.with_all_accepted()
    assert accepted.get("image_quality").status is ReviewStatus.REJECTED
    fields = accepted.accepted_fields()
    assert "image_quality" not in fields and fields["gestational_age"] == "22w 3d"
    assert list(fields) == [k for k in INTERPRETATION_FIELDS if k != "image_quality"]


def test_mapped_classes_accept_lists_and_text() -> None:
    it = Interpretation.from_fada(F, "r", FADA_OUTPUT, "BPD_PLANE", None)
    it = it.with_value("det_classes", ["Brain", " CSP ", ""]).with_value("seg_classes", "Brain,")
    assert it.get("det_classes").value == "Brain, CSP"
    assert it.get("seg_classes").value == "Brain"
    with pytest.raises(AnnotationError):
        it.with_value("det_classes", 5)
    with pytest.raises(AnnotationError):
        it.with_value("classification", ["x"])
    with pytest.raises(AnnotationError, match="Unknown interpretation field"):
        it.with_status("nope", "accepted")
    with pytest.raises(AnnotationError):
        it.with_value("imaging_plane", {1, 2})  # not JSON


def test_round_trip() -> None:
    it = Interpretation.from_fada(F, "r", FADA_OUTPUT, "BPD_PLANE", {"det_classes": "Brain", "tier": "t"})
    it = it.with_value("fetal_orientation", "breech")
    back = Interpretation.from_dict(json.loads(json.dumps(it.to_dict())))
    assert back == it
    manual = Interpretation.manual(F)
    assert Interpretation.from_dict(json.loads(json.dumps(manual.to_dict()))) == manual
    with pytest.raises(AnnotationError, match="Malformed"):
        Interpretation.from_dict({"frame": {"item_id": 1}})


def test_display_text() -> None:
    assert display_text(["a", "b"]) == "a; b"
    assert display_text({"BPD": "ok", "HC": None}) == "BPD: ok"
    assert display_text(None) == "" and display_text(3) == "3"
