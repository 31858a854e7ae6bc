"""Interpretation + view label -> which structures to detect and segment.

The 5-priority cascade of upstream FADA (``webapp/class_mapper.py``,
``map_interpretation_to_classes``), reproduced decision for decision:

P1  a *specific* classification label (``SPECIFIC_CLS_LABELS``) wins outright;
P2  the imaging plane / fetal orientation text names a plane (``PLANE_TO_GROUP``,
    first key in table order that occurs as a substring);
P3  keyword scoring: each interpretation field adds its weight (``FIELD_WEIGHTS``)
    to every class with a keyword in it; classes sum into co-occurrence groups,
    a group alias anywhere in the text adds 2.0; a "not measurable"-style
    biometry text dampens the biometry weight to 0.3; when ``body_full`` ranks
    first but organ words are present, ``doppler`` is swapped to the top; a
    compatible runner-up group scoring >= 30 % of the winner is merged;
P4  any known classification label, then a keyword lookup on the label;
P5  the default body classes.

The result carries the tier string upstream reports (``cls_specific_BPD_PLANE``,
``plane_trans-thalamic``, ``interp_brain+nt_nasal``, ``cls_generic_head``,
``cls_keyword_femur``, ``fallback_no_match``) plus the scores, for display.

Beyond upstream: :func:`keypoint_classes_for`, the measurement keypoint classes
of a CRL or NT view (the optional keypoint phase of the autonomous mode).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fada_desk.inference.fada.constants import (
    CLASS_KEYWORDS,
    CLASSIFY_TO_DETECT,
    CLASSIFY_TO_SEGMENT,
    CO_OCCURRENCE_GROUPS,
    DAMPENED_BIOMETRIC_WEIGHT,
    DEFAULT_DETECT_CLASSES,
    FIELD_WEIGHTS,
    GROUP_ALIASES,
    KEYWORD_FALLBACK,
    NEGATIVE_MEASUREMENT_PATTERNS,
    ORGAN_KEYWORDS,
    PLANE_TO_GROUP,
    ROUTING_GROUP_MAP,
    SPECIFIC_CLS_LABELS,
)
from fada_desk.inference.fada.parsing import flatten_field_text


@dataclass(frozen=True)
class ClassMapping:
    """Outcome of the cascade. ``seg_classes`` None = nothing to segment."""

    det_classes: str
    seg_classes: str | None
    tier: str
    priority: int  # 1..5, or 0 when the interpretation could not be parsed
    group_scores: tuple[tuple[str, float], ...] = ()
    class_scores: Mapping[str, float] = field(default_factory=dict)
    dampened: bool = False
    disambiguated: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "det_classes": self.det_classes,
            "seg_classes": self.seg_classes,
            "tier": self.tier,
            "priority": self.priority,
            "group_scores": [list(g) for g in self.group_scores],
            "class_scores": {k: v for k, v in self.class_scores.items() if v},
            "dampened": self.dampened,
            "disambiguated": self.disambiguated,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClassMapping:
        """Inverse of :meth:`to_dict`; ValueError (saying which field) for anything malformed."""
        if not isinstance(d, dict):
            raise ValueError(f"a class mapping is {type(d).__name__}, not an object")
        seg = d.get("seg_classes")
        if not isinstance(d.get("det_classes"), str) or not isinstance(d.get("tier"), str) \
                or not isinstance(seg, (str, type(None))):
            raise ValueError("class mapping: det_classes, seg_classes and tier must be text")
        priority = d.get("priority", 0)
        if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 5:
            raise ValueError(f"class mapping: priority {priority!r} is not 0..5")
        groups, scores = d.get("group_scores", []), d.get("class_scores", {})
        if not (isinstance(groups, list) and all(isinstance(g, list) and len(g) == 2 and isinstance(g[0], str)
                                                 and _is_number(g[1]) for g in groups)):
            raise ValueError("class mapping: group_scores must be [[name, score], ...]")
        if not (isinstance(scores, dict) and all(_is_number(v) for v in scores.values())):
            raise ValueError("class mapping: class_scores must map names to numbers")
        return cls(
            d["det_classes"],
            seg,
            d["tier"],
            priority,
            tuple((g[0], float(g[1])) for g in groups),
            dict(scores),
            bool(d.get("dampened")),
            bool(d.get("disambiguated")),
        )


def _is_number(v: Any) -> bool:
    return not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v)


def keyword_lookup(text: str) -> tuple[str, str | None, str] | None:
    """Upstream ``_keyword_lookup``: first KEYWORD_FALLBACK keyword in ``text``."""
    low = text.lower()
    for keywords, det, seg in KEYWORD_FALLBACK:
        for kw in keywords:
            if kw in low:
                return det, seg, kw
    return None


def score_classes(interp: Mapping[str, Any], weights: Mapping[str, float] | None = None) -> dict[str, float]:
    """Per-class score: sum of the weights of the fields mentioning the class."""
    weights = FIELD_WEIGHTS if weights is None else weights
    scores = {cls: 0.0 for cls in CLASS_KEYWORDS}
    for field_name, weight in weights.items():
        if weight == 0.0:
            continue
        value = interp.get(field_name)
        if not value:
            continue
        text = flatten_field_text(value).lower()
        if not text:
            continue
        for cls, keywords in CLASS_KEYWORDS.items():
            if any(kw in text for kw in keywords):
                scores[cls] += weight
    return scores


def _full_text(interp: Mapping[str, Any]) -> str:
    return " ".join(flatten_field_text(v) for k, v in interp.items() if not k.startswith("_") and v).lower()


def group_scores(
    class_scores: Mapping[str, float], interp: Mapping[str, Any]
) -> list[tuple[str, float, tuple[str, ...], tuple[str, ...] | None, tuple[str, ...]]]:
    """Groups ranked by score (stable: ties keep table order)."""
    text = _full_text(interp)
    ranked = []
    for name, det, seg, compatible in CO_OCCURRENCE_GROUPS:
        score = sum(class_scores.get(c, 0.0) for c in det)
        if any(alias in text for alias in GROUP_ALIASES.get(name, ())):
            score += 2.0
        ranked.append((name, score, det, seg, compatible))
    ranked.sort(key=lambda g: g[1], reverse=True)
    return ranked


def map_interpretation_to_classes(interp: Mapping[str, Any], cls_label: str | None = None) -> ClassMapping:
    """Run the cascade on a parsed interpretation (dict of fields) and view label."""
    # P1: specific classification label
    if cls_label and cls_label in SPECIFIC_CLS_LABELS and cls_label in CLASSIFY_TO_DETECT:
        return ClassMapping(
            CLASSIFY_TO_DETECT[cls_label], CLASSIFY_TO_SEGMENT.get(cls_label), f"cls_specific_{cls_label}", 1
        )

    # P2: imaging plane / orientation; only the first matching table key counts
    plane = flatten_field_text(interp.get("imaging_plane", "")).lower()
    orient = flatten_field_text(interp.get("fetal_orientation", "")).lower()
    combined = f"{plane} {orient}"
    hit = next((key for key in PLANE_TO_GROUP if key in combined), None)
    if hit is not None:
        group = PLANE_TO_GROUP[hit]
        for name, det, seg, _compat in CO_OCCURRENCE_GROUPS:
            if name == group:
                return ClassMapping(", ".join(det), ", ".join(seg) if seg else None, f"plane_{hit}", 2)

    # P3: keyword scoring
    bio = flatten_field_text(interp.get("biometric_measurements", "")).lower()
    dampened = any(p in bio for p in NEGATIVE_MEASUREMENT_PATTERNS)
    weights = dict(FIELD_WEIGHTS)
    if dampened:
        weights["biometric_measurements"] = DAMPENED_BIOMETRIC_WEIGHT
    cscores = score_classes(interp, weights)
    groups = group_scores(cscores, interp)

    # body_full vs doppler: organ words promote doppler (swapped into first place,
    # even when its own score is 0 - then the cascade falls through to P4, as upstream)
    disambiguated = False
    if len(groups) >= 2 and groups[0][0] == "body_full":
        index = {g[0]: i for i, g in enumerate(groups)}
        if "doppler" in index and any(kw in _full_text(interp) for kw in ORGAN_KEYWORDS):
            di = index["doppler"]
            groups[0], groups[di] = groups[di], groups[0]
            disambiguated = True

    ranked = tuple((g[0], g[1]) for g in groups)
    if groups and groups[0][1] > 0.0:
        top_name, top_score, top_det, top_seg, top_compat = groups[0]
        det = list(top_det)
        seg = list(top_seg) if top_seg else None
        tier = f"interp_{top_name}"
        if len(groups) > 1:
            sec_name, sec_score, sec_det, sec_seg, _ = groups[1]
            if sec_score > 0 and sec_score >= top_score * 0.3 and sec_name in top_compat:
                det.extend(sec_det)
                if sec_seg:
                    seg = (seg or []) + list(sec_seg)
                tier = f"interp_{top_name}+{sec_name}"
        det = det[:5]
        seg = seg[:5] if seg else seg
        return ClassMapping(
            ", ".join(det), ", ".join(seg) if seg else None, tier, 3, ranked, cscores, dampened, disambiguated
        )

    # P4: generic label, then keyword lookup on the label
    if cls_label and cls_label in CLASSIFY_TO_DETECT:
        return ClassMapping(
            CLASSIFY_TO_DETECT[cls_label],
            CLASSIFY_TO_SEGMENT.get(cls_label),
            f"cls_generic_{cls_label}",
            4,
            ranked,
            cscores,
            dampened,
            disambiguated,
        )
    if cls_label:
        found = keyword_lookup(cls_label)
        if found:
            det_s, seg_s, kw = found
            return ClassMapping(
                det_s, seg_s, f"cls_keyword_{kw}", 4, ranked, cscores, dampened, disambiguated
            )

    # P5: default
    return ClassMapping(
        DEFAULT_DETECT_CLASSES, None, "fallback_no_match", 5, ranked, cscores, dampened, disambiguated
    )


def parse_failure_mapping() -> ClassMapping:
    """What upstream's autonomous pipeline uses when the interpretation did not parse."""
    return ClassMapping(DEFAULT_DETECT_CLASSES, None, "fallback_parse_fail", 0)


CRL_KEYPOINT_CLASSES = ROUTING_GROUP_MAP["crl_kp"][0]
NT_KEYPOINT_CLASSES = ROUTING_GROUP_MAP["nt_kp"][0]


def keypoint_classes_for(det_classes: str) -> str | None:
    """Keypoint classes for a CRL or NT view (first of CRL/NT in the class list decides)."""
    for cls in (c.strip() for c in det_classes.split(",")):
        if cls == "CRL":
            return CRL_KEYPOINT_CLASSES
        if cls == "NT":
            return NT_KEYPOINT_CLASSES
    return None
