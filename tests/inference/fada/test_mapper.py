"""The 5-priority class cascade, one hand-computed case per decision."""

from __future__ import annotations

import pytest

from fada_desk.inference.fada.intents import Intent, extract_classes, parse_intent
from fada_desk.inference.fada.mapper import keyword_lookup, map_interpretation_to_classes, score_classes

BRAIN = ("Brain, CSP, LV", "Brain")
DOPPLER = ("artery, liver, stomach, vein", "artery, liver, stomach, vein")
NT = ("NT, nasal_bone, nasal_skin, nasal_tip", "NT")


def _m(interp: dict, label: str | None = None) -> tuple[str, str | None, str]:
    m = map_interpretation_to_classes(interp, label)
    return m.det_classes, m.seg_classes, m.tier


# ---- P1: specific classification label wins over everything --------------------------


def test_p1_specific_label_beats_interpretation() -> None:
    four_chamber = {"imaging_plane": "Four chamber view"}
    assert _m(four_chamber, "BPD_PLANE") == (*BRAIN, "cls_specific_BPD_PLANE")
    assert _m({}, "FL") == ("legs", None, "cls_specific_FL")
    assert _m({}, "liver") == (DOPPLER[0], None, "cls_specific_liver")  # no segmentation entry for "liver"
    assert map_interpretation_to_classes({}, "Aorta").priority == 1


# ---- P2: the plane text, first table key that occurs -----------------------------------


def test_p2_plane_and_orientation() -> None:
    assert _m({"imaging_plane": "Four chamber view"}) == (
        "cardiac, thorax",
        "cardiac, thorax",
        "plane_four chamber",
    )
    # orientation counts too; "crown rump" (space) is its own key after "crown-rump"
    assert _m({"fetal_orientation": "fetus in crown rump position"}) == (
        "B, CRL, H, NB",
        None,
        "plane_crown rump",
    )
    # both "biparietal" (6th key) and "aortic" (12th) occur: table order decides
    assert _m({"imaging_plane": "aortic arch seen in a biparietal section"})[2] == "plane_biparietal"
    # a list value is flattened
    assert _m({"imaging_plane": ["Trans-thalamic", "axial"]}) == (*BRAIN, "plane_trans-thalamic")
    # a specific label still wins; a generic one does not
    assert _m({"imaging_plane": "Four chamber view"}, "head")[2] == "plane_four chamber"


def test_p2_ignores_plane_words_in_other_fields() -> None:
    # "four chamber" in the biometry is scoring (P3), not a plane match
    det, seg, tier = _m({"biometric_measurements": "four chamber"})
    assert tier == "interp_cardiac" and det == "cardiac, thorax"


# ---- P3: keyword scoring ----------------------------------------------------------------


def test_p3_single_keyword() -> None:
    # stomach: anatomical weight 1.0 -> doppler 1.0
    assert _m({"anatomical_structures": "stomach"}) == (*DOPPLER, "interp_doppler")
    scores = score_classes({"anatomical_structures": "stomach", "biometric_measurements": "stomach"})
    assert scores["stomach"] == 4.0


def test_p3_group_alias_anywhere_adds_two() -> None:
    # no class keyword at all; the alias "doppler" adds 2.0 to the doppler group
    assert _m({"clinical_recommendations": "doppler follow-up"}) == (*DOPPLER, "interp_doppler")
    # image_quality has weight 0 for class scores but still feeds the alias text
    assert _m({"image_quality": "down syndrome risk"}) == (*NT, "interp_nt_nasal")


def test_p3_compatible_runner_up_is_merged_and_truncated_to_five() -> None:
    # NT: bio 3.0 ("nuchal fold"); Brain: anatomical 1.0 -> 1.0 >= 0.3 * 3.0 and brain is compatible
    det, seg, tier = _m({"anatomical_structures": "brain", "biometric_measurements": "nuchal fold"})
    assert tier == "interp_nt_nasal+brain"
    assert det == "NT, nasal_bone, nasal_skin, nasal_tip, Brain"  # 7 classes cut to 5
    assert seg == "NT, Brain"


def test_p3_runner_up_not_merged_below_30_percent_or_incompatible() -> None:
    # Brain only 0.3 (recommendations) < 0.9
    assert _m({"biometric_measurements": "nuchal fold", "clinical_recommendations": "brain"}) == (
        *NT,
        "interp_nt_nasal",
    )
    # body_full 1.0 >= 0.9 but cardiac has no compatible groups
    assert _m({"biometric_measurements": "heart", "anatomical_structures": "abdomen"})[2] == "interp_cardiac"


def test_p3_ties_keep_table_order() -> None:
    # doppler 1.0 and body_full 1.0: doppler comes first in the table
    assert _m({"anatomical_structures": "stomach arm"})[2] == "interp_doppler"


def test_p3_negative_measurement_dampens_biometry() -> None:
    # measurable: Brain 3.0 (cerebellum) beats doppler 1.5 (stomach 1.0 + liver 0.5)
    plain = {
        "biometric_measurements": "cerebellum measurable",
        "anatomical_structures": "stomach",
        "fetal_orientation": "liver",
    }
    assert _m(plain) == (*BRAIN, "interp_brain")
    # "not measurable": biometry weight 0.3 -> Brain 0.3 < doppler 1.5
    damp = dict(plain, biometric_measurements="cerebellum not measurable")
    m = map_interpretation_to_classes(damp)
    assert (m.det_classes, m.seg_classes, m.tier) == (*DOPPLER, "interp_doppler")
    assert m.dampened and not map_interpretation_to_classes(plain).dampened


def test_p3_organ_words_promote_doppler_over_body_full() -> None:
    # abdomen: bio 3.0 + plane 2.5 = 5.5 -> body_full 5.5; liver: anatomical 1.0 -> doppler 1.0
    interp = {
        "biometric_measurements": "abdomen",
        "imaging_plane": "abdomen",
        "anatomical_structures": "liver",
    }
    m = map_interpretation_to_classes(interp)
    assert m.disambiguated and m.tier == "interp_doppler"
    assert m.group_scores[0] == ("doppler", 1.0)


def test_p3_upstream_quirk_swap_to_zero_score_falls_through() -> None:
    # body_full 1.0; "liver" only in image_quality (weight 0) -> doppler 0.0 is swapped to the top,
    # the top score is then 0 and the cascade falls through to P4/P5 exactly as upstream does
    interp = {"anatomical_structures": "abdomen", "image_quality": "liver shadowing"}
    assert _m(interp) == ("abdomen, arm, head, legs", None, "fallback_no_match")
    assert _m(interp, "head") == ("head", None, "cls_generic_head")


# ---- P4 / P5 ------------------------------------------------------------------------------


def test_p4_generic_label_then_keyword_lookup() -> None:
    assert _m({}, "head") == ("head", None, "cls_generic_head")
    assert _m({}, "NO_PLANE") == ("abdomen, arm, head, legs", None, "cls_generic_NO_PLANE")
    assert _m({}, "Fetal femur (longitudinal)") == ("legs", None, "cls_keyword_femur")
    assert _m({}, "Fetal brain") == (*BRAIN, "cls_keyword_brain")
    assert keyword_lookup("Cervix view") == (
        "fetal_head, pubic_symphysis",
        "fetal_head, pubic_symphysis",
        "cervix",
    )


def test_p5_default() -> None:
    assert _m({}) == ("abdomen, arm, head, legs", None, "fallback_no_match")
    # "thalamic" does not contain the keyword "thalm": nothing matches
    assert _m({}, "Trans-thalamic") == ("abdomen, arm, head, legs", None, "fallback_no_match")
    assert _m({"imaging_plane": None}) == ("abdomen, arm, head, legs", None, "fallback_no_match")
    assert map_interpretation_to_classes({}).priority == 5


def test_mapping_round_trips() -> None:
    from fada_desk.inference.fada.mapper import ClassMapping

    m = map_interpretation_to_classes(
        {"anatomical_structures": "brain", "biometric_measurements": "nuchal fold"}
    )
    assert ClassMapping.from_dict(m.to_dict()).to_dict() == m.to_dict()


# ---- chat intents -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text,has_image,has_interp,expected",
    [
        ("", True, False, Intent("interpret")),
        ("hello", False, False, Intent("greeting")),
        ("hello", True, False, Intent("interpret")),
        ("thanks", True, True, Intent("greeting")),
        ("segment the brain", True, False, Intent("segment", "Brain, CSP, LV", "Brain")),
        ("detect NT keypoints", True, True, Intent("detect", "NTKpoints, ScaleBarKpoints")),
        ("find the heart", True, True, Intent("detect", "cardiac, thorax")),
        ("what view is this?", True, True, Intent("classify")),
        ("describe the image", True, True, Intent("interpret")),
        ("femur", True, True, Intent("detect", "legs")),
        ("segment nt", True, True, Intent("segment", "NT, nasal_bone, nasal_skin, nasal_tip", "NT")),
        ("detect everything", True, True, Intent("detect", "abdomen, arm, head, legs")),
        ("detect the fetal head", True, True, Intent("detect", "fetal_head, pubic_symphysis")),
        ("xyz", True, True, Intent("general")),
        ("xyz", True, False, Intent("interpret")),
    ],
)
def test_intents(text: str, has_image: bool, has_interp: bool, expected: Intent) -> None:
    assert parse_intent(text, has_image, has_interp) == expected


def test_extract_classes_order_matters() -> None:
    # "crl keypoints": the keypoint entry comes before "crl"
    assert extract_classes("crl keypoints") == ("CRL_KP, ScaleBarKpoints", None)
    assert extract_classes("crl") == ("B, CRL, H, NB", None)
    assert extract_classes("nothing here") == (None, None)
