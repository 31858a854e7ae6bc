"""Turn raw FADA generations into data: clean, extract JSON, parse, rescale.

The parser is a strict superset of upstream FADA's (``webapp/output_parser.py``,
``webapp/class_mapper.py:parse_interpretation_json``, ``infer.py:_clean_generation``):
whatever upstream parses is parsed to the same values, in the same order. When
upstream's strategies fail, a structural scanner repairs the usual small-model
failures: leaked ``<think>`` blocks, repeated ``assistant`` turns, Markdown code
fences, trailing commas, several JSON values in a row and output cut off by the
token limit (the last complete element is kept, the rest dropped; the phase is
then flagged ``truncated``). Each repair is recorded so the UI can say why.

Coordinates: the model speaks ``[x_min, y_min, x_max, y_max]`` normalised to
0-1000 (:data:`~fada_desk.inference.constants.COORD_SCALE`); :meth:`Predictions.to_pixels`
maps them onto any image size (resolution independent, so onto the full-size frame).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from fada_desk.inference.constants import CLASSIFY_TO_DETECT, COORD_SCALE, INTERPRETATION_KEYS

# ---------------------------------------------------------------------------
# Cleaning
# ---------------------------------------------------------------------------

_UPSTREAM_THINK = re.compile(r"^<think>\s*</think>\s*")
_THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)
_END_OF_TURN = ("<|im_end|>", "<|endoftext|>", "<|im_start|>")
_ASSISTANT_TURN = re.compile(r"\n[ \t]*assistant[ \t]*:?[ \t]*(?:\n|$)")
_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[ \t]*\n?(.*?)(?:```|$)", re.DOTALL)


def clean_generation_upstream(text: str) -> str:
    """Upstream ``_clean_generation``, verbatim behaviour (kept for reference tests)."""
    text = _UPSTREAM_THINK.sub("", text)
    idx = text.find("\nassistant\n")
    if idx != -1:
        text = text[:idx]
    if text.startswith("assistant\n"):
        text = text[len("assistant\n") :]
    return text.strip()


@dataclass(frozen=True)
class Cleaned:
    text: str
    notes: tuple[str, ...] = ()


def clean_output(raw: str) -> Cleaned:
    """Upstream cleaning plus the repairs listed in the module docstring."""
    notes: list[str] = []
    text = raw.strip()
    for marker in _END_OF_TURN:
        idx = text.find(marker)
        if idx != -1:
            text = text[:idx]
            notes.append(f"cut at leaked {marker}")
    if _UPSTREAM_THINK.match(text):
        text = _UPSTREAM_THINK.sub("", text)
    if "<think>" in text and "</think>" in text:
        text = _THINK_BLOCK.sub("", text)
        notes.append("removed <think> reasoning")
    if "<think>" in text or "</think>" in text:
        text = text.replace("<think>", "").replace("</think>", "")
        notes.append("removed unbalanced <think> tag")
    text = text.strip()
    if text.startswith("assistant\n"):
        text = text[len("assistant\n") :]
    m = _ASSISTANT_TURN.search(text)
    if m:
        text = text[: m.start()]
        notes.append("cut repeated assistant turn")
    if "```" in text:
        blocks = [(lang, body) for lang, body in _FENCE.findall(text)]
        chosen = next((body for _lang, body in blocks if "{" in body or "[" in body), None)
        if chosen is not None:
            text = chosen
            notes.append("extracted code fence")
        else:
            text = text.replace("```", "")
    return Cleaned(text.strip(), tuple(notes))


# ---------------------------------------------------------------------------
# JSON extraction
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Extracted:
    value: Any  # None when nothing could be extracted
    notes: tuple[str, ...] = ()
    truncated: bool = False


def _loads(text: str) -> Any:
    return _no_lone_surrogates(json.loads(text))


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _no_lone_surrogates(value: Any) -> Any:
    """Replace lone UTF-16 surrogates with U+FFFD.

    JSON may spell one as an escape (``"\\udeab"``); ``json.loads`` keeps it as a
    lone surrogate, which no UTF-8 file, SQLite text or PDF can hold (saving the
    analysis failed on such an answer from random weights). Proper pairs were
    already combined into one character by ``json.loads``.
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, list):
        return [_no_lone_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_no_lone_surrogates(k): _no_lone_surrogates(v) for k, v in value.items()}
    return value


def _strip_trailing_commas(text: str) -> str:
    """Remove ``,`` before ``]``/``}`` outside strings."""
    out: list[str] = []
    in_str = esc = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if in_str:
            out.append(c)
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
            i += 1
            continue
        if c == '"':
            in_str = True
        elif c == ",":
            j = i + 1
            while j < n and text[j] in " \t\r\n":
                j += 1
            if j < n and text[j] in "]}":
                i += 1
                continue
        out.append(c)
        i += 1
    return "".join(out)


def _scan_one(text: str, begin: int) -> tuple[int | None, tuple[int, str] | None]:
    """Scan the JSON container starting at ``text[begin]`` (``[`` or ``{``).

    Returns ``(end, None)`` for a balanced container (``text[begin:end]``), or
    ``(None, (cut, closers))`` when the text ends first: ``text[begin:cut] +
    closers`` is the longest prefix that ends on a complete element.
    """
    stack: list[str] = []
    states: list[str] = []  # per container: k(ey) c(olon) v(alue) a(fter value)
    in_str = esc = str_is_key = pending_scalar = False
    safe: tuple[int, str] | None = None
    j, n = begin, len(text)
    while j < n:
        c = text[j]
        if in_str:
            if esc:
                esc = False
            elif c == "\\":
                esc = True
            elif c == '"':
                in_str = False
                states[-1] = "c" if str_is_key else "a"
                if not str_is_key:
                    safe = (j + 1, _closers(stack))
            j += 1
            continue
        if pending_scalar and c in ",]} \t\r\n":
            pending_scalar = False
            states[-1] = "a"
            if stack[-1] == "{":
                # numbers inside arrays are coordinates: a half point/box is not kept
                safe = (j, _closers(stack))
        if c == '"':
            in_str = True
            str_is_key = stack[-1] == "{" and states[-1] == "k"
        elif c in "[{":
            inside_array = bool(stack) and stack[-1] == "["
            stack.append(c)
            states.append("k" if c == "{" else "v")
            if not inside_array:  # an empty element of an array is no element
                safe = (j + 1, _closers(stack))
        elif c in "]}":
            stack.pop()
            states.pop()
            if not stack:
                return j + 1, None
            states[-1] = "a"
            safe = (j + 1, _closers(stack))
        elif c == ":":
            if states[-1] == "c":
                states[-1] = "v"
        elif c == ",":
            if states[-1] == "a":
                states[-1] = "k" if stack[-1] == "{" else "v"
        elif c not in " \t\r\n" and states[-1] == "v":
            pending_scalar = True  # a number or literal; complete only once a delimiter follows
        j += 1
    return None, safe


def _closers(stack: list[str]) -> str:
    return "".join("]" if c == "[" else "}" for c in reversed(stack))


def extract_json(text: str, prefer: str = "array") -> Extracted:
    """Extract one JSON value from model text.

    ``prefer="array"`` follows upstream ``output_parser._extract_json`` (array
    regex first); ``prefer="object"`` follows ``parse_interpretation_json``
    (first ``{`` to last ``}``). Only if those fail, repair strategies run.
    """
    text = text.strip()
    try:
        return Extracted(_loads(text))
    except json.JSONDecodeError:
        pass
    if prefer == "array":
        for pattern in (r"\[.*\]", r"\{.*\}"):
            m = re.search(pattern, text, re.DOTALL)
            if m:
                try:
                    return Extracted(_loads(m.group()))
                except json.JSONDecodeError:
                    pass
        try:
            # upstream uses re.sub(r",\s*([}\]])", ...) here, which also edits ", ]" inside strings;
            # the string-aware version gives the same result everywhere else
            return Extracted(_loads(_strip_trailing_commas(text)), ("removed trailing commas",))
        except json.JSONDecodeError:
            pass
    else:
        b0, b1 = text.find("{"), text.rfind("}")
        if b0 != -1 and b1 > b0:
            try:
                return Extracted(_loads(text[b0 : b1 + 1]))
            except json.JSONDecodeError:
                pass
    return _repair(text, prefer)


def _next_container(text: str, pos: int, brackets: str) -> int:
    hits = [p for p in (text.find(b, pos) for b in brackets) if p != -1]
    return min(hits) if hits else -1


def _repair(text: str, prefer: str) -> Extracted:
    notes: list[str] = []
    fixed = _strip_trailing_commas(text)
    if fixed != text:
        notes.append("removed trailing commas")
    values: list[Any] = []
    truncated = False
    pos = _next_container(fixed, 0, "{" if prefer == "object" and "{" in fixed else "[{")
    while pos != -1:
        end, safe = _scan_one(fixed, pos)
        if end is not None:
            try:
                values.append(_loads(fixed[pos:end]))
            except json.JSONDecodeError:
                pass
            pos = _next_container(fixed, end, "[{")
            continue
        if safe is not None:
            cut, closers = safe
            try:
                values.append(_loads(_strip_trailing_commas(fixed[pos:cut]) + closers))
                truncated = True
                notes.append("closed output cut off by the token limit")
            except json.JSONDecodeError:
                pass
        break
    if not values:
        return Extracted(None, tuple(notes), truncated)
    if len(values) == 1:
        return Extracted(values[0], tuple(notes), truncated)
    if prefer == "object":
        first = next((i for i, v in enumerate(values) if isinstance(v, dict)), 0)
        notes.append(f"kept the first of {len(values)} JSON values")
        return Extracted(values[first], tuple(notes), truncated and first == len(values) - 1)
    merged: list[Any] = []
    for v in values:
        merged.extend(v if isinstance(v, list) else [v])
    notes.append(f"merged {len(values)} JSON values")
    return Extracted(merged, tuple(notes), truncated)


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
    from fada_desk.inference.constants import INTERPRETATION_FIELDS

    rows = []
    for title, key in INTERPRETATION_FIELDS:
        v = interp.get(key, "N/A")
        rows.append((title, json.dumps(v, indent=2) if isinstance(v, (dict, list)) else str(v)))
    return rows
