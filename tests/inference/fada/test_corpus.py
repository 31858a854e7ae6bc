"""The parser, the mapper and the output constraints on a corpus of realistic raw FADA answers.

tests/data/fada_outputs/*.txt are raw model answers (think tags, repeated
assistant turns, code fences, Markdown, trailing commas, truncation, JSON
lines, nested/wrapped values...); expected.json holds hand-written
expectations, including the class mapping computed by hand.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from fada_desk.inference.fada.answers import parse_answer
from fada_desk.inference.fada.json_repair import clean_output, extract_json
from fada_desk.inference.fada.mapper import map_interpretation_to_classes
from fada_desk.inference.fada.results import PhaseResult
from fada_desk.inference.fada.schemas import grammar, json_schema

from ._gbnf import Grammar

CORPUS = Path(__file__).resolve().parents[2] / "data" / "fada_outputs"
EXPECTED: dict[str, dict[str, Any]] = {
    k: v for k, v in json.loads((CORPUS / "expected.json").read_text()).items() if not k.startswith("_")
}
GRAMMARS = {p: Grammar(grammar(p)) for p in ("interpret", "classify", "detect", "segment", "keypoints")}


def _raw(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


def test_corpus_is_complete() -> None:
    files = sorted(p.name for p in CORPUS.glob("*.txt") if p.name != "LICENSE.txt")
    assert files == sorted(EXPECTED)
    assert len(files) >= 30
    kinds = {e["phase"] for e in EXPECTED.values()}
    assert kinds == {"interpret", "classify", "detect", "segment", "keypoints"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_parse_corpus(name: str) -> None:
    exp = EXPECTED[name]
    res = parse_answer(PhaseResult(exp["phase"], raw_text=_raw(name)), 1000, 1000)
    assert res.parse_ok == exp["parse_ok"], res.parse_errors
    assert res.truncated == exp.get("truncated", False)
    for note in exp.get("notes", []):
        assert note in res.notes, res.notes
    if exp["phase"] == "interpret":
        got = (
            0
            if res.interpretation is None
            else sum(
                k in res.interpretation
                for k in (
                    "anatomical_structures",
                    "fetal_orientation",
                    "imaging_plane",
                    "biometric_measurements",
                    "gestational_age",
                    "image_quality",
                    "normality_assessment",
                    "clinical_recommendations",
                )
            )
        )
        assert got == exp["fields"]
    elif exp["phase"] == "classify":
        assert res.label == exp["label"]
        assert res.label_source == exp["label_source"]
    else:
        p = res.predictions_norm
        assert p is not None
        assert [len(p.detections), len(p.segmentations), len(p.keypoints)] == exp["counts"]
        assert p.labels == exp["labels"]
        assert len(p.errors) == exp["errors"], p.errors
        items = [*p.detections, *p.segmentations, *p.keypoints]
        if "first_box" in exp:
            assert list(items[0].box) == exp["first_box"]
        if "points" in exp:
            first = items[0]
            assert len(first.polygon if hasattr(first, "polygon") else first.points) == exp["points"]
        # 1000 x 1000 frame: pixel == model coordinates
        assert res.predictions is not None and [d.box for d in res.predictions.detections] == [
            d.box for d in p.detections
        ]


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if "mapping" in e))
def test_mapping_of_corpus_interpretations(name: str) -> None:
    exp = EXPECTED[name]["mapping"]
    res = parse_answer(PhaseResult("interpret", raw_text=_raw(name)), 1000, 1000)
    assert res.interpretation is not None
    m = map_interpretation_to_classes(res.interpretation, None)
    assert (m.tier, m.det_classes, m.seg_classes) == (exp["tier"], exp["det"], exp["seg"])
    assert m.disambiguated == exp.get("disambiguated", False)
    assert m.dampened == exp.get("dampened", False)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_schema_and_grammar_agree_with_corpus(name: str) -> None:
    """The constraint accepts every well-formed answer; the JSON schema and the GBNF agree."""
    exp = EXPECTED[name]
    phase = exp["phase"]
    cleaned = clean_output(_raw(name)).text
    value = extract_json(cleaned, prefer="object" if phase in ("interpret", "classify") else "array").value
    if value is None:
        assert not exp["schema_valid"]
        return
    valid = jsonschema.Draft202012Validator(json_schema(phase)).is_valid(value)
    assert valid == exp["schema_valid"]
    for text in (json.dumps(value), json.dumps(value, indent=2), json.dumps(value, separators=(",", ":"))):
        assert GRAMMARS[phase].accepts(text) == valid, text[:200]
    try:
        json.loads(cleaned)
        strict = True
    except ValueError:
        strict = False
    if strict and valid:
        assert GRAMMARS[phase].accepts(cleaned), "the model's own formatting must be accepted"


def test_grammar_language_parses_without_item_errors() -> None:
    """Strings the annotation grammars accept always parse into predictions without errors."""
    samples = {
        "detect": [
            "[]",
            '{"box_2d": [0, 0, 1000, 1000], "label": "a"}',
            '[{"label": "x", "bbox_2d": [1, 2, 3, 4]}, {"bbox_2d": [999, 10, 100, 0], "label": "\\u00e9"}]',
        ],
        "segment": [
            '[{"mask": [[1, 2], [3, 4], [5, 6]], "label": "Brain", "bbox_2d": [1, 2, 3, 4]}]',
            '[{"bbox_2d": [1, 2, 3, 4], "label": "Brain"}]',
        ],
        "keypoints": ['[{"bbox_2d": [1, 2, 3, 4], "keypoints": [[1, 2, 0]], "label": "NTKpoints"}]'],
    }
    for phase, texts in samples.items():
        for t in texts:
            assert GRAMMARS[phase].accepts(t), t
            res = parse_answer(PhaseResult(phase, raw_text=t), 500, 400)
            assert res.parse_ok and not res.parse_errors, (t, res.parse_errors)
    rejected = {
        "detect": [
            '[{"bbox_2d": [1, 2, 3], "label": "a"}]',
            '[{"bbox_2d": [1, 2, 3, 1001], "label": "a"}]',
            '[{"bbox_2d": [1.5, 2, 3, 4], "label": "a"}]',
            '[{"bbox_2d": [1, 2, 3, 4], "label": ""}]',
            '[{"bbox_2d": [1, 2, 3, 4]}]',
            '[{"bbox_2d": [-1, 2, 3, 4], "label": "a"}]',
            '[{"bbox_2d": [01, 2, 3, 4], "label": "a"}]',
            '[{"bbox_2d": [1, 2, 3, 4], "label": "a", "score": 1}]',
        ],
        "segment": ['[{"bbox_2d": [1, 2, 3, 4], "label": "a", "mask": [[1, 2], [3, 4]]}]'],
        "keypoints": ['[{"bbox_2d": [1, 2, 3, 4], "label": "a", "keypoints": [[1, 2, 3]]}]'],
        "classify": ['{"labels": "x"}', '{"label": 5}', "BPD_PLANE", '{"view": "x", "label": "a"}'],
        "interpret": ["[1, 2]", '{"a": 1,}', '{"a": "line\nbreak"}'],
    }
    for phase, texts in rejected.items():
        for t in texts:
            assert not GRAMMARS[phase].accepts(t), t


# ---------------------------------------------------------------------------
# Superset of upstream: re-coded from webapp/output_parser.py, class_mapper.py, inference.py
# ---------------------------------------------------------------------------


def _upstream_clean(text: str) -> str:
    text = re.sub(r"^<think>\s*</think>\s*", "", text.strip())
    idx = text.find("\nassistant\n")
    if idx != -1:
        text = text[:idx]
    if text.startswith("assistant\n"):
        text = text[len("assistant\n") :]
    return text.strip()


def _upstream_extract_array(text: str) -> Any:
    text = text.strip()
    for candidate in (text,):
        try:
            return json.loads(candidate)
        except json.JSONDecodeError:
            pass
    for pattern in (r"\[.*\]", r"\{.*\}"):
        m = re.search(pattern, text, re.DOTALL)
        if m:
            try:
                return json.loads(m.group())
            except json.JSONDecodeError:
                pass
    try:
        return json.loads(re.sub(r",\s*([}\]])", r"\1", text))
    except json.JSONDecodeError:
        return None


def _upstream_extract_object(text: str) -> Any:
    text = text.strip()
    try:
        d = json.loads(text)
        if isinstance(d, dict):
            return d
    except json.JSONDecodeError:
        pass
    a, b = text.find("{"), text.rfind("}")
    if a != -1 and b > a:
        try:
            d = json.loads(text[a : b + 1])
            if isinstance(d, dict):
                return d
        except json.JSONDecodeError:
            pass
    return None


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_everything_upstream_parses_we_parse_identically(name: str) -> None:
    phase = EXPECTED[name]["phase"]
    up_text = _upstream_clean(_raw(name))
    prefer = "object" if phase in ("interpret", "classify") else "array"
    upstream = _upstream_extract_object(up_text) if prefer == "object" else _upstream_extract_array(up_text)
    ours = extract_json(clean_output(_raw(name)).text, prefer=prefer).value
    if upstream is not None:
        if phase == "interpret" and isinstance(ours, dict) and "interpretation" in upstream:
            return  # upstream keeps the wrapper; we additionally unwrap it later (normalize_interpretation)
        assert ours == upstream
