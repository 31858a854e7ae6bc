"""Per-phase output constraints: JSON schemas (data) and equivalent GBNF grammars.

Why both: the JSON schema documents and validates the shape of an answer;
the GBNF is what the pipeline hands to the backend (``GenerationRequest.grammar``).
It is written by hand because llama-cpp-python's schema converter ignores
``minimum``/``maximum`` (coordinates would be unbounded) and would turn an
``enum`` of 0..1000 into 1001 alternatives; here a coordinate is
``"1000" | [1-9][0-9]?[0-9]? | "0"``.

Permissive where upstream FADA's parser is permissive (a list of items or a
single item, ``bbox_2d`` or the legacy ``box_2d``, keys in any order, plain
boxes inside segmentation/keypoint answers, any JSON object for the
interpretation, indentation), strict where parsing would otherwise fail
(the classification's ``"label"`` comes first, as trained, so a long answer
cannot run out of tokens before naming the view;
integer coordinates 0-1000, exactly four box values, >= 3 polygon vertices,
visibility 0-2, non-empty labels, no extra keys in annotation items, no
UTF-16 surrogate code points - a byte-level matcher must never enter a UTF-8
prefix that cannot be completed). Every string the grammar accepts is valid
JSON that :mod:`fada_desk.inference.fada.parsing` turns into predictions without an
item error; ``tests/inference/fada/test_corpus.py`` checks the corpus against both
forms (they agree, except that the schema cannot express key order).
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

PHASES: Final[tuple[str, ...]] = ("interpret", "classify", "detect", "segment", "keypoints")

# ---------------------------------------------------------------------------
# JSON schemas (draft 2020-12)
# ---------------------------------------------------------------------------

_COORD = {"type": "integer", "minimum": 0, "maximum": 1000}
_BOX = {"type": "array", "items": _COORD, "minItems": 4, "maxItems": 4}
_LABEL = {"type": "string", "minLength": 1}
_POINT = {"type": "array", "items": _COORD, "minItems": 2, "maxItems": 2}
_KEYPOINT = {
    "type": "array",
    "prefixItems": [_COORD, _COORD, {"enum": [0, 1, 2]}],
    "items": False,
    "minItems": 3,
    "maxItems": 3,
}


def _item(box_key: str, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    props: dict[str, Any] = {box_key: _BOX, "label": _LABEL}
    props.update(extra or {})
    return {"type": "object", "properties": props, "required": list(props), "additionalProperties": False}


def _items(*extras: dict[str, Any] | None) -> list[dict[str, Any]]:
    return [_item(k, e) for e in extras for k in ("bbox_2d", "box_2d")]


def _answer(items: list[dict[str, Any]]) -> dict[str, Any]:
    item = {"anyOf": items}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "anyOf": [{"type": "array", "items": item}, item],
    }


_MASK = {"mask": {"type": "array", "items": _POINT, "minItems": 3}}
_KPS = {"keypoints": {"type": "array", "items": _KEYPOINT, "minItems": 1}}

_SCHEMAS: dict[str, dict[str, Any]] = {
    "interpret": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "description": "The 8-field clinical interpretation; field values may be text, lists or objects.",
    },
    "classify": {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {"label": _LABEL},
        "required": ["label"],
    },
    "detect": _answer(_items(None)),
    "segment": _answer(_items(_MASK, None)),
    "keypoints": _answer(_items(_KPS, None)),
}

JSON_SCHEMAS: Final = MappingProxyType(_SCHEMAS)


def json_schema(phase: str) -> dict[str, Any]:
    """A copy of the JSON schema of ``phase`` (safe to hand to other code)."""
    return copy.deepcopy(_SCHEMAS[phase])


# ---------------------------------------------------------------------------
# GBNF grammars (llama.cpp syntax)
# ---------------------------------------------------------------------------
#
# Two layouts of the same JSON language:
#
# * "permissive" (default): optional whitespace (<= 20 of space/tab/newline)
#   around every token, i.e. any indentation style the model may choose;
# * "canonical": exactly the layout FADA was trained on, Python's
#   ``json.dumps`` defaults (``", "`` between items, ``": "`` after keys, no
#   other whitespace, one line), and the interpretation's eight keys in the
#   prompt's order (optionally inside upstream's ``{"interpretation": ...}``
#   wrapper). Every separator, key and brace is then the only continuation
#   the grammar allows, so the backend's jump-forward evaluates it in one
#   batch instead of decoding it token by token. The price: an answer the
#   model would have indented is steered into one line (the content is the
#   same; the corpus has such answers, hence not the default).
#
# ``endless_grammar`` is the same language with the outermost container never
# closing (a tail-recursive "more" rule without a way out, so the matcher's
# stack stays flat): benchmarks use it so that every decoding path produces exactly
# ``max_tokens`` tokens (like-for-like timing), which a closable JSON grammar
# cannot guarantee.

LAYOUTS: Final[tuple[str, ...]] = ("permissive", "canonical")

_CHAR = r"""char ::= [^"\\\x7F\x00-\x1F\uD800-\uDFFF] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\""
"""

INTERPRET_KEYS: Final[tuple[str, ...]] = (
    "anatomical_structures", "fetal_orientation", "imaging_plane", "biometric_measurements",
    "gestational_age", "image_quality", "normality_assessment", "clinical_recommendations",
)


@dataclass(frozen=True)
class _Seps:
    """How a layout writes the separators: item comma, key colon, padding inside brackets."""

    comma: str  # between items / pairs
    colon: str  # between a key and its value
    pad: str  # after an opening / before a closing bracket ("" or "ws ")
    rules: str  # extra rules the separators need


_LAYOUT_SEPS: dict[str, _Seps] = {
    "permissive": _Seps(' ws "," ws ', ' ws ":" ws ', "ws ", "ws ::= [ \\t\\n]{0,20}\n"),
    "canonical": _Seps(' ", " ', ' ": " ', "", ""),
}


def _seps(layout: str) -> _Seps:
    try:
        return _LAYOUT_SEPS[layout]
    except KeyError:
        raise ValueError(f"unknown grammar layout {layout!r} (expected one of {', '.join(LAYOUTS)})") from None


def _json_value(s: _Seps) -> str:
    return (
        "value ::= object | array | string | number | \"true\" | \"false\" | \"null\"\n"
        f'object ::= "{{" {s.pad}(pair ({s.comma.strip()} pair)*)? {s.pad}"}}"\n'
        f"pair ::= string {s.colon.strip()} value\n"
        f'array ::= "[" {s.pad}(value ({s.comma.strip()} value)*)? {s.pad}"]"\n'
        'number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?\n'
    )


def _tidy(text: str) -> str:
    """One space between grammar tokens (stable text: the grammar's hash is part of cache keys)."""
    return "\n".join(" ".join(line.split()).replace("( ", "(") for line in text.strip().splitlines()) + "\n"


def _perm_rule(name: str, kvs: tuple[str, ...], s: _Seps) -> str:
    """``name`` = the key-value rules in any order, each exactly once."""
    alts = [s.comma.join(p) for p in itertools.permutations(kvs)]
    return f"{name} ::= " + " | ".join(f"({a})" for a in alts)


def _annotation(kinds: tuple[tuple[str, tuple[str, ...]], ...], s: _Seps, endless: bool) -> str:
    c, k, p = s.comma, s.colon, s.pad
    if endless:
        root = [f'root ::= {p}"[" {p}item more', f"more ::= {c} item more"]
    else:
        root = [
            f"root ::= {p}(item-list | item) {p}".rstrip(),
            f'item-list ::= "[" {p}(item ({c} item)*)? {p}"]"',
        ]
    lines = root + ["item ::= " + " | ".join(f'"{{" {p}{name} {p}"}}"' for name, _ in kinds)]
    lines += [_perm_rule(name, kvs, s) for name, kvs in kinds]
    lines += [
        'coord ::= "1000" | [1-9] [0-9]? [0-9]? | "0"',
        f'box ::= "[" {p}coord {c} coord {c} coord {c} coord {p}"]"',
        f'point ::= "[" {p}coord {c} coord {p}"]"',
        f'kpoint ::= "[" {p}coord {c} coord {c} [0-2] {p}"]"',
        'label ::= "\\"" char+ "\\""',
        f'box-kv ::= ("\\"bbox_2d\\"" | "\\"box_2d\\"") {k} box',
        f'label-kv ::= "\\"label\\"" {k} label',
        f'mask-kv ::= "\\"mask\\"" {k} "[" {p}point ({c} point){{2,}} {p}"]"',
        f'kps-kv ::= "\\"keypoints\\"" {k} "[" {p}kpoint ({c} kpoint)* {p}"]"',
    ]
    return _tidy("\n".join(lines) + "\n" + s.rules + _CHAR)


def _interpret(s: _Seps, layout: str, endless: bool) -> str:
    c, k, p = s.comma, s.colon, s.pad
    if layout == "canonical":
        fields = c.join(f'"\\"{key}\\"" {k} value' for key in INTERPRET_KEYS)
        if endless:
            head = [f'root ::= "{{" {fields} more', f"more ::= {c} pair more"]
        else:
            head = [
                "root ::= fields | \"{\" \"\\\"interpretation\\\"\" " + k + ' fields "}"',
                f'fields ::= "{{" {fields} "}}"',
            ]
    else:
        head = ([f'root ::= {p}"{{" {p}pair more', f"more ::= {c} pair more"] if endless
                else [f"root ::= {p}object {p}".rstrip()])
    return _tidy("\n".join(head) + "\n" + _json_value(s) + s.rules + _CHAR)


def _classify(s: _Seps, endless: bool) -> str:
    c, k, p = s.comma, s.colon, s.pad
    root = (f'root ::= {p}"{{" {p}label-kv more\nmore ::= {c} pair more' if endless
            else f'root ::= {p}"{{" {p}label-kv ({c} pair)* {p}"}}" {p}')
    return _tidy(
        f"{root}\n"
        f'label-kv ::= "\\"label\\"" {k} "\\"" char+ "\\""\n' + _json_value(s) + s.rules + _CHAR
    )


_DET = ("det-body", ("box-kv", "label-kv"))
_SEG = ("seg-body", ("box-kv", "label-kv", "mask-kv"))
_KP = ("kp-body", ("box-kv", "label-kv", "kps-kv"))
_KINDS = {"detect": (_DET,), "segment": (_SEG, _DET), "keypoints": (_KP, _DET)}


def _build(phase: str, layout: str, endless: bool) -> str:
    s = _seps(layout)
    if phase == "interpret":
        return _interpret(s, layout, endless)
    if phase == "classify":
        return _classify(s, endless)
    if phase in _KINDS:
        return _annotation(_KINDS[phase], s, endless)
    raise KeyError(phase)


_GRAMMARS: dict[tuple[str, str], str] = {(ph, lay): _build(ph, lay, False) for ph in PHASES for lay in LAYOUTS}

GRAMMARS: Final = MappingProxyType({ph: _GRAMMARS[(ph, "permissive")] for ph in PHASES})


def grammar(phase: str, layout: str = "permissive") -> str:
    """The GBNF grammar (root rule ``root``) constraining ``phase``'s answer in ``layout``."""
    _seps(layout)
    return _GRAMMARS[(phase, layout)]


def endless_grammar(phase: str, layout: str = "permissive", max_chars: int | None = None) -> str:
    """Benchmark variant of :func:`grammar`: the outermost object/list never closes.

    Every string it accepts is a prefix of an answer :func:`grammar` accepts,
    but generation can only stop at ``max_tokens``. ``max_chars`` bounds every
    JSON string (random-weight models never close a string by themselves; a
    bound makes keys, separators and boxes recur as often as in real answers).
    """
    text = _build(phase, layout, True)
    if max_chars is not None:
        if max_chars < 1:
            raise ValueError("max_chars must be >= 1")
        text = text.replace("char*", f"char{{0,{max_chars}}}").replace("char+", f"char{{1,{max_chars}}}")
    return text
