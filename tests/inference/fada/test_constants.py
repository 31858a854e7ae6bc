"""The prompts and tables must be upstream FADA's, character for character.

The expected strings below were pasted independently from github.com/mahmoodphd/FADA
(webapp/constants.py, webapp/inference.py) as the single strings Python builds
from the upstream source; an edited prompt, a reordered table or a "fixed"
typo fails here.
"""

from __future__ import annotations

import hashlib
import json

from fada_desk.inference.fada import constants as C

UPSTREAM_INTERPRET = (
    "Provide a comprehensive clinical interpretation of this fetal ultrasound image. Identify all visible "
    "anatomical structures, describe the fetal orientation and imaging plane, note any measurable biometric "
    "parameters, estimate the gestational age, assess image quality, evaluate normality, and provide clinical "
    "recommendations. Return your answer as a JSON object with keys: anatomical_structures, fetal_orientation, "
    "imaging_plane, biometric_measurements, gestational_age, image_quality, normality_assessment, "
    "clinical_recommendations."
)
UPSTREAM_CLASSIFY = (
    "Classify this fetal ultrasound image. What anatomical view or structure does it show? "
    'Return a JSON object with "label" as the classification.'
)
UPSTREAM_DETECT_BRAIN = (
    "Detect all instances of the following anatomical structures in this fetal ultrasound image: Brain, CSP, LV. "
    'For each detection, return a JSON object with "bbox_2d" as [x_min, y_min, x_max, y_max] in normalized '
    '0-1000 coordinates and "label" as the structure name.'
)
UPSTREAM_SEGMENT_BRAIN = (
    "Detect and segment all instances of the following anatomical structures in this fetal ultrasound image: "
    'Brain. For each instance, return a JSON object with "bbox_2d" as [x_min, y_min, x_max, y_max] in '
    'normalized 0-1000 coordinates, "label" as the structure name, and "mask" as a list of [x, y] polygon '
    "vertices in normalized 0-1000 coordinates."
)
UPSTREAM_KEYPOINT_CRL = (
    "Detect measurement keypoints for the following structures in this fetal ultrasound image: CRL_KP, "
    'ScaleBarKpoints. For each structure, return a JSON object with "bbox_2d" as [x_min, y_min, x_max, y_max] '
    'in normalized 0-1000 coordinates, "label" as the structure name, and "keypoints" as a list of '
    "[x, y, visibility] triplets with x, y in normalized 0-1000 coordinates."
)


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode("utf-8")).hexdigest()


def test_prompts_are_upstream_verbatim() -> None:
    assert C.INTERPRET_PROMPT == UPSTREAM_INTERPRET
    assert C.CLASSIFY_PROMPT == UPSTREAM_CLASSIFY
    assert C.build_detect_prompt("Brain, CSP, LV") == UPSTREAM_DETECT_BRAIN
    assert C.build_segment_prompt("Brain") == UPSTREAM_SEGMENT_BRAIN
    assert C.build_keypoint_prompt("CRL_KP, ScaleBarKpoints") == UPSTREAM_KEYPOINT_CRL


def test_prompt_details_that_are_easy_to_break() -> None:
    # single spaces between sentences, ASCII quotes, no trailing whitespace
    for p in (C.INTERPRET_PROMPT, C.CLASSIFY_PROMPT, C.build_detect_prompt("x")):
        assert "  " not in p and p == p.strip() and "\u201c" not in p and "\n" not in p
    assert C.INTERPRET_PROMPT.count(", ") == 13


def test_decoding_settings() -> None:
    assert (C.TEMPERATURE, C.TOP_P, C.MAX_NEW_TOKENS, C.CLASSIFY_MAX_NEW_TOKENS) == (0.1, 0.95, 1024, 256)
    assert C.STOP_STRINGS == ("\nassistant\n", "\nassistant")
    assert C.MAX_IMAGE_SIDE == 1024 and C.COORD_SCALE == 1000
    assert C.DEFAULT_DETECT_CLASSES == "abdomen, arm, head, legs"


def test_tables_spot_checks() -> None:
    assert len(C.CLASSIFY_TO_DETECT) == 20
    assert list(C.CLASSIFY_TO_DETECT)[:4] == ["huvf", "huvb", "hdvf", "hdvb"]
    assert C.CLASSIFY_TO_DETECT["Flows"] == "artery, liver, stomach, vein"
    assert C.CLASSIFY_TO_SEGMENT == {
        "BPD_PLANE": "Brain",
        "Aorta": "cardiac, thorax",
        "Flows": "artery, liver, stomach, vein",
        "V sign": "cardiac, thorax",
        "X sign": "cardiac, thorax",
    }
    assert C.SPECIFIC_CLS_LABELS == {
        "Aorta",
        "Flows",
        "BPD_PLANE",
        "FL_PLANE",
        "FL",
        "V sign",
        "X sign",
        "liver",
    }
    assert [k[0] for k, _d, _s in C.KEYWORD_FALLBACK] == [
        "cerebel",
        "brain",
        "cardiac",
        "fetal head",
        "femur",
        "nasal",
        "crl",
        "liver",
        "abdomen",
        "arm",
        "head",
        "leg",
    ]
    assert C.KEYWORD_FALLBACK[3][0][4] == "cervex"  # upstream's typo, kept
    assert dict(C.FIELD_WEIGHTS) == {
        "biometric_measurements": 3.0,
        "imaging_plane": 2.5,
        "anatomical_structures": 1.0,
        "fetal_orientation": 0.5,
        "normality_assessment": 0.5,
        "gestational_age": 0.3,
        "image_quality": 0.0,
        "clinical_recommendations": 0.3,
    }
    assert list(C.FIELD_WEIGHTS) == list(C.INTERPRETATION_KEYS[i] for i in (3, 2, 0, 1, 6, 4, 5, 7))
    assert C.CLASS_KEYWORDS["NT"] == (
        "nuchal translucen",
        "nuchal fold",
        "nuchal",
        " nt ",
        " nt,",
        "nt_",
        "nt ",
    )
    assert C.CLASS_KEYWORDS["thorax"][:5] == ("thorax", "thorac", "thoric", "thorcic", "chest")
    assert [g[0] for g in C.CO_OCCURRENCE_GROUPS] == [
        "brain",
        "cardiac",
        "nt_nasal",
        "crl",
        "doppler",
        "pelvimetry",
        "body_full",
        "femur",
    ]
    assert C.CO_OCCURRENCE_GROUPS[2] == (
        "nt_nasal",
        ("NT", "nasal_bone", "nasal_skin", "nasal_tip"),
        ("NT",),
        ("brain", "crl"),
    )
    assert C.GROUP_ALIASES["femur"] == (" fl ", "femur length", "fl_plane", "fl plane", "fl ")
    keys = list(C.PLANE_TO_GROUP)
    assert len(keys) == 24 and keys[0] == "trans-thalamic" and keys[-1] == "cervical length"
    assert keys.index("aortic") < keys.index("nuchal") < keys.index("longitudinal view of femur")
    assert C.NEGATIVE_MEASUREMENT_PATTERNS[-1] == "inadequate"
    assert C.ROUTING_GROUP_MAP["nt_kp"] == ("NTKpoints, ScaleBarKpoints", None)
    assert C.ORGAN_KEYWORDS == (
        "stomach",
        "liver",
        "hepat",
        "artery",
        "arter",
        "vein",
        "venous",
        "gastric",
        "ductus",
    )
    assert C.KEYPOINT_CLASSES == {"CRL_KP", "NTKpoints", "ScaleBarKpoints"}
    assert list(C.ANATOMY_TO_GROUP)[:4] == ["nt keypoint", "nt kp", "nuchal keypoint", "ntkpoint"]
    assert len(C.ANATOMY_TO_GROUP) == 70


def test_palette_assignment_by_hand() -> None:
    # sorted class list (upper case sorts first); colour = palette[index % 20]
    assert len(C.ALL_CLASSES_SORTED) == 36
    assert C.ALL_CLASSES_SORTED[:6] == ("AB", "B", "Brain", "C", "CRL", "CRL_KP")
    assert C.CLASS_COLORS["Brain"] == "#FFE119"  # index 2
    assert C.CLASS_COLORS["CSP"] == "#42D4F4"  # index 6
    assert C.CLASS_COLORS["abdomen"] == "#3CB44B"  # index 21 -> 1
    assert C.CLASS_COLORS["legs"] == "#F032E6"  # index 27 -> 7
    assert C.CLASS_COLORS["vein"] == "#AAFFC3"  # index 35 -> 15
    assert C.class_color("Brain") == (0xFF, 0xE1, 0x19)
    assert C.class_color("not-a-class") == C.class_color("not-a-class")  # stable across processes


def test_tables_fingerprint() -> None:
    """Pinned digest of every table: any edit must be deliberate (update after checking upstream)."""
    tables = {
        name: getattr(C, name)
        for name in (
            "CLASSIFY_TO_DETECT",
            "CLASSIFY_TO_SEGMENT",
            "KEYWORD_FALLBACK",
            "FIELD_WEIGHTS",
            "CLASS_KEYWORDS",
            "CO_OCCURRENCE_GROUPS",
            "GROUP_ALIASES",
            "PLANE_TO_GROUP",
            "NEGATIVE_MEASUREMENT_PATTERNS",
            "ROUTING_GROUP_MAP",
            "RAW_PALETTE",
            "ALL_CLASSES_SORTED",
            "ORGAN_KEYWORDS",
            "ANATOMY_TO_GROUP",
            "INTERPRET_KW",
            "DETECT_KW",
            "SEGMENT_KW",
            "CLASSIFY_KW",
            "GREETING_KW",
        )
    }
    blob = json.dumps(
        {k: (dict(v) if hasattr(v, "items") else v) for k, v in tables.items()}, sort_keys=False
    )
    assert _sha(blob) == TABLES_SHA256, _sha(blob)


TABLES_SHA256 = "3a683103c296b9041453f6267a1953f3c0183de5213a22cbc06701c211c95960"
