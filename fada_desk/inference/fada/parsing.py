"""Extracted FADA JSON -> data: predictions (0-1000 -> pixels), interpretation, view label.

The item rules are upstream FADA's (``webapp/output_parser.py`` ``_parse_item``,
``webapp/class_mapper.py``): whatever upstream parses is parsed to the same
values, in the same order; a truncated answer's incomplete last item is
reported as such. Getting one JSON value out of the model's text (cleaning and
repair) is :mod:`fada_desk.inference.fada.json_repair`'s.

Coordinates: the model speaks ``[x_min, y_min, x_max, y_max]`` normalised to
0-1000 (:data:`~fada_desk.core.vocabulary.COORD_SCALE`); :meth:`Predictions.to_pixels`
maps them onto any image size (resolution independent, so onto the full-size frame).

Beyond upstream, nothing malformed raises: a value of the wrong type anywhere,
a coordinate that is not a finite number inside the model's 0-1000 range
(``1e999``, ``-5``, ``1200``) or a keypoint visibility other than 0/1/2 drops
that item, with the reason kept in :attr:`Predictions.errors`.
"""

from __future__ import annotations

import json
import math
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
        """Inverse of :meth:`to_dict`; ValueError (saying what) for anything malformed."""
        try:
            return cls._from_dict(d)
        except (KeyError, TypeError, ValueError, IndexError, AttributeError, OverflowError) as exc:
            raise ValueError(f"malformed predictions ({type(exc).__name__}: {exc})") from None

    @classmethod
    def _from_dict(cls, d: dict[str, Any]) -> Predictions:
        def num(v: Any) -> float:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                raise ValueError(f"{_short(v, 40)} is not a finite number")
            return float(v)

        def bx(v: Any) -> Box:
            if not isinstance(v, list) or len(v) != 4:
                raise ValueError(f"{_short(v, 40)} is not a box")
            return (num(v[0]), num(v[1]), num(v[2]), num(v[3]))

        def text(v: Any) -> str:
            if not isinstance(v, str):
                raise TypeError(f"{_short(v, 40)} is not text")
            return v

        def texts(v: Any) -> list[str]:
            if not isinstance(v, list):
                raise TypeError(f"{_short(v, 40)} is not a list")
            return [text(x) for x in v]

        def visibility(v: Any) -> int:
            if v not in (0, 1, 2) or isinstance(v, bool):
                raise ValueError(f"keypoint visibility {_short(v, 20)} is not 0, 1 or 2")
            return int(v)

        size = d.get("image_size")
        if size is not None and not (isinstance(size, list) and len(size) == 2
                                     and all(isinstance(v, int) and not isinstance(v, bool) for v in size)):
            raise ValueError(f"image_size {_short(size, 40)} is not [width, height]")
        space = d.get("space", "norm1000")
        if space not in ("norm1000", "pixel"):
            raise ValueError(f"unknown coordinate space {_short(space, 40)}")
        return cls(
            detections=[Detection(text(x["label"]), bx(x["box"])) for x in d.get("detections", [])],
            segmentations=[
                Segmentation(text(x["label"]), bx(x["box"]), tuple((num(p[0]), num(p[1])) for p in x["polygon"]))
                for x in d.get("segmentations", [])
            ],
            keypoints=[
                KeypointSet(
                    text(x["label"]),
                    bx(x["box"]),
                    tuple((num(p[0]), num(p[1]), visibility(p[2])) for p in x["points"]),
                )
                for x in d.get("keypoints", [])
            ],
            classifications=texts(d.get("classifications", [])),
            errors=texts(d.get("errors", [])),
            space=space,
            image_size=(size[0], size[1]) if size else None,
        )


_BAD_NUMBER = (ValueError, TypeError, OverflowError)


def _num(v: Any) -> float:
    """Upstream uses ``int(v)``: accepts ints, floats (truncated) and numeric strings.

    ValueError / TypeError / OverflowError for anything else (``inf`` has no int)."""
    if isinstance(v, bool):
        raise TypeError("boolean is not a coordinate")
    if not isinstance(v, (int, float, str)):
        raise TypeError(f"{type(v).__name__} is not a coordinate")
    return float(int(float(v))) if isinstance(v, str) else float(int(v))


def _in_range(values: Any) -> bool:
    return all(0.0 <= v <= COORD_SCALE for v in values)


def _point(p: Any, n: int) -> tuple[float, ...]:
    if not isinstance(p, list) or len(p) < n:
        raise ValueError(f"{_short(p, 40)} is not a point [x, y]")
    return tuple(_num(v) for v in p[:n])


def _label(item: dict[str, Any]) -> str | None:
    """The item's label as text; None (the item is refused) when it is not text (or a number)."""
    label = item.get("label", "")
    if isinstance(label, bool) or not isinstance(label, (str, int, float)):
        return None
    text = str(label).strip()  # upstream: str(label); a number is a (strange) label
    return text or None


def _parse_item(item: dict[str, Any], out: Predictions) -> None:
    """Upstream ``_parse_item`` semantics (which kind an item is and when it is an error)."""
    bbox = item.get("bbox_2d") or item.get("box_2d")
    mask = item.get("mask")
    kps = item.get("keypoints")
    if not item.get("label", ""):
        out.errors.append(f"Item missing label: {_short(item)}")
        return
    label = _label(item)
    if label is None:
        out.errors.append(f"Invalid label (blank or not text): {_short(item.get('label'))}")
        return
    if bbox is None:
        out.classifications.append(label)
        return
    if not isinstance(bbox, list) or len(bbox) != 4:
        out.errors.append(f"Invalid bbox_2d: {_short(bbox)}")
        return
    try:
        box: Box = tuple(_num(v) for v in bbox)  # type: ignore[assignment]
    except _BAD_NUMBER:
        out.errors.append(f"Non-numeric bbox_2d values: {_short(bbox)}")
        return
    if not _in_range(box):
        out.errors.append(f"Item {label!r} dropped: bbox_2d {_short(bbox)} is outside the model's 0-1000 range")
        return
    if kps is not None:
        try:
            if not isinstance(kps, list):
                raise TypeError(f"{type(kps).__name__}, not a list of points")
            pts = []
            for k in kps:
                # upstream needs [x, y, v]; a bare [x, y] is taken as visible (2)
                x, y = _point(k, 2)
                v = int(_num(k[2])) if len(k) >= 3 else 2
                if v not in (0, 1, 2):
                    raise ValueError(f"visibility {v} is not 0, 1 or 2")
                pts.append((x, y, v))
        except (*_BAD_NUMBER, IndexError, KeyError) as e:
            out.errors.append(f"Invalid keypoints: {e}")
            return
        if not all(_in_range(p[:2]) for p in pts):
            out.errors.append(f"Item {label!r} dropped: a keypoint is outside the model's 0-1000 range")
            return
        out.keypoints.append(KeypointSet(label, box, tuple(pts)))
        return
    if mask is not None:
        try:
            if not isinstance(mask, list):
                raise TypeError(f"{type(mask).__name__}, not a list of points")
            poly = tuple(_point(p, 2) for p in mask)
        except (*_BAD_NUMBER, IndexError, KeyError) as e:
            out.errors.append(f"Invalid mask polygon: {e}")
            return
        if len(poly) < 3:
            out.errors.append(f"Mask polygon too few points: {len(poly)}")
        elif not all(_in_range(p) for p in poly):
            out.errors.append(f"Item {label!r} dropped: a mask point is outside the model's 0-1000 range")
        else:
            out.segmentations.append(Segmentation(label, box, poly))  # type: ignore[arg-type]
        return
    out.detections.append(Detection(label, box))


def _short(v: Any, limit: int = 120) -> str:
    """A value for a one-line message: compact JSON (any value, never raising), cut at ``limit``."""
    if isinstance(v, str):
        s = " ".join(v.split())
    else:
        try:
            s = json.dumps(v, default=repr, ensure_ascii=False)
        except (ValueError, TypeError, RecursionError):
            s = repr(type(v))
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
        n_err = len(out.errors)
        if isinstance(item, dict):
            _parse_item(item, out)
        else:
            out.errors.append(f"Item is not an object: {_short(item)}")
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
