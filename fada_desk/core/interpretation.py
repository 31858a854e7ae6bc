"""FADA's clinical interpretation, classification and class mapping, under human review.

FADA's interpret phase returns a JSON object with eight fields (names fixed by
upstream ``webapp/constants.py`` INTERPRET_PROMPT and ``webapp/inference.py``
``_format_interpretation``, repo mahmoodphd/FADA). Each field, the view
classification and the mapped detection/segmentation classes become a
:class:`ReviewedValue`: the AI's original value is kept forever, the current
value may be edited, and each is accepted or rejected on its own.

Values are JSON data (text, list or object) because the model may return any of
them for a field; :func:`display_text` renders them for people.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from fada_desk.core import vocabulary as _fada
from fada_desk.core.annotations import Annotation, Box, Keypoints, Polygon
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus

#: The 8 interpretation fields, in upstream prompt order, and their display titles
#: (the FADA facts live in fada_desk.core.vocabulary; derived here, never re-typed).
INTERPRETATION_FIELDS: tuple[str, ...] = _fada.INTERPRETATION_KEYS
FIELD_TITLES: dict[str, str] = {key: title for title, key in _fada.INTERPRETATION_FIELDS}

#: Names of the non-field reviewed values of an interpretation.
CLASSIFICATION = "classification"
DET_CLASSES = "det_classes"
SEG_CLASSES = "seg_classes"
EXTRA_VALUES = (CLASSIFICATION, DET_CLASSES, SEG_CLASSES)


def display_text(value: Any) -> str:
    """Human-readable text for a field value (text as is, lists joined, objects as 'k: v')."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (list, tuple)):
        return "; ".join(display_text(v) for v in value if display_text(v))
    if isinstance(value, Mapping):
        return "; ".join(f"{k}: {display_text(v)}" for k, v in value.items() if display_text(v))
    return str(value)


def _json_value(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError):
        raise AnnotationError(f"{what} must be JSON data (text, number, list or object).") from None


@dataclass(frozen=True)
class ReviewedValue:
    """One AI-produced value under review: original kept, current editable, own status."""

    ai: Any = None
    value: Any = None
    status: ReviewStatus = ReviewStatus.PENDING
    from_ai: bool = True

    @property
    def edited(self) -> bool:
        return self.from_ai and self.value != self.ai

    @property
    def provenance(self) -> Provenance:
        if not self.from_ai:
            return Provenance.MANUAL
        return Provenance.AI_EDITED if self.edited else Provenance.AI

    def to_dict(self) -> dict[str, Any]:
        return {
            "ai": self.ai,
            "value": self.value,
            "status": self.status.value,
            "provenance": self.provenance.value,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ReviewedValue:
        prov = d.get("provenance", Provenance.AI.value)
        status = ReviewStatus(d.get("status", ReviewStatus.PENDING.value))
        return cls(d.get("ai"), d.get("value"), status, prov != Provenance.MANUAL.value)


@dataclass(frozen=True)
class Interpretation:
    """Interpretation of one frame by one analysis, under review.

    ``values`` maps each of :data:`INTERPRETATION_FIELDS` plus ``classification``,
    ``det_classes`` and ``seg_classes`` to a :class:`ReviewedValue`. Treat the
    object as immutable: the ``with_*`` methods return new ones.
    """

    frame: FrameRef
    analysis_id: str | None
    values: Mapping[str, ReviewedValue]
    mapping_tier: str | None = None
    parse_success: bool = True
    raw_text: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        missing = [k for k in (*INTERPRETATION_FIELDS, *EXTRA_VALUES) if k not in self.values]
        if missing:
            full = dict(self.values)
            for k in missing:
                full[k] = ReviewedValue(None, None, ReviewStatus.PENDING, self.analysis_id is not None)
            object.__setattr__(self, "values", full)

    # -- construction ----------------------------------------------------------------
    @classmethod
    def from_fada(
        cls,
        frame: FrameRef,
        analysis_id: str | None,
        interpretation: Mapping[str, Any] | None,
        classification: str | None = None,
        mapping: Mapping[str, Any] | None = None,
    ) -> Interpretation:
        """Build from FADA pipeline output (upstream shapes).

        ``interpretation``: the parsed 8-field dict (upstream adds ``_parse_success``
        and ``_raw_text``); ``classification``: the view label; ``mapping``:
        ``{"det_classes": str, "seg_classes": str | None, "tier": str}``.
        """
        interp = dict(interpretation or {})
        values: dict[str, ReviewedValue] = {}
        for name in INTERPRETATION_FIELDS:
            v = _json_value(interp.get(name), name)
            values[name] = ReviewedValue(v, v, ReviewStatus.PENDING, True)
        cls_label = classification if classification not in ("", "Unknown") else None
        values[CLASSIFICATION] = ReviewedValue(cls_label, cls_label, ReviewStatus.PENDING, True)
        mapping = dict(mapping or {})
        for key in (DET_CLASSES, SEG_CLASSES):
            v = mapping.get(key)
            values[key] = ReviewedValue(v, v, ReviewStatus.PENDING, True)
        extra = {
            k: _json_value(v, k)
            for k, v in interp.items()
            if k not in INTERPRETATION_FIELDS and not str(k).startswith("_")
        }
        return cls(
            frame,
            analysis_id,
            values,
            mapping.get("tier"),
            bool(interp.get("_parse_success", bool(interp))),
            str(interp.get("_raw_text", "") or ""),
            extra,
        )

    @classmethod
    def manual(cls, frame: FrameRef) -> Interpretation:
        """An empty interpretation written by a human (no AI run)."""
        values = {
            k: ReviewedValue(None, None, ReviewStatus.PENDING, False)
            for k in (*INTERPRETATION_FIELDS, *EXTRA_VALUES)
        }
        return cls(frame, None, values, None, True, "")

    # -- access ------------------------------------------------------------------
    def get(self, name: str) -> ReviewedValue:
        try:
            return self.values[name]
        except KeyError:
            raise AnnotationError(f"Unknown interpretation field {name!r}.") from None

    @property
    def classification(self) -> ReviewedValue:
        return self.values[CLASSIFICATION]

    def pending_names(self) -> list[str]:
        return [k for k, v in self.values.items() if v.status is ReviewStatus.PENDING and v.value is not None]

    def accepted_fields(self) -> dict[str, Any]:
        """The 8 fields a human accepted (current values), in upstream order."""
        return {
            k: self.values[k].value
            for k in INTERPRETATION_FIELDS
            if self.values[k].status is ReviewStatus.ACCEPTED
        }

    def to_fada(self) -> dict[str, Any]:
        """Current values in FADA's shape: the 8-field object + classification + mapping."""
        return {
            "interpretation": {k: self.values[k].value for k in INTERPRETATION_FIELDS},
            "classification": self.values[CLASSIFICATION].value,
            "mapping": {
                "det_classes": self.values[DET_CLASSES].value,
                "seg_classes": self.values[SEG_CLASSES].value,
                "tier": self.mapping_tier,
            },
        }

    # -- edits (return new objects) ----------------------------------------------------
    def with_value(self, name: str, value: Any) -> Interpretation:
        """Edit a value. A human who writes a value accepts it (status -> accepted)."""
        old = self.get(name)
        if name == CLASSIFICATION and value is not None and not isinstance(value, str):
            raise AnnotationError("The classification must be text.")
        if name in (DET_CLASSES, SEG_CLASSES):
            value = _class_list_text(value, name)
        value = _json_value(value, FIELD_TITLES.get(name, name))
        values = dict(self.values)
        values[name] = replace(old, value=value, status=ReviewStatus.ACCEPTED)
        return replace(self, values=values)

    def with_status(self, name: str, status: ReviewStatus | str) -> Interpretation:
        old = self.get(name)
        values = dict(self.values)
        values[name] = replace(old, status=ReviewStatus(status))
        return replace(self, values=values)

    def with_all_accepted(self) -> Interpretation:
        """Accept every pending value that has content."""
        values = {
            k: (
                replace(v, status=ReviewStatus.ACCEPTED)
                if v.status is ReviewStatus.PENDING and v.value is not None
                else v
            )
            for k, v in self.values.items()
        }
        return replace(self, values=values)

    # -- (de)serialisation ------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "frame": self.frame.to_dict(),
            "analysis_id": self.analysis_id,
            "values": {k: v.to_dict() for k, v in self.values.items()},
            "mapping_tier": self.mapping_tier,
            "parse_success": self.parse_success,
            "raw_text": self.raw_text,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Interpretation:
        try:
            return cls(
                FrameRef.from_dict(d["frame"]),
                d.get("analysis_id"),
                {k: ReviewedValue.from_dict(v) for k, v in d["values"].items()},
                d.get("mapping_tier"),
                bool(d.get("parse_success", True)),
                str(d.get("raw_text", "")),
                dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, ValueError) as err:
            raise AnnotationError(f"Malformed interpretation: {err}.") from None


def _class_list_text(value: Any, name: str) -> str | None:
    """Mapped classes are upstream's comma-separated string ("abdomen, arm"); accept a list too."""
    if value is None:
        return None
    if isinstance(value, (list, tuple)):
        parts = [str(v).strip() for v in value]
    elif isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
    else:
        raise AnnotationError(f"{name} must be a list of class names or comma-separated text.")
    parts = [p for p in parts if p]
    return ", ".join(parts) if parts else None


# ---------------------------------------------------------------------------
# FADA analysis document -> review items
# ---------------------------------------------------------------------------

_ANNOTATING_PHASES = ("detect", "segment", "keypoints")


def _latest_phases(analysis: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    latest: dict[str, Mapping[str, Any]] = {}
    for p in analysis.get("phases") or []:
        if isinstance(p, Mapping) and p.get("phase"):
            latest[str(p["phase"])] = p  # later runs of a phase (human-in-the-loop) win
    return latest


def review_items_from_analysis(
    analysis: Mapping[str, Any], frame: FrameRef, analysis_id: str
) -> tuple[list[Annotation], Interpretation | None]:
    """Turn a FADA analysis document (``AnalysisResult.to_dict()``, the
    ``analysis.json`` of ``fada-desk analyze``) into pending AI annotations and
    an :class:`Interpretation`.

    Uses each phase's latest successful run and its predictions in *pixel*
    coordinates of the original frame: detections -> boxes, segmentations ->
    polygons, keypoint sets -> keypoints. Malformed items raise AnnotationError.
    """
    if not isinstance(analysis, Mapping):
        raise AnnotationError("An analysis must be a JSON object.")
    phases = _latest_phases(analysis)
    anns: list[Annotation] = []
    common = {"frame": frame, "provenance": Provenance.AI, "analysis_id": analysis_id}
    for name in _ANNOTATING_PHASES:
        p = phases.get(name)
        if not p or p.get("status", "ok") != "ok" or not p.get("predictions"):
            continue
        pred = p["predictions"]
        if pred.get("space") != "pixel":
            raise AnnotationError(f"The {name} predictions are not in pixel coordinates.")
        try:
            anns.extend(_phase_annotations(pred, common))
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise AnnotationError(f"Malformed {name} predictions in the analysis: {err}.") from None
    interp_phase = phases.get("interpret")
    interpretation = None
    if interp_phase is not None or phases.get("classify") is not None or analysis.get("mapping"):
        raw = dict((interp_phase or {}).get("interpretation") or {})
        if interp_phase is not None:
            raw.setdefault("_parse_success", bool(interp_phase.get("parse_ok", bool(raw))))
            raw.setdefault("_raw_text", interp_phase.get("raw_text", ""))
        label = analysis.get("classification")
        if label is None and phases.get("classify") is not None:
            label = phases["classify"].get("label")
        interpretation = Interpretation.from_fada(frame, analysis_id, raw, label, analysis.get("mapping"))
    return anns, interpretation


def _phase_annotations(pred: Mapping[str, Any], common: dict[str, Any]) -> list[Annotation]:
    anns: list[Annotation] = []

    def box(label: Any, b: Any) -> Box:
        x0, y0, x1, y1 = (float(v) for v in b)
        return Box(label=str(label), x0=x0, y0=y0, x1=x1, y1=y1, **common)

    for d in pred.get("detections", []):
        anns.append(box(d["label"], d["box"]))
    for s in pred.get("segmentations", []):
        pts = s.get("polygon") or []
        if len(pts) >= 3:
            anns.append(Polygon(label=str(s["label"]), points=[tuple(q[:2]) for q in pts], **common))
        else:  # a mask too small to be a polygon still marks where the structure is
            anns.append(box(s["label"], s["box"]))
    for k in pred.get("keypoints", []):
        if k.get("points"):
            anns.append(Keypoints(label=str(k["label"]), points=k["points"], **common))
    return anns
