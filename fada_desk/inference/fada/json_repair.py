"""Model text -> one JSON value: upstream's cleaning and extraction, plus structural repair.

A strict superset of upstream FADA (``webapp/output_parser.py`` ``_extract_json``,
``webapp/class_mapper.py:parse_interpretation_json``, ``infer.py:_clean_generation``):
whatever upstream extracts is extracted to the same value. When upstream's
strategies fail, a structural scanner repairs the usual small-model failures:
leaked ``<think>`` blocks, repeated ``assistant`` turns, Markdown code fences,
trailing commas, several JSON values in a row and output cut off by the token
limit (the last complete element is kept, the rest dropped; the result is then
flagged ``truncated``). Each repair is recorded as a note so the UI can say why.
Turning the value into predictions is :mod:`fada_desk.inference.fada.parsing`'s.

Hostile text (a model without grammar, a damaged cache entry, a remote server)
never raises and never takes more than linear time: values nested deeper than
:data:`MAX_JSON_DEPTH`, integers beyond Python's int/str conversion limit and
the like are refused with a reason (:attr:`Extracted.reason`); ``NaN`` /
``Infinity`` / ``1e999`` become their JSON spelling as text, so every value
extracted is finite and can be saved as strict JSON.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any

MAX_JSON_DEPTH = 32  # FADA answers nest 4 deep (list > item > keypoints > point)

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


def _remove_think_blocks(text: str) -> str:
    """``_THINK_BLOCK.sub("", text)`` in linear time (the regex is quadratic on many open tags)."""
    out: list[str] = []
    i = 0
    while (a := text.find("<think>", i)) != -1 and (b := text.find("</think>", a + 7)) != -1:
        out.append(text[i:a])
        i = b + 8
        while i < len(text) and text[i].isspace():
            i += 1
    out.append(text[i:])
    return "".join(out)


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
        text = _remove_think_blocks(text)
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
    reason: str = ""  # when value is None: why a JSON value that was there could not be used


class _Refused(json.JSONDecodeError):
    """Well-formed enough to parse, but not a value we can use (too deep, too large)."""

    def __init__(self, reason: str, doc: str) -> None:
        super().__init__(reason, doc, 0)
        self.reason = " ".join(reason.split())  # one line: it ends up in a parse error


def _constant(name: str) -> str:
    return name  # NaN, Infinity, -Infinity: kept as text (never a number)


_DECODER = json.JSONDecoder(parse_constant=_constant)  # one decoder: json.loads(...) builds one per call


def _loads(text: str, why: list[str] | None = None) -> Any:
    """``json.loads`` that raises only JSONDecodeError (a :class:`_Refused` one says why)."""
    try:
        try:
            value = _DECODER.decode(text)
        except RecursionError:
            raise _Refused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", text) from None
        except json.JSONDecodeError:
            raise
        except ValueError as exc:  # an integer beyond sys.get_int_max_str_digits()
            raise _Refused(f"unusable JSON number ({exc})", text) from None
        if _too_deep(value):
            raise _Refused(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", text)
        return _sanitized(value)
    except _Refused as exc:
        if why is not None:
            why.append(exc.reason)
        raise


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, (list, dict)):
            if depth > MAX_JSON_DEPTH:
                return True
            stack.extend((x, depth + 1) for x in (v.values() if isinstance(v, dict) else v))
    return False


_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _sanitized(value: Any) -> Any:
    """Lone UTF-16 surrogates -> U+FFFD, non-finite floats (``1e999``) -> their JSON spelling.

    JSON may spell a lone surrogate as an escape (``"\\udeab"``); ``json.loads`` keeps
    it, and no UTF-8 file, SQLite text or PDF can hold it (saving the analysis
    failed on such an answer from random weights). Proper pairs were already
    combined into one character by ``json.loads``. Depth is bounded (:func:`_too_deep`).
    """
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value) if _LONE_SURROGATE.search(value) else value
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, list):
        return [_sanitized(v) for v in value]
    if isinstance(value, dict):
        return {_sanitized(k): _sanitized(v) for k, v in value.items()}
    return value


def _string_end(text: str, start: int) -> int | None:
    """Index just past the closing quote of the JSON string whose body starts at ``start``.

    None when the text ends inside the string.
    """
    esc = False
    for j in range(start, len(text)):
        c = text[j]
        if esc:
            esc = False
        elif c == "\\":
            esc = True
        elif c == '"':
            return j + 1
    return None


def _strip_trailing_commas(text: str) -> str:
    """Remove ``,`` before ``]``/``}`` outside strings."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == '"':
            end = _string_end(text, i + 1)
            out.append(text[i:end])
            if end is None:
                break
            i = end
            continue
        if c == ",":
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
    closers`` is the longest prefix that ends on a complete element;
    ``(-1, None)`` when it nests deeper than :data:`MAX_JSON_DEPTH`.
    """
    stack: list[str] = []
    states: list[str] = []  # per container: k(ey) c(olon) v(alue) a(fter value)
    pending_scalar = False
    safe: tuple[int, str] | None = None
    j, n = begin, len(text)
    while j < n:
        c = text[j]
        if pending_scalar and c in ",]} \t\r\n":
            pending_scalar = False
            states[-1] = "a"
            if stack[-1] == "{":
                # numbers inside arrays are coordinates: a half point/box is not kept
                safe = (j, _closers(stack))
        if c == '"':
            is_key = stack[-1] == "{" and states[-1] == "k"
            end = _string_end(text, j + 1)
            if end is None:
                break
            states[-1] = "c" if is_key else "a"
            if not is_key:
                safe = (end, _closers(stack))
            j = end
            continue
        if c in "[{":
            if len(stack) >= MAX_JSON_DEPTH:
                return -1, None  # deeper than any usable value
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
    why: list[str] = []
    ext = _extract(text.strip(), prefer, why)
    if ext.value is None and why:
        return Extracted(None, ext.notes, ext.truncated, why[-1])
    return ext


def _extract(text: str, prefer: str, why: list[str]) -> Extracted:
    def loads(t: str) -> Any:
        return _loads(t, why)

    try:
        return Extracted(loads(text))
    except json.JSONDecodeError:
        pass
    if prefer == "array":
        for opener, closer in ("[]", "{}"):
            # upstream's re.search(r"\[.*\]", DOTALL): first opener to last closer (without its
            # quadratic backtracking when no closer follows)
            b0, b1 = text.find(opener), text.rfind(closer)
            if b0 != -1 and b1 > b0:
                try:
                    return Extracted(loads(text[b0 : b1 + 1]))
                except json.JSONDecodeError:
                    pass
        try:
            # upstream uses re.sub(r",\s*([}\]])", ...) here, which also edits ", ]" inside strings;
            # the string-aware version gives the same result everywhere else
            return Extracted(loads(_strip_trailing_commas(text)), ("removed trailing commas",))
        except json.JSONDecodeError:
            pass
    else:
        b0, b1 = text.find("{"), text.rfind("}")
        if b0 != -1 and b1 > b0:
            try:
                return Extracted(loads(text[b0 : b1 + 1]))
            except json.JSONDecodeError:
                pass
    return _repair(text, prefer, why)


class _Finder:
    """Next position of any of some brackets, in amortised linear time over a whole scan."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.next: dict[str, int] = {}

    def __call__(self, pos: int, brackets: str) -> int:
        hits = []
        for b in brackets:  # ``pos`` only grows during a scan: a cached hit at or after it still holds
            p = self.next.get(b)
            if p is None or (p != -1 and p < pos):
                p = self.next[b] = self.text.find(b, pos)
            if p != -1:
                hits.append(p)
        return min(hits) if hits else -1


def _repair(text: str, prefer: str, why: list[str]) -> Extracted:
    def loads(t: str) -> Any:
        return _loads(t, why)

    notes: list[str] = []
    fixed = _strip_trailing_commas(text)
    if fixed != text:
        notes.append("removed trailing commas")
    values: list[Any] = []
    truncated = False
    find = _Finder(fixed)
    pos = find(0, "{" if prefer == "object" and "{" in fixed else "[{")
    while pos != -1:
        end, safe = _scan_one(fixed, pos)
        if end == -1:
            why.append(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
            break
        if end is not None:
            try:
                values.append(loads(fixed[pos:end]))
            except json.JSONDecodeError:
                pass
            pos = find(end, "[{")
            continue
        if safe is not None:
            cut, closers = safe
            try:
                values.append(loads(_strip_trailing_commas(fixed[pos:cut]) + closers))
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
