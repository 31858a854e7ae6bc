"""JSON schema -> GBNF for compact, key-ordered JSON.

Why our own converter: llama-cpp-python's allows optional whitespace
everywhere, so nothing is ever "forced" and jump-forward decoding cannot skip
the keys; it also ignores integer ``minimum``/``maximum``. This one emits
compact JSON (``{"a":1,"b":"x"}``) with properties in schema order, so every
key, colon and comma is forced, and it enforces integer ranges exactly.

Supported: type (incl. lists of types), properties/required (closed objects),
enum, const, items, minItems/maxItems, minLength/maxLength, integer
minimum/maximum/exclusive*, number minimum >= 0 (no sign), anyOf/oneOf,
$ref into #/$defs or #/definitions, boolean, null. Anything else falls back to
llama-cpp-python's converter (whitespace-tolerant, still correct JSON).
"""

from __future__ import annotations

import json
import math
from typing import Any

from fada_desk.inference.llama.gbnf import GrammarError

_UNSUPPORTED = {"pattern", "patternProperties", "allOf", "not", "if", "then", "else", "format",
                "dependentSchemas", "dependentRequired", "prefixItems", "contains", "multipleOf",
                "propertyNames", "unevaluatedProperties", "minProperties", "maxProperties"}

_PRIMITIVES = {
    "boolean": '("true" | "false")',
    "null": '"null"',
    "json-char": r'[^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})',
    "json-string": '"\\"" json-char* "\\""',
    "json-int": '"-"? ("0" | [1-9] [0-9]{0,15})',
    "json-frac": '"." [0-9]{1,16}',
    "json-exp": '[eE] [-+]? [0-9]{1,3}',
    "json-number": 'json-int json-frac? json-exp?',
    "json-unumber": '("0" | [1-9] [0-9]{0,15}) json-frac? json-exp?',
    "json-value": 'json-object | json-array | json-string | json-number | boolean | null',
    "json-object": '"{" (json-string ":" json-value ("," json-string ":" json-value)*)? "}"',
    "json-array": '"[" (json-value ("," json-value)*)? "]"',
}
_DEPS = {
    "json-string": ["json-char"], "json-number": ["json-int", "json-frac", "json-exp"],
    "json-unumber": ["json-frac", "json-exp"],
    "json-value": ["json-object", "json-array", "json-string", "json-number", "boolean", "null"],
    "json-object": ["json-string", "json-value"], "json-array": ["json-value"],
}


class _Fallback(Exception):
    pass


def _lit(value: str) -> str:
    """A GBNF string literal for ``value``."""
    out = []
    for ch in value:
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02X}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json_lit(value: Any) -> str:
    return _lit(json.dumps(value, ensure_ascii=False, separators=(",", ":")))


def _digits_range(lo: str, hi: str) -> list[str]:
    """GBNF sequences matching the equal-length digit strings in [lo, hi]."""
    if not lo:
        return [""]
    if lo[0] == hi[0]:
        return [f'"{lo[0]}" {rest}'.strip() for rest in _digits_range(lo[1:], hi[1:])]
    n = len(lo) - 1
    out: list[str] = []
    all_lo, all_hi = "0" * n, "9" * n
    # first digit lo[0] with tail >= lo[1:]
    if lo[1:] == all_lo:
        start = int(lo[0])
    else:
        out += [f'"{lo[0]}" {r}'.strip() for r in _digits_range(lo[1:], all_hi)]
        start = int(lo[0]) + 1
    end = int(hi[0]) if hi[1:] == all_hi else int(hi[0]) - 1
    if start <= end:
        tail = " [0-9]" * n
        first = f'"{start}"' if start == end else f"[{start}-{end}]"
        out.append((first + tail).strip())
    if hi[1:] != all_hi:
        out += [f'"{hi[0]}" {r}'.strip() for r in _digits_range(all_lo, hi[1:])]
    return out


def _uint_range(lo: int, hi: int) -> list[str]:
    """Alternatives matching canonical decimal integers in [lo, hi] (0 <= lo <= hi)."""
    out: list[str] = []
    for width in range(len(str(lo)), len(str(hi)) + 1):
        a = max(lo, 10 ** (width - 1) if width > 1 else 0)
        b = min(hi, 10 ** width - 1)
        if a <= b:
            out += _digits_range(str(a).zfill(width), str(b).zfill(width))
    return out


class _Converter:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema
        self.rules: dict[str, str] = {}
        self.refs: dict[str, str] = {}
        self.used_prims: set[str] = set()

    def _prim(self, name: str) -> str:
        todo = [name]
        while todo:
            n = todo.pop()
            if n not in self.used_prims:
                self.used_prims.add(n)
                todo += _DEPS.get(n, [])
        return name

    def _add(self, hint: str, body: str) -> str:
        base = "".join(c if c.isalnum() else "-" for c in hint).strip("-") or "r"
        name, i = base, 1
        while name in self.rules and self.rules[name] != body:
            i += 1
            name = f"{base}{i}"
        self.rules[name] = body
        return name

    def _resolve(self, ref: str) -> dict[str, Any]:
        if not ref.startswith("#/"):
            raise _Fallback()
        node: Any = self.root
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, dict) or part not in node:
                raise GrammarError(f"JSON schema $ref {ref!r} does not resolve")
            node = node[part]
        return node

    def visit(self, schema: Any, hint: str) -> str:
        """Return a GBNF expression (usually a rule name) for ``schema``."""
        if schema is True or schema == {}:
            return self._prim("json-value")
        if not isinstance(schema, dict):
            raise GrammarError(f"invalid JSON schema node at {hint}: {schema!r}")
        if _UNSUPPORTED & set(schema):
            raise _Fallback()
        if "$ref" in schema:
            ref = schema["$ref"]
            if ref not in self.refs:
                name = self._add("ref-" + ref.rsplit("/", 1)[-1], "")
                self.refs[ref] = name
                self.rules[name] = self.visit(self._resolve(ref), name)
            return self.refs[ref]
        if "const" in schema:
            return self._add(hint, _json_lit(schema["const"]))
        if "enum" in schema:
            vals = schema["enum"]
            if not vals:
                raise GrammarError(f"empty enum at {hint}")
            return self._add(hint, " | ".join(_json_lit(v) for v in vals))
        for key in ("anyOf", "oneOf"):
            if key in schema:
                alts = [self.visit(s, f"{hint}-{i}") for i, s in enumerate(schema[key])]
                return self._add(hint, " | ".join(alts))
        typ = schema.get("type")
        if isinstance(typ, list):
            alts = [self.visit({**schema, "type": t}, f"{hint}-{t}") for t in typ]
            return self._add(hint, " | ".join(alts))
        if typ is None:
            if "properties" in schema:
                typ = "object"
            elif "items" in schema:
                typ = "array"
            else:
                return self._prim("json-value")
        handler = getattr(self, f"_t_{typ}", None)
        if handler is None:
            raise GrammarError(f"unsupported JSON schema type {typ!r} at {hint}")
        return handler(schema, hint)

    # -- types
    def _t_object(self, schema: dict[str, Any], hint: str) -> str:
        props: dict[str, Any] = schema.get("properties", {})
        if not props:
            if schema.get("additionalProperties") not in (None, True, False):
                raise _Fallback()
            return self._add(hint, '"{}"') if schema.get("additionalProperties") is False \
                else self._prim("json-object")
        required = set(schema.get("required", []))
        unknown = required - set(props)
        if unknown:
            raise GrammarError(f"required properties not in 'properties': {sorted(unknown)}")
        kvs = [(k, self.visit(v, f"{hint}-{k}")) for k, v in props.items()]
        # Rules tail_i(first): members i.. given whether a member was already written.
        memo: dict[tuple[int, bool], str] = {}

        def tail(i: int, first: bool) -> str:
            if i == len(kvs):
                return ""
            if (i, first) in memo:
                return memo[(i, first)]
            key, val = kvs[i]
            sep = "" if first else '","'
            here = f'{sep} {_lit(json.dumps(key, ensure_ascii=False) + ":")} {val} {tail(i + 1, False)}'.strip()
            if key in required:
                body = here
            else:
                skip = tail(i + 1, first)
                body = f"({here})" + (f" | {skip}" if skip else " | ")
                if not skip:
                    body = f"({here})?"
            name = self._add(f"{hint}-m{i}{'f' if first else ''}", body)
            memo[(i, first)] = name
            return name

        return self._add(hint, f'"{{" {tail(0, True)} "}}"')

    def _t_array(self, schema: dict[str, Any], hint: str) -> str:
        item = self.visit(schema.get("items", True), f"{hint}-item")
        lo = int(schema.get("minItems", 0))
        hi = schema.get("maxItems")
        hi = None if hi is None else int(hi)
        if hi is not None and hi < lo:
            raise GrammarError(f"maxItems < minItems at {hint}")
        if hi == 0:
            return self._add(hint, '"[" "]"')
        rest_lo = max(lo - 1, 0)
        rep = f"{{{rest_lo},}}" if hi is None else f"{{{rest_lo},{hi - 1}}}"
        body = f'{item} ("," {item}){rep}'
        if lo == 0:
            body = f"({body})?"
        return self._add(hint, f'"[" {body} "]"')

    def _t_string(self, schema: dict[str, Any], hint: str) -> str:
        lo = int(schema.get("minLength", 0))
        hi = schema.get("maxLength")
        if lo == 0 and hi is None:
            return self._prim("json-string")
        self._prim("json-char")
        rep = f"{{{lo},}}" if hi is None else f"{{{lo},{int(hi)}}}"
        return self._add(hint, f'"\\"" json-char{rep} "\\""')

    def _t_integer(self, schema: dict[str, Any], hint: str) -> str:
        lo = schema.get("minimum")
        hi = schema.get("maximum")
        if "exclusiveMinimum" in schema:
            lo = math.floor(schema["exclusiveMinimum"]) + 1
        if "exclusiveMaximum" in schema:
            hi = math.ceil(schema["exclusiveMaximum"]) - 1
        if lo is None and hi is None:
            return self._prim("json-int")
        if lo is None or hi is None:
            if lo is not None and lo >= 0:  # open upper bound: no sign, >= lo handled loosely
                if lo <= 1:
                    return self._add(hint, '"0" | [1-9] [0-9]{0,15}' if lo == 0 else '[1-9] [0-9]{0,15}')
            raise _Fallback()
        lo, hi = math.ceil(lo), math.floor(hi)
        if lo > hi:
            raise GrammarError(f"empty integer range at {hint}")
        alts: list[str] = []
        if lo < 0:
            neg_hi = -lo
            neg_lo = max(1, -hi) if hi < 0 else 1
            alts += [f'"-" {a}' for a in _uint_range(neg_lo, neg_hi)]
        if hi >= 0:
            alts += _uint_range(max(lo, 0), hi)
        return self._add(hint, " | ".join(f"({a})" for a in alts))

    def _t_number(self, schema: dict[str, Any], hint: str) -> str:
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        if lo is not None and lo >= 0:
            if hi is not None and hi <= 1 and lo == 0:  # probabilities / confidences: 0..1
                self._prim("json-frac")
                return self._add(hint, '"0" json-frac? | "1" ("." "0"{1,16})?')
            return self._prim("json-unumber")
        return self._prim("json-number")

    def _t_boolean(self, schema: dict[str, Any], hint: str) -> str:
        return self._prim("boolean")

    def _t_null(self, schema: dict[str, Any], hint: str) -> str:
        return self._prim("null")

    def render(self) -> str:
        root = self.visit(self.root, "root")
        lines = [f"root ::= {root}"] if root != "root" else []
        for name, body in self.rules.items():
            lines.append(f"{name} ::= {body}")
        for name in sorted(self.used_prims):
            lines.append(f"{name} ::= {_PRIMITIVES[name]}")
        return "\n".join(lines) + "\n"


def json_schema_to_gbnf(schema: dict[str, Any]) -> str:
    """GBNF text accepting exactly the compact JSON documents valid under ``schema``."""
    try:
        return _Converter(schema).render()
    except _Fallback:
        from llama_cpp.llama_grammar import json_schema_to_gbnf as stock

        try:
            return stock(json.dumps(schema))
        except Exception as exc:  # the stock converter raises plain exceptions
            raise GrammarError(f"unsupported JSON schema: {exc}") from exc
