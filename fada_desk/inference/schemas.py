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
JSON that :mod:`fada_desk.inference.parsing` turns into predictions without an
item error; ``tests/inference/test_corpus.py`` checks the corpus against both
forms (they agree, except that the schema cannot express key order).
"""

from __future__ import annotations

import copy
import itertools
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

_COMMON = r"""
ws ::= [ \t\n]{0,20}
char ::= [^"\\\x7F\x00-\x1F\uD800-\uDFFF] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
string ::= "\"" char* "\""
"""

_ANNOTATION_COMMON = r"""
coord ::= "1000" | [1-9] [0-9]? [0-9]? | "0"
box ::= "[" ws coord ws "," ws coord ws "," ws coord ws "," ws coord ws "]"
point ::= "[" ws coord ws "," ws coord ws "]"
kpoint ::= "[" ws coord ws "," ws coord ws "," ws [0-2] ws "]"
label ::= "\"" char+ "\""
box-kv ::= ("\"bbox_2d\"" | "\"box_2d\"") ws ":" ws box
label-kv ::= "\"label\"" ws ":" ws label
mask-kv ::= "\"mask\"" ws ":" ws "[" ws point (ws "," ws point){2,} ws "]"
kps-kv ::= "\"keypoints\"" ws ":" ws "[" ws kpoint (ws "," ws kpoint)* ws "]"
"""

_JSON_VALUE = r"""
value ::= object | array | string | number | "true" | "false" | "null"
object ::= "{" ws (pair (ws "," ws pair)*)? ws "}"
pair ::= string ws ":" ws value
array ::= "[" ws (value (ws "," ws value)*)? ws "]"
number ::= "-"? ("0" | [1-9] [0-9]*) ("." [0-9]+)? ([eE] [-+]? [0-9]+)?
"""


def _perm_rule(name: str, kvs: tuple[str, ...]) -> str:
    """``name`` = the key-value rules in any order, each exactly once."""
    alts = [' ws "," ws '.join(p) for p in itertools.permutations(kvs)]
    return f"{name} ::= " + " | ".join(f"({a})" for a in alts)


def _annotation_grammar(kinds: tuple[tuple[str, tuple[str, ...]], ...]) -> str:
    lines = [
        "root ::= ws (item-list | item) ws",
        'item-list ::= "[" ws (item (ws "," ws item)*)? ws "]"',
        "item ::= " + " | ".join(f'"{{" ws {name} ws "}}"' for name, _ in kinds),
    ]
    lines += [_perm_rule(name, kvs) for name, kvs in kinds]
    return "\n".join(lines) + "\n" + _ANNOTATION_COMMON.strip() + "\n" + _COMMON.strip() + "\n"


_DET = ("det-body", ("box-kv", "label-kv"))
_SEG = ("seg-body", ("box-kv", "label-kv", "mask-kv"))
_KP = ("kp-body", ("box-kv", "label-kv", "kps-kv"))

_GRAMMARS: dict[str, str] = {
    "interpret": "root ::= ws object ws\n" + _JSON_VALUE.strip() + "\n" + _COMMON.strip() + "\n",
    "classify": (
        'root ::= ws "{" ws label-kv (ws "," ws pair)* ws "}" ws\n'
        'label-kv ::= "\\"label\\"" ws ":" ws "\\"" char+ "\\""\n'
        + _JSON_VALUE.strip()
        + "\n"
        + _COMMON.strip()
        + "\n"
    ),
    "detect": _annotation_grammar((_DET,)),
    "segment": _annotation_grammar((_SEG, _DET)),
    "keypoints": _annotation_grammar((_KP, _DET)),
}

GRAMMARS: Final = MappingProxyType(_GRAMMARS)


def grammar(phase: str) -> str:
    """The GBNF grammar (root rule ``root``) constraining ``phase``'s answer."""
    return _GRAMMARS[phase]
