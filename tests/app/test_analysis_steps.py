"""Human-in-the-loop step choices without Qt: defaults from the mapping, validation, texts."""

from __future__ import annotations

import pytest

from fada_desk.app.analysis_steps import (
    KEYPOINT_CHOICES,
    STEP_CLASSES,
    choose_steps,
    mapping_text,
    step_defaults,
    stored_mapping_text,
)
from fada_desk.core import vocabulary as V
from fada_desk.core.errors import FadaError
from fada_desk.inference.fada.mapper import CRL_KEYPOINT_CLASSES, NT_KEYPOINT_CLASSES, ClassMapping


def test_step_classes_are_every_structure_but_the_keypoint_classes() -> None:
    assert set(STEP_CLASSES) == set(V.ALL_CLASSES_SORTED) - set(V.KEYPOINT_CLASSES)
    assert [c for _, c in KEYPOINT_CHOICES] == [CRL_KEYPOINT_CLASSES, NT_KEYPOINT_CLASSES]


def test_defaults_tick_the_mapped_classes_first() -> None:
    d = step_defaults(ClassMapping("Brain, CSP, LV", "Brain", "cls_specific_BPD_PLANE", 2))
    assert d.detect == {"Brain", "CSP", "LV"} and d.segment == {"Brain"}
    assert set(d.classes[:3]) == {"Brain", "CSP", "LV"} and sorted(d.classes) == sorted(STEP_CLASSES)
    assert not d.keypoints and d.keypoint_choice == 0
    none = step_defaults(None)
    assert not none.detect and not none.segment and not none.keypoints
    assert list(none.classes) == sorted(STEP_CLASSES, key=str.lower)


def test_crl_and_nt_views_offer_their_keypoint_classes() -> None:
    crl = step_defaults(ClassMapping("CRL, Gestational Sac", None, "t", 1))
    nt = step_defaults(ClassMapping("NT, Nasal Bone", None, "t", 1))
    assert crl.keypoints and KEYPOINT_CHOICES[crl.keypoint_choice][1] == CRL_KEYPOINT_CLASSES
    assert nt.keypoints and KEYPOINT_CHOICES[nt.keypoint_choice][1] == NT_KEYPOINT_CLASSES


def test_choose_steps_in_run_order_with_clear_errors() -> None:
    assert choose_steps(["Brain", "CSP"], ["Brain"], CRL_KEYPOINT_CLASSES) == [
        ("detect", "Brain, CSP"), ("segment", "Brain"), ("keypoints", CRL_KEYPOINT_CLASSES)]
    assert choose_steps(segment=["LV"]) == [("segment", "LV")]
    with pytest.raises(FadaError, match="Tick at least one structure to detect \\(column 'Detect'\\)"):
        choose_steps(detect=[])
    with pytest.raises(FadaError, match="Tick a step to run"):
        choose_steps()


def test_mapping_texts() -> None:
    m = ClassMapping("Brain", None, "priority_2_plane", 2)
    assert mapping_text(m) == (
        "Mapped classes: detect Brain (whole structure); segment – (tier priority_2_plane, priority 2)")
    assert stored_mapping_text({"det_classes": "B, CRL, H", "seg_classes": ""}, None) == (
        "Mapped classes: detect Body (B), Crown-Rump Length (CRL), Head (H); segment – (tier –)")
