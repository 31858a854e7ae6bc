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
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

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
    closers`` is the longest prefix that ends on a complete element.
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
