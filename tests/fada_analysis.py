"""A realistic FADA analysis document for the HC18 001_HC frame (800 x 540), built with the
pipeline's own result classes so that a format change there breaks these tests."""

from __future__ import annotations

from typing import Any

from fada_desk.inference.fada.mapper import ClassMapping
from fada_desk.inference.fada.parsing import Detection, KeypointSet, Predictions, Segmentation
from fada_desk.inference.fada.results import AnalysisResult, PhaseResult

INTERPRETATION = {
    "anatomical_structures": ["fetal skull", "midline echo", "cavum septi pellucidi"],
    "fetal_orientation": "cephalic",
    "imaging_plane": "transthalamic plane",
    "biometric_measurements": "BPD and HC measurable",
    "gestational_age": "approximately 20 weeks",
    "image_quality": "adequate",
    "normality_assessment": "no abnormality seen",
    "clinical_recommendations": "routine follow-up",
}

#: head ellipse of 001_HC is centred near (396, 270); a coarse 12-gon of its outline
HEAD_POLYGON = (
    (485.0, 270.0),
    (473.0, 305.0),
    (441.0, 331.0),
    (396.0, 341.0),
    (351.0, 331.0),
    (319.0, 305.0),
    (307.0, 270.0),
    (319.0, 235.0),
    (351.0, 209.0),
    (396.0, 199.0),
    (441.0, 209.0),
    (473.0, 235.0),
)


def analysis_dict() -> dict[str, Any]:
    det = Predictions(
        detections=[
            Detection("head", (300.0, 195.0, 490.0, 345.0)),
            Detection("abdomen", (20.0, 20.0, 60.0, 50.0)),
        ],
        space="pixel",
        image_size=(800, 540),
    )
    seg = Predictions(
        segmentations=[Segmentation("Brain", (307.0, 199.0, 485.0, 341.0), HEAD_POLYGON)],
        space="pixel",
        image_size=(800, 540),
    )
    kp = Predictions(
        keypoints=[
            KeypointSet("CRL_KP", (100.0, 100.0, 200.0, 120.0), ((100.0, 110.0, 2), (200.0, 112.0, 2)))
        ],
        space="pixel",
        image_size=(800, 540),
    )
    result = AnalysisResult(
        image={"sha256": "0" * 64, "width": 800, "height": 540},
        models={"model_sha256": "a" * 64},
        mode="autonomous",
        phases=[
            PhaseResult(
                "interpret",
                raw_text='{"fetal_orientation": "cephalic", ...}',
                parse_ok=True,
                interpretation=dict(INTERPRETATION),
            ),
            PhaseResult("classify", raw_text='{"label": "BPD_PLANE"}', parse_ok=True, label="BPD_PLANE"),
            PhaseResult("detect", raw_text="[...]", parse_ok=True, predictions=det),
            PhaseResult("segment", raw_text="[...]", parse_ok=True, predictions=seg),
            PhaseResult("keypoints", raw_text="[...]", parse_ok=True, predictions=kp),
        ],
        mapping=ClassMapping("Brain, CSP, LV", "Brain", "priority_2_plane", 2),
        created_at="2025-01-01T00:00:00Z",
    )
    return result.to_dict()
