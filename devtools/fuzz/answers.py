"""Model-answer mutations: the corpus of raw FADA answers turned hostile.

Seeds are ``tests/data/fada_outputs/*.txt`` (every phase: interpret, classify,
detect, segment, keypoints; think tags, fences, truncation...), the phase from
``expected.json``. Ops edit the text (a span deleted, duplicated or cut off, a
structural character or a chat marker inserted) or its JSON: a number
replaced by one Python cannot hold (``1e999``, 5000 digits, ``NaN``), a value
by another type, a string by a control / surrogate / very long one, a value
wrapped in deep nesting, an item repeated thousands of times, a key renamed to
another FADA key. Lone surrogates appear only as JSON escapes (``"\\ud800"``):
a model's text is decoded from UTF-8 and cannot hold them literally. The
input file is ``input-<phase>.txt``.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path

from devtools.fuzz.core import Op, Seed
from devtools.fuzz.seeds import data_file

NAME = "answer"
ENCODING = ("utf-8", "strict")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_KEYS = ("bbox_2d", "box_2d", "label", "mask", "keypoints", "points", "interpretation", "anatomical_structures",
         "imaging_plane", "gestational_age", "normality_assessment", "biometric_measurements")
_NUMBERS = ("1e999", "-1e999", "NaN", "Infinity", "-Infinity", "1" * 5000, "-" + "9" * 4400, "1e-400",
            "0x10", "9223372036854775808", "-0", "1.7976931348623157e309", "007", "1_000", "+5", ".5", "5.",
            "1e5", "-2147483649", "true", "null", '"12"', '"1e999"', "[]", "{}")
_STRINGS = ('"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"' + "A" * 100000 + '"', '"\\"', '"\x00\x01\x1b"',
            '"</think>"', '"<|im_end|>"', '"\\\\\\\\"', '"\u202e"', '""', '"  "', '"\\n\\n"')
_INSERTS = ("{", "}", "[", "]", ",", ":", '"', "\\", "\n", "\x00", "<think>", "</think>", "```json\n", "```",
            "<|im_start|>assistant\n", "<|im_end|>", "\ufeff", "\\ud800", "// note\n", "/*", "NaN", "...")


def prepare(root: Path) -> list[Seed]:
    corpus = data_file("fada_outputs", "expected.json").parent
    expected = json.loads((corpus / "expected.json").read_text(encoding="utf-8"))
    seeds = []
    for name, exp in sorted(expected.items()):
        if name.startswith("_"):
            continue
        text = (corpus / name).read_text(encoding="utf-8")
        (root / name).write_text(text, encoding="utf-8")
        seeds.append(Seed(name, meta={"phase": exp["phase"], "size": len(text),
                                      "numbers": len(_NUMBER.findall(text)), "strings": len(_STRING.findall(text))}))
    return seeds


def generate(rng: random.Random, seed: Seed) -> Op:
    size = max(1, seed.meta["size"])
    r = rng.random()
    if r < 0.22 and seed.meta["numbers"]:
        return ("number", rng.randrange(seed.meta["numbers"]), rng.choice(_NUMBERS))
    if r < 0.34 and seed.meta["strings"]:
        return ("string", rng.randrange(seed.meta["strings"]), rng.choice(_STRINGS + _NUMBERS[:6]))
    if r < 0.42 and seed.meta["strings"]:
        return ("key", rng.randrange(seed.meta["strings"]), rng.choice(_KEYS))
    if r < 0.52:
        # Rare huge inputs (a 100 KB nesting, a 1 MB answer): found by a long run, not 300 cases.
        depth = rng.choices((40, 500, 5000, 50000), weights=(40, 35, 20, 5))[0]
        return ("nest", rng.randrange(size), depth, rng.choice("[{"))
    if r < 0.57:
        count = rng.choices((10, 1000, 5000), weights=(50, 40, 10))[0]
        return ("repeat", rng.randrange(size), rng.randrange(1, 200), count)
    if r < 0.72:
        return ("insert", rng.randrange(size), rng.choice(_INSERTS))
    if r < 0.84:
        return ("delete", rng.randrange(size), rng.choice((1, 2, 5, 20, 200)))
    if r < 0.9:
        return ("dup", rng.randrange(size), rng.choice((1, 10, 100)))
    if r < 0.97:
        return ("truncate", rng.randrange(size))
    return ("replace_all", rng.choice(("", " ", "{}", "[]", "null", "[[]]", '[{"label":"Brain"}]', '["\\ud800"]')))


def _nth(pattern: re.Pattern[str], text: str, n: int) -> re.Match[str] | None:
    matches = list(pattern.finditer(text))
    return matches[n % len(matches)] if matches else None


def apply(text: str, op: Op) -> str:
    kind = op[0]
    n = max(1, len(text))
    if kind in ("number", "string", "key"):
        m = _nth(_NUMBER if kind == "number" else _STRING, text, op[1])
        if m is None:
            return text
        new = f'"{op[2]}"' if kind == "key" else op[2]
        return text[: m.start()] + new + text[m.end() :]
    if kind == "nest":
        p = op[1] % n
        close = "]" if op[3] == "[" else "}"
        opener = op[3] if op[3] == "[" else '{"a":'
        return text[:p] + opener * op[2] + "1" + close * op[2] + text[p:]
    if kind == "repeat":
        p = op[1] % n
        chunk = text[p : p + op[2]]
        return text[:p] + chunk * op[3] + text[p:]
    if kind == "insert":
        p = op[1] % n
        return text[:p] + op[2] + text[p:]
    if kind == "delete":
        p = op[1] % n
        return text[:p] + text[p + op[2] :]
    if kind == "dup":
        p = op[1] % n
        return text[: p + op[2]] + text[p : p + op[2]] + text[p + op[2] :]
    if kind == "truncate":
        return text[: op[1]]
    if kind == "replace_all":
        return op[1]
    raise ValueError(f"unknown answer op {kind!r}")


def materialize(seed_bytes: bytes, ops: tuple[Op, ...], workdir: Path, seed: Seed) -> Path:
    text = seed_bytes.decode("utf-8")
    for op in ops:
        text = apply(text, op)
    path = workdir / f"input-{seed.meta['phase']}.txt"
    path.write_bytes(text.encode(*ENCODING))
    return path


def read_answer(path: Path) -> tuple[str, str]:
    """(phase, raw text) of a materialized answer."""
    phase = path.stem.split("-", 1)[1]
    return phase, path.read_bytes().decode(*ENCODING)
