"""Hostile model answers (no grammar, a damaged cache entry, a remote server): every malformed
answer is a parse error with its reason, nothing escapes, coordinates are finite and inside the
image or the item is dropped with a warning kept in the result."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fada_desk.core.cancel import drive
from fada_desk.inference.fada.answers import INTERNAL_ERROR, MAX_ANSWER_CHARS, parse_answer
from fada_desk.inference.fada.cache import ResultCache, cache_key, cached_answer
from fada_desk.inference.fada.json_repair import MAX_JSON_DEPTH, clean_output, extract_json
from fada_desk.inference.fada.mapper import ClassMapping, map_interpretation_to_classes
from fada_desk.inference.fada.parsing import Predictions
from fada_desk.inference.fada.pipeline import FadaPipeline
from fada_desk.inference.fada.results import AnalysisResult, PhaseResult
from fada_desk.inference.fada.settings import PipelineSettings

from ..fakes import FakeBackend

CORPUS = Path(__file__).resolve().parents[2] / "data" / "fada_outputs"
PHASES = ("interpret", "classify", "detect", "segment", "keypoints")
W, H = 640, 480
HYPO = settings(max_examples=150, deadline=None, database=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def parse(phase: str, text: Any, w: int = W, h: int = H) -> PhaseResult:
    res = parse_answer(PhaseResult(phase, raw_text=text), w, h)
    check_result(res, w, h)
    return res


def check_result(res: PhaseResult, w: int, h: int) -> None:
    """What every parse must give, whatever the text: reasons as text, no parser bug, finite
    coordinates inside the image, values that can be saved as strict JSON."""
    assert all(isinstance(e, str) and e.strip() and "\n" not in e for e in res.parse_errors)
    assert not any(e.startswith(INTERNAL_ERROR) for e in res.parse_errors), res.parse_errors
    if not res.parse_ok:
        assert res.parse_errors, "a failed parse says why"
    if isinstance(res.raw_text, str):
        stored = json.dumps(res.to_dict(), allow_nan=False).encode("utf-8")  # no NaN, no lone surrogate
        assert PhaseResult.from_dict(json.loads(stored)).to_dict() == res.to_dict()  # analysis.json round trip
    p = res.predictions
    if p is not None:
        assert p.space == "pixel" and p.image_size == (w, h)
        coords: list[float] = []
        for item in (*p.detections, *p.segmentations, *p.keypoints):
            coords += item.box
            assert isinstance(item.label, str) and item.label
        pts = [q for s in p.segmentations for q in s.polygon] + [q[:2] for k in p.keypoints for q in k.points]
        assert all(v in (0, 1, 2) for k in p.keypoints for *_xy, v in k.points)
        xs, ys = coords[0::2] + [q[0] for q in pts], coords[1::2] + [q[1] for q in pts]
        assert all(math.isfinite(v) and 0 <= v <= w for v in xs)
        assert all(math.isfinite(v) and 0 <= v <= h for v in ys)
    if res.interpretation is not None:
        map_interpretation_to_classes(res.interpretation, res.label)


# ----------------------------------------------------------------------------- each failure class


@pytest.mark.parametrize("phase", PHASES)
def test_integers_beyond_the_conversion_limit_are_a_parse_error(phase: str) -> None:
    huge = "9" * 5000
    for text in (f'[{{"label": "a", "bbox_2d": [{huge}, 0, 1, 1]}}]', f'{{"label": "x", "n": {huge}}}'):
        res = parse(phase, text)
        assert not res.parse_ok and any("4300 digits" in e for e in res.parse_errors), res.parse_errors


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("text", ["[" * 100_000 + "]" * 100_000, '{"a": ' * 20_000 + "1" + "}" * 20_000,
                                  "[" * 200_000, "[" * (MAX_JSON_DEPTH + 5) + "]" * (MAX_JSON_DEPTH + 5)],
                         ids=["deep-array", "deep-object", "deep-unclosed", "just-too-deep"])
def test_deep_nesting_is_a_parse_error(phase: str, text: str) -> None:
    res = parse(phase, text)
    assert not res.parse_ok
    assert any(f"nested deeper than {MAX_JSON_DEPTH}" in e for e in res.parse_errors), res.parse_errors


def test_non_finite_and_out_of_range_coordinates_drop_the_item_with_a_warning() -> None:
    items = [
        {"label": "inf", "bbox_2d": [1e999, 0, 10, 10]},
        {"label": "nan", "bbox_2d": ["NaN", 0, 10, 10]},
        {"label": "big", "bbox_2d": [0, 0, 1200, 10]},
        {"label": "neg", "bbox_2d": [-5, 0, 10, 10]},
        {"label": "ok", "bbox_2d": [100, 200, 300, 400]},
        {"label": "mask", "bbox_2d": [1, 1, 9, 9], "mask": [[1, 1], [1001, 2], [3, 3]]},
        {"label": "infmask", "bbox_2d": [1, 1, 9, 9], "mask": [[1, 1], [1e999, 2], [3, 3]]},
        {"label": "kp", "bbox_2d": [1, 1, 9, 9], "keypoints": [[1, 2, 2], [5000, 2, 2]]},
    ]
    text = json.dumps(items).replace("Infinity", "1e999")
    res = parse("segment", text)
    assert res.parse_ok
    assert [d.label for d in res.predictions_norm.detections] == ["ok"]  # type: ignore[union-attr]
    assert res.predictions.detections[0].box == (64.0, 96.0, 192.0, 192.0)  # type: ignore[union-attr]
    errors = " | ".join(res.parse_errors)
    assert errors.count("Non-numeric bbox_2d values") == 2  # inf and NaN have no integer value
    assert "Invalid mask polygon: cannot convert float infinity to integer" in errors
    for label in ("big", "neg", "mask", "kp"):
        assert f"Item {label!r} dropped" in errors and "outside the model's 0-1000 range" in errors
    assert len(res.parse_errors) == 7


def test_nan_and_infinity_literals_never_become_numbers() -> None:
    res = parse("interpret", '{"imaging_plane": NaN, "gestational_age": -Infinity, "x": 1e999}')
    assert res.interpretation == {"imaging_plane": "NaN", "gestational_age": "-Infinity", "x": "Infinity"}


WRONG_TYPES = [
    ({"label": ["a"], "bbox_2d": [1, 2, 3, 4]}, "Invalid label"),
    ({"label": True, "bbox_2d": [1, 2, 3, 4]}, "Invalid label"),
    ({"label": " ", "bbox_2d": [1, 2, 3, 4]}, "Invalid label"),
    ({"label": "a", "bbox_2d": {"x": 1}}, "Invalid bbox_2d"),
    ({"label": "a", "bbox_2d": [1, [2], 3, 4]}, "Non-numeric bbox_2d"),
    ({"label": "a", "bbox_2d": [1, None, 3, 4]}, "Non-numeric bbox_2d"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "keypoints": "12"}, "Invalid keypoints"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "keypoints": [{"x": 1}]}, "Invalid keypoints"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "keypoints": [[1, 2, 7]]}, "visibility 7"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "keypoints": [[1, 2, "1e999"]]}, "Invalid keypoints"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "mask": 5}, "Invalid mask polygon"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "mask": [[1, 2], "ab", [5, 6]]}, "Invalid mask polygon"),
    ({"label": "a", "bbox_2d": [1, 2, 3, 4], "mask": [[1, 2], [3, {}], [5, 6]]}, "Invalid mask polygon"),
    (7, "Item is not an object"),
    ([[1, 2, 3, 4]], "Item is not an object"),
]


@pytest.mark.parametrize(("item", "reason"), WRONG_TYPES, ids=[r for _, r in WRONG_TYPES])
def test_wrong_types_anywhere_drop_the_item_with_the_reason(item: Any, reason: str) -> None:
    res = parse("keypoints", json.dumps([item, {"label": "good", "bbox_2d": [10, 10, 20, 20]}]))
    assert res.parse_ok and res.predictions_norm is not None
    assert [d.label for d in res.predictions_norm.detections] == ["good"]
    assert len(res.parse_errors) == 1 and reason in res.parse_errors[0], res.parse_errors


@pytest.mark.parametrize("raw", [None, 42, b"[]", ["x"]])
def test_an_answer_that_is_not_text_is_a_parse_error(raw: Any) -> None:
    res = parse("detect", raw)
    assert not res.parse_ok and "not text" in res.parse_errors[0]


def test_an_absurdly_long_answer_is_refused_without_parsing() -> None:
    res = parse("detect", "[" + '{"label": "a", "bbox_2d": [1, 2, 3, 4]},' * (MAX_ANSWER_CHARS // 40) + "]")
    assert not res.parse_ok and "characters long" in res.parse_errors[0]


PATHOLOGICAL = {  # old code: 30 s on the think tags, 0.6 s (quadratic) on prose + brackets, or raised
    "think tags": "</think>" + "<think>" * 20_000,
    "open brackets": "[" * 100_000,
    "prose, then open brackets": "x" + "[" * 30_000,
    "many arrays, no object": "[]" * 20_000,
    "many objects, no array": "{}" * 20_000,
    "fences": "```\n[" * 20_000,
    "strings in a deep stack": "[" * 50_000 + '"a",' * 50_000,
}


@pytest.mark.parametrize("phase", ["interpret", "detect"])
@pytest.mark.parametrize("name", sorted(PATHOLOGICAL))
def test_pathological_texts_parse_in_linear_time(phase: str, name: str) -> None:
    """Inputs that made the old regexes / scanner quadratic; now they simply parse (linear time)."""
    parse(phase, PATHOLOGICAL[name])


def test_model_coordinates_are_scaled_onto_the_image_and_stay_inside() -> None:
    res = parse("detect", '[{"label": "a", "bbox_2d": [1000, 1000, 0, 0]}]', 1601, 1)
    assert res.predictions.detections[0].box == (0.0, 0.0, 1601.0, 1.0)  # type: ignore[union-attr]
    for w, h in ((0, 10), (10, -1), (True, 5), (2.5, 3)):
        res = parse_answer(PhaseResult("detect", raw_text="[]"), w, h)  # type: ignore[arg-type]
        assert not res.parse_ok and "image size" in res.parse_errors[0]


# ----------------------------------------------------------------------------- stored results


def test_stored_results_with_wrong_types_are_value_errors() -> None:
    good = {"format": "fada-desk-analysis/1", "phases": [{"phase": "detect", "predictions": {
        "space": "pixel", "image_size": [10, 10], "detections": [{"label": "a", "box": [1, 2, 3, 4]}]}}],
        "mapping": {"det_classes": "a", "seg_classes": None, "tier": "t", "priority": 3}}
    assert AnalysisResult.from_dict(good).phases[0].predictions.detections[0].box == (1.0, 2.0, 3.0, 4.0)
    bad_docs = [
        [], {"format": "x"}, {**good, "phases": {}}, {**good, "phases": [5]},
        {**good, "phases": [{"phase": 5}]}, {**good, "phases": [{"phase": "x", "parse_errors": [1]}]},
        {**good, "phases": [{"phase": "x", "seconds": "slow"}]},
        {**good, "phases": [{"phase": "x", "predictions": {"detections": [{"label": "a", "box": [1]}]}}]},
        {**good, "phases": [{"phase": "x", "predictions": {"detections": [{"label": "a", "box": [1, 2, 3, "Infinity"]}]}}]},
        {**good, "phases": [{"phase": "x", "predictions": {"keypoints": [{"label": "a", "box": [1, 2, 3, 4], "points": [[1, 2, 9]]}]}}]},
        {**good, "mapping": {"det_classes": 1, "tier": "t"}}, {**good, "mapping": {"det_classes": "a", "tier": "t", "priority": 99}},
        {**good, "mapping": {"det_classes": "a", "tier": "t", "group_scores": [["g"]]}},
        {**good, "total_seconds": [1]}, {**good, "image": "x"},
    ]
    for doc in bad_docs:
        with pytest.raises(ValueError):
            AnalysisResult.from_dict(doc)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ClassMapping.from_dict("tier")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Predictions.from_dict({"space": "polar"})


# ----------------------------------------------------------------------------- the result cache

CORRUPT_ENTRIES = {
    "not json": b"{broken",
    "not utf-8": b"\xff\xfe{}",
    "deep": b"[" * 100_000 + b"]" * 100_000,
    "huge int": b'{"key": "K", "value": {"raw_text": "x", "n": ' + b"9" * 5000 + b"}}",
    "value not an object": b'{"key": "K", "value": [1, 2]}',
    "raw text not text": b'{"key": "K", "value": {"raw_text": 5}}',
    "stats not an object": b'{"key": "K", "value": {"raw_text": "[]", "stats": [1]}}',
    "seconds not a number": b'{"key": "K", "value": {"raw_text": "[]", "seconds": "slow"}}',
    "seconds infinite": b'{"key": "K", "value": {"raw_text": "[]", "seconds": Infinity}}',
    "wrong key": b'{"key": "other", "value": {"raw_text": "[]"}}',
}


@pytest.mark.parametrize("name", sorted(CORRUPT_ENTRIES))
def test_a_corrupted_cache_entry_is_a_miss(tmp_path: Path, name: str) -> None:
    cache = ResultCache(tmp_path)
    key = cache_key(n=name)
    path = cache._path(key)
    path.parent.mkdir(parents=True)
    path.write_bytes(CORRUPT_ENTRIES[name].replace(b'"K"', json.dumps(key).encode()))
    assert cached_answer(cache.get(key)) is None


def _frame(w: int = 320, h: int = 240) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 7 + y * 3) % 256).astype(np.uint8)


def test_pipeline_regenerates_over_corrupt_cache_entries_and_survives_hostile_cached_text(tmp_path: Path) -> None:
    answers = {p: (CORPUS / f).read_text(encoding="utf-8") for p, f in (
        ("interpret", "01_interpret_clean_brain.txt"), ("classify", "14_classify_clean.txt"),
        ("detect", "20_detect_clean_brain.txt"), ("segment", "30_segment_clean_brain.txt"))}
    backend = FakeBackend(answers=answers)
    backend.load()
    pipe = FadaPipeline(backend, PipelineSettings(), ResultCache(tmp_path / "cache"))
    first = drive(pipe.analyze(_frame()))
    n = len(backend.requests)
    entries = sorted((tmp_path / "cache").glob("*/*.json"))
    assert len(entries) == n
    for k, path in enumerate(entries):  # every kind of damage, one per entry
        path.write_bytes(list(CORRUPT_ENTRIES.values())[k % len(CORRUPT_ENTRIES)])
    again = drive(pipe.analyze(_frame()))
    assert len(backend.requests) == 2 * n and not any(p.cached for p in again.phases)
    assert [p.parse_errors for p in again.phases] == [p.parse_errors for p in first.phases]
    for path in sorted((tmp_path / "cache").glob("*/*.json")):  # valid entries, hostile answers
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["value"]["raw_text"] = '[{"label": "x", "bbox_2d": [1e999, ' + "9" * 5000 + "]}" + "[" * 5000
        path.write_text(json.dumps(doc), encoding="utf-8")
    hostile = drive(pipe.analyze(_frame()))  # (a failed interpretation changes later prompts: misses)
    assert hostile.phases[0].cached and hostile.phases[0].phase == "interpret"
    for p in hostile.phases:
        if p.status == "ok":
            check_result(p, 320, 240)
        if p.cached:
            assert not p.parse_ok and p.parse_errors


# ----------------------------------------------------------------------------- properties

JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(10**20), 10**20)
                | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
                | st.sampled_from(["bbox_2d", "box_2d", "label", "mask", "keypoints", "Brain", "NaN", "1e999"]))
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=5)
    | st.dictionaries(st.sampled_from(["label", "bbox_2d", "box_2d", "mask", "keypoints", "imaging_plane",
                                       "interpretation", "result", "x"]) | st.text(max_size=6), inner, max_size=5),
    max_leaves=30,
)
COORDS = st.one_of(st.integers(0, 1000), st.integers(-50, 1100), st.floats(allow_nan=True, allow_infinity=True),
                   st.sampled_from(["12", "1e999", "NaN", "-1", True, None, [], 10**400]))
POINTS = st.one_of(st.lists(st.lists(COORDS, min_size=2, max_size=3), max_size=6),
                   st.lists(st.lists(COORDS, max_size=4), max_size=4), JSON_SCALARS)
ITEMS = st.fixed_dictionaries(  # mostly plausible items with a hostile value here and there
    {"label": st.sampled_from(["Brain", " CRL ", "x"]) | JSON_SCALARS,
     "bbox_2d": st.lists(COORDS, min_size=4, max_size=4) | st.lists(COORDS, max_size=6) | JSON_SCALARS},
    optional={"mask": POINTS, "keypoints": POINTS},
)
CORPUS_TEXTS = sorted(p.read_text(encoding="utf-8") for p in CORPUS.glob("*.txt") if p.name != "LICENSE.txt")
NOISE = st.sampled_from(list('[]{}",:\\ \n0123456789.-eE') + ["1e999", "NaN", "9" * 5000, "<think>", "```",
                                                               "\\ud800", "\x00", "\ufffd", "[" * 50])


@HYPO
@given(st.sampled_from(PHASES), st.text(max_size=300))
def test_parse_never_raises_on_random_text(phase: str, text: str) -> None:
    parse(phase, text)


@HYPO
@given(st.sampled_from(PHASES), JSON_VALUES, st.integers(0, 4), st.integers(1, 4000), st.integers(1, 4000))
def test_parse_never_raises_on_random_json(phase: str, value: Any, cut: int, w: int, h: int) -> None:
    text = json.dumps(value)
    if cut:  # the answer was cut off somewhere, as the token limit does
        text = text[: len(text) * cut // 5]
    parse(phase, text, w, h)


@HYPO
@given(st.sampled_from(("detect", "segment", "keypoints")), st.lists(ITEMS, min_size=1, max_size=8),
       st.integers(1, 4000), st.integers(1, 4000))
def test_parse_never_raises_on_random_items(phase: str, items: list[Any], w: int, h: int) -> None:
    res = parse(phase, json.dumps(items), w, h)
    assert res.parse_ok and res.predictions is not None
    n = res.predictions.count + len(res.predictions.classifications)
    assert n + len(res.parse_errors) == len(items)  # every item is kept or dropped with a reason


@HYPO
@given(st.sampled_from(PHASES), st.sampled_from(CORPUS_TEXTS),
       st.lists(st.tuples(st.floats(0, 1), st.integers(0, 3), NOISE), min_size=1, max_size=6))
def test_parse_never_raises_on_mutated_real_answers(phase: str, text: str,
                                                   edits: list[tuple[float, int, str]]) -> None:
    for where, span, noise in edits:  # replace a few characters of a real answer with hostile ones
        at = int(where * len(text))
        text = text[:at] + noise + text[at + span:]
    parse(phase, text)
    extract_json(clean_output(text).text, prefer="object")
