"""Extracted FADA JSON -> data: predictions (0-1000 -> pixels), interpretation, view label.

The item rules are upstream FADA's (``webapp/output_parser.py`` ``_parse_item``,
``webapp/class_mapper.py``): whatever upstream parses is parsed to the same
values, in the same order; a truncated answer's incomplete last item is
reported as such. Getting one JSON value out of the model's text (cleaning and
repair) is :mod:`fada_desk.inference.fada.json_repair`'s.

Coordinates: the model speaks ``[x_min, y_min, x_max, y_max]`` normalised to
0-1000 (:data:`~fada_desk.core.vocabulary.COORD_SCALE`); :meth:`Predictions.to_pixels`
maps them onto any image size (resolution independent, so onto the full-size frame).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fada_desk.inference.fada.constants import (
    CLASSIFY_TO_DETECT,
    COORD_SCALE,
    INTERPRETATION_FIELDS,
    INTERPRETATION_KEYS,
)

# ---------------------------------------------------------------------------
# Predictions
# ---------------------------------------------------------------------------

Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class Detection:
    label: str
    box: Box  # x_min, y_min, x_max, y_max

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "box": list(self.box)}


@dataclass(frozen=True)
class Segmentation:
    label: str
    box: Box
    polygon: tuple[tuple[float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "box": list(self.box), "polygon": [list(p) for p in self.polygon]}


@dataclass(frozen=True)
class KeypointSet:
    label: str
    box: Box
    points: tuple[tuple[float, float, int], ...]  # x, y, visibility (0 hidden, 1 occluded, 2 visible)

    def to_dict(self) -> dict[str, Any]:
        return {"label": self.label, "box": list(self.box), "points": [list(p) for p in self.points]}


@dataclass
class Predictions:
    """Everything one detect/segment/keypoint answer contained.

    ``space`` says which coordinates: ``"norm1000"`` (as the model wrote them)
    or ``"pixel"`` (after :meth:`to_pixels`; ``image_size`` is then (w, h)).
    """

    detections: list[Detection] = field(default_factory=list)
    segmentations: list[Segmentation] = field(default_factory=list)
    keypoints: list[KeypointSet] = field(default_factory=list)
    classifications: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    space: str = "norm1000"
    image_size: tuple[int, int] | None = None

    @property
    def count(self) -> int:
        return len(self.detections) + len(self.segmentations) + len(self.keypoints)

    @property
    def labels(self) -> list[str]:
        seen: dict[str, None] = {}
        for item in (*self.detections, *self.segmentations, *self.keypoints):
            seen.setdefault(item.label, None)
        return list(seen)

    def to_pixels(self, width: int, height: int) -> Predictions:
        """Map 0-1000 coordinates onto a ``width`` x ``height`` image.

        Unlike upstream (which rounds to int on the resized image) coordinates
        stay float on the full-size frame so measurements keep sub-pixel
        precision; boxes are re-ordered (min, max) and everything is clipped
        to the image.
        """
        if self.space != "norm1000":
            raise ValueError("predictions are already in pixels")
        sx, sy = width / COORD_SCALE, height / COORD_SCALE

        def pt(x: float, y: float) -> tuple[float, float]:
            return (min(max(x * sx, 0.0), float(width)), min(max(y * sy, 0.0), float(height)))

        def box(b: Box) -> Box:
            (x1, y1), (x2, y2) = pt(b[0], b[1]), pt(b[2], b[3])
            return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

        return Predictions(
            detections=[Detection(d.label, box(d.box)) for d in self.detections],
            segmentations=[
                Segmentation(s.label, box(s.box), tuple(pt(x, y) for x, y in s.polygon))
                for s in self.segmentations
            ],
            keypoints=[
                KeypointSet(k.label, box(k.box), tuple((*pt(x, y), v) for x, y, v in k.points))
                for k in self.keypoints
            ],
            classifications=list(self.classifications),
            errors=list(self.errors),
            space="pixel",
            image_size=(width, height),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "space": self.space,
            "image_size": list(self.image_size) if self.image_size else None,
            "detections": [d.to_dict() for d in self.detections],
            "segmentations": [s.to_dict() for s in self.segmentations],
            "keypoints": [k.to_dict() for k in self.keypoints],
            "classifications": list(self.classifications),
            "errors": list(self.errors),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Predictions:
        def bx(v: Any) -> Box:
            return (float(v[0]), float(v[1]), float(v[2]), float(v[3]))

        return cls(
            detections=[Detection(x["label"], bx(x["box"])) for x in d.get("detections", [])],
            segmentations=[
                Segmentation(
                    x["label"], bx(x["box"]), tuple((float(p[0]), float(p[1])) for p in x["polygon"])
                )
                for x in d.get("segmentations", [])
            ],
            keypoints=[
                KeypointSet(
                    x["label"],
                    bx(x["box"]),
                    tuple((float(p[0]), float(p[1]), int(p[2])) for p in x["points"]),
                )
                for x in d.get("keypoints", [])
            ],
            classifications=list(d.get("classifications", [])),
            errors=list(d.get("errors", [])),
            space=d.get("space", "norm1000"),
            image_size=tuple(d["image_size"]) if d.get("image_size") else None,  # type: ignore[arg-type]
        )


def _num(v: Any) -> float:
    """Upstream uses ``int(v)``: accepts ints, floats (truncated) and numeric strings."""
    if isinstance(v, bool):
        raise TypeError("boolean is not a coordinate")
    return float(int(float(v))) if isinstance(v, str) else float(int(v))


def _parse_item(item: dict[str, Any], out: Predictions) -> None:
    """Upstream ``_parse_item`` semantics (which kind an item is and when it is an error)."""
    label = item.get("label", "")
    bbox = item.get("bbox_2d") or item.get("box_2d")
    mask = item.get("mask")
    kps = item.get("keypoints")
    if not label:
        out.errors.append(f"Item missing label: {_short(item)}")
        return
    label = str(label).strip()
    if bbox is None:
        out.classifications.append(label)
        return
    if not isinstance(bbox, list) or len(bbox) != 4:
        out.errors.append(f"Invalid bbox_2d: {_short(bbox)}")
        return
    try:
        box: Box = tuple(_num(v) for v in bbox)  # type: ignore[assignment]
    except (ValueError, TypeError):
        out.errors.append(f"Non-numeric bbox_2d values: {_short(bbox)}")
        return
    if kps is not None:
        try:
            pts = []
            for k in kps:
                # upstream needs [x, y, v]; a bare [x, y] is taken as visible (2)
                v = int(_num(k[2])) if len(k) >= 3 else 2
                pts.append((_num(k[0]), _num(k[1]), v))
            out.keypoints.append(KeypointSet(label, box, tuple(pts)))
        except (ValueError, TypeError, IndexError, KeyError) as e:
            out.errors.append(f"Invalid keypoints: {e}")
        return
    if mask is not None:
        try:
            poly = tuple((_num(p[0]), _num(p[1])) for p in mask)
        except (ValueError, TypeError, IndexError, KeyError) as e:
            out.errors.append(f"Invalid mask polygon: {e}")
            return
        if len(poly) >= 3:
            out.segmentations.append(Segmentation(label, box, poly))
        else:
            out.errors.append(f"Mask polygon too few points: {len(poly)}")
        return
    out.detections.append(Detection(label, box))


def _short(v: Any, limit: int = 120) -> str:
    s = json.dumps(v) if not isinstance(v, str) else v
    return s if len(s) <= limit else s[:limit] + "..."


def parse_predictions(value: Any, truncated: bool = False) -> Predictions:
    """Parse an extracted JSON value (list of items or a single item).

    With ``truncated`` (the answer was cut off), an error on the *last* item is
    reported as the incomplete item it is.
    """
    out = Predictions()
    if value is None:
        out.errors.append("No valid JSON found in output")
        return out
    if isinstance(value, dict):
        items: list[Any] = [value]
    elif isinstance(value, list):
        items = value
    else:
        out.errors.append(f"Unexpected JSON type: {type(value).__name__}")
        return out
    for i, item in enumerate(items):
        if isinstance(item, dict):
            n_err = len(out.errors)
            _parse_item(item, out)
            if truncated and i == len(items) - 1 and len(out.errors) > n_err:
                del out.errors[n_err:]
                out.errors.append("Last item incomplete: the answer was cut off by the token limit")
    return out


# ---------------------------------------------------------------------------
# Interpretation and classification
# ---------------------------------------------------------------------------

_WRAPPER_KEYS = ("interpretation", "clinical_interpretation", "response", "result", "output", "answer")


def normalize_interpretation(value: Any) -> dict[str, Any] | None:
    """A dict of interpretation fields, unwrapping ``{"interpretation": {...}}``-style nesting."""
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, dict)), None)
    if not isinstance(value, dict):
        return None
    if not any(k in value for k in INTERPRETATION_KEYS) and len(value) == 1:
        (inner,) = value.values()
        key = next(iter(value))
        if isinstance(inner, dict) and (
            key.lower() in _WRAPPER_KEYS or any(k in inner for k in INTERPRETATION_KEYS)
        ):
            return dict(inner)
    return dict(value)


def extract_cls_label(value: Any, raw_text: str = "") -> tuple[str | None, str]:
    """The classification label and where it came from.

    Upstream takes ``parsed["label"]`` when it is a non-empty string. As a
    tolerant extra, a reply that is *only* a known view label (``BPD_PLANE`` or
    ``"BPD_PLANE"``) is accepted too (source ``"raw_text"``).
    """
    if isinstance(value, dict):
        label = value.get("label")
        if isinstance(label, str) and label.strip():
            return label.strip(), "json"
        return None, "none"
    bare = raw_text.strip().strip("`").strip().strip('"').strip("'").strip()
    if bare in CLASSIFY_TO_DETECT:
        return bare, "raw_text"
    return None, "none"


def flatten_field_text(value: Any) -> str:
    """Upstream ``_flatten_field_text``: a field value as one searchable string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return " ".join(str(v) for v in value.values())
    if isinstance(value, list):
        return " ".join(str(v) for v in value)
    return str(value)


def format_interpretation(interp: dict[str, Any]) -> list[tuple[str, str]]:
    """(title, text) rows for display, in upstream's order; missing fields read "N/A"."""
    rows = []
    for title, key in INTERPRETATION_FIELDS:
        v = interp.get(key, "N/A")
        rows.append((title, json.dumps(v, indent=2) if isinstance(v, (dict, list)) else str(v)))
    return rows
