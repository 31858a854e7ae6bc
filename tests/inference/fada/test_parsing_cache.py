"""Cleaning/parsing edge cases beyond the corpus, pixel rescaling, and the result cache."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fada_desk.core.paths import user_data_dir
from fada_desk.inference.fada.cache import ResultCache, cache_key
from fada_desk.inference.fada.json_repair import clean_generation_upstream, clean_output, extract_json
from fada_desk.inference.fada.parsing import (
    Detection,
    Predictions,
    extract_cls_label,
    normalize_interpretation,
    parse_predictions,
)


def test_upstream_cleaning_reference() -> None:
    assert clean_generation_upstream("<think>\n\n</think>\n\n[1]\nassistant\n[2]") == "[1]"
    assert clean_generation_upstream("assistant\n{}") == "{}"


@pytest.mark.parametrize(
    "raw,text",
    [
        ("[1]<|im_end|>\n<|im_start|>assistant\n[2]", "[1]"),
        ('<think>unclosed reasoning {"a": 1}', 'unclosed reasoning {"a": 1}'),  # tag dropped, text kept
        ('```json\n[{"a": 1}]', '[{"a": 1}]'),  # fence never closed (truncated)
        ('Result:\n```\nno json\n```\n```json\n{"b": 2}\n```', '{"b": 2}'),
        ('{"a": 1}\nassistant', '{"a": 1}'),
    ],
)
def test_clean_output(raw: str, text: str) -> None:
    assert clean_output(raw).text == text


def test_extract_keeps_strings_with_brackets_and_commas() -> None:
    value = extract_json('[{"label": "a, ]b", "bbox_2d": [1, 2, 3, 4],}]').value
    assert value == [{"label": "a, ]b", "bbox_2d": [1, 2, 3, 4]}]
    # truncated inside a string value: that field is dropped, earlier fields kept
    ex = extract_json('{"a": "x [y]", "b": "cut here', prefer="object")
    assert ex.value == {"a": "x [y]"} and ex.truncated


def test_parse_tolerates_numeric_strings_and_floats_like_upstream() -> None:
    p = parse_predictions([{"bbox_2d": ["10", 20.9, 30, 40], "label": " Brain "}])
    assert p.detections == [Detection("Brain", (10.0, 20.0, 30.0, 40.0))]  # int(): 20.9 -> 20
    p = parse_predictions([{"bbox_2d": [1, 2, 3, True], "label": "x"}, {"label": "View"}, 7])
    assert p.errors and p.classifications == ["View"] and not p.detections
    assert parse_predictions("text").errors == ["Unexpected JSON type: str"]


def test_to_pixels_clips_and_orders() -> None:
    p = Predictions(detections=[Detection("a", (900, 100, 100, 1200))])
    px = p.to_pixels(200, 100)
    assert px.detections[0].box == (20.0, 10.0, 180.0, 100.0)
    assert px.space == "pixel" and px.image_size == (200, 100)
    with pytest.raises(ValueError):
        px.to_pixels(10, 10)
    assert Predictions.from_dict(json.loads(json.dumps(px.to_dict()))) == px


def test_interpretation_helpers() -> None:
    assert normalize_interpretation({"result": {"imaging_plane": "x"}}) == {"imaging_plane": "x"}
    assert normalize_interpretation([{"a": 1}]) == {"a": 1}
    assert normalize_interpretation("x") is None
    assert extract_cls_label({"label": "  Aorta "}) == ("Aorta", "json")
    assert extract_cls_label({"label": ""}) == (None, "none")
    assert extract_cls_label(None, '"BPD_PLANE"') == ("BPD_PLANE", "raw_text")
    assert extract_cls_label(None, "some prose") == (None, "none")


def test_cache_round_trip_bounds_and_corruption(tmp_path: Path) -> None:
    c = ResultCache(tmp_path / "c", max_entries=3, max_bytes=10_000)
    keys = [cache_key(i=i) for i in range(5)]
    assert cache_key(a=1, b=2) == cache_key(b=2, a=1) != cache_key(a=1, b=3)
    for n, k in enumerate(keys):
        c.put(k, {"raw_text": f"answer {n}"})
        os.utime(c._path(k), (n, n))  # distinct ages: LRU order is insertion order
    assert len(c) == 3 and c.get(keys[0]) is None and c.get(keys[4]) == {"raw_text": "answer 4"}
    c._path(keys[4]).write_text("{broken")
    assert c.get(keys[4]) is None and not c._path(keys[4]).exists()
    big = ResultCache(tmp_path / "b", max_bytes=200)
    big.put(keys[0], {"raw_text": "x" * 500})
    assert len(big) == 0  # larger than the whole budget: evicted at once
    c.clear()
    assert len(c) == 0
    assert ResultCache().root == user_data_dir() / "cache" / "fada"


def test_lone_surrogate_escapes_become_replacement_characters() -> None:
    """A model may spell half a surrogate pair as a JSON escape; the parsed value must still be
    storable as UTF-8 (saving analysis.json failed on such an answer from random weights)."""
    import json as _json

    from fada_desk.inference.fada.json_repair import extract_json

    got = extract_json('{"label": "head\\udeab", "x\\ud83d": ["ok \\ud83d\\ude00"]}', prefer="object").value
    assert got == {"label": "head\ufffd", "x\ufffd": ["ok \U0001F600"]}
    _json.dumps(got, ensure_ascii=False).encode("utf-8")  # no lone surrogate left
