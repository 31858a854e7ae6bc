"""Grammar layouts of the pipeline's phase grammars: permissive vs canonical, and the endless bench variants.

The canonical layout is what makes jump-forward pay off (separators, keys and
braces become forced text); these tests pin that it accepts exactly the
well-formed FADA answers written in FADA's trained one-line layout, that it
really forces what it should, and that the benchmark's endless variants
cannot close (so both decoding paths run to the same token count).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from fada_desk.core.cancel import drive
from fada_desk.inference.fada.answers import parse_answer
from fada_desk.inference.fada.json_repair import clean_output, extract_json
from fada_desk.inference.fada.pipeline import FadaPipeline
from fada_desk.inference.fada.results import PhaseResult
from fada_desk.inference.fada.schemas import (
    INTERPRET_KEYS,
    LAYOUTS,
    PHASES,
    endless_grammar,
    grammar,
    json_schema,
)
from fada_desk.inference.fada.settings import PipelineSettings
from fada_desk.inference.llama.grammar import Grammar, GrammarState

from ..fakes import FakeBackend

CORPUS = Path(__file__).resolve().parents[2] / "data" / "fada_outputs"
EXPECTED: dict[str, dict[str, Any]] = {
    k: v for k, v in json.loads((CORPUS / "expected.json").read_text()).items() if not k.startswith("_")
}
CANON = {p: Grammar(grammar(p, "canonical")) for p in PHASES}
PERM = {p: Grammar(grammar(p, "permissive")) for p in PHASES}


def state(g: Grammar, text: str) -> GrammarState | None:
    return g.start().advance(text.encode("utf-8"))


def full(g: Grammar, text: str) -> bool:
    st = state(g, text)
    return st is not None and st.can_end


def corpus_value(name: str) -> tuple[str, Any]:
    phase = EXPECTED[name]["phase"]
    cleaned = clean_output((CORPUS / name).read_text(encoding="utf-8")).text.strip()
    return cleaned, extract_json(cleaned, prefer="object" if phase in ("interpret", "classify") else "array").value


def test_layout_names_and_default() -> None:
    assert LAYOUTS == ("permissive", "canonical")
    for p in PHASES:
        assert grammar(p) == grammar(p, "permissive")
        assert grammar(p, "canonical") != grammar(p)
    with pytest.raises(ValueError, match="layout"):
        grammar("detect", "compact")
    with pytest.raises(ValueError, match="grammar_layout"):
        PipelineSettings(grammar_layout="compact")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_canonical_accepts_every_well_formed_canonical_answer(name: str) -> None:
    phase = EXPECTED[name]["phase"]
    cleaned, value = corpus_value(name)
    if value is None:
        return
    valid = jsonschema.Draft202012Validator(json_schema(phase)).is_valid(value)
    dumped = json.dumps(value)  # FADA's training layout (json.dumps defaults)
    if phase == "interpret" and valid:  # canonical also wants the eight prompted keys, in order
        inner = value.get("interpretation", value) if list(value) == ["interpretation"] else value
        valid = isinstance(inner, dict) and tuple(inner) == INTERPRET_KEYS
        assert valid or name == "08_interpret_truncated_cerebellum.txt"  # its repair keeps 7 keys
    assert full(CANON[phase], dumped) == valid
    if valid and cleaned == dumped:  # the model's own text, in canonical layout
        assert full(CANON[phase], cleaned)
        res = parse_answer(PhaseResult(phase, raw_text=cleaned), 1000, 1000)
        assert res.parse_ok and not res.parse_errors
    if valid:
        # other layouts of the same answer: permissive only (this is why canonical is not the default)
        for other in (json.dumps(value, indent=2), json.dumps(value, separators=(",", ":"))):
            if other != dumped:
                assert full(PERM[phase], other) and not full(CANON[phase], other)


def test_the_corpus_has_realistic_answers_only_permissive_accepts() -> None:
    """Indented model answers exist (code fence, pretty lists): canonical would steer them into one line."""
    names = []
    for name, exp in EXPECTED.items():
        cleaned, value = corpus_value(name)
        if value is None or not exp["schema_valid"]:
            continue
        try:
            json.loads(cleaned)
        except ValueError:
            continue
        if full(PERM[exp["phase"]], cleaned) and not full(CANON[exp["phase"]], cleaned):
            names.append(name)
    assert "05_interpret_code_fence_femur.txt" in names and "26_detect_think_fence_pelvimetry.txt" in names


def test_canonical_language_is_a_subset_of_permissive() -> None:
    for name, exp in EXPECTED.items():
        _, value = corpus_value(name)
        if value is not None and full(CANON[exp["phase"]], json.dumps(value)):
            assert full(PERM[exp["phase"]], json.dumps(value)), name


@pytest.mark.parametrize(("phase", "prefix", "forced"), [
    ("detect", "[{", '"'),
    ("detect", '[{"bb', 'ox_2d": ['),
    ("detect", '[{"bbox_2d": [12, 400, 7', ""),  # a coordinate digit: a real choice
    ("detect", '[{"bbox_2d": [12, 400, 700', ", "),
    ("detect", '[{"bbox_2d": [12, 400, 700, 1000', '], "label": "'),
    ("segment", '[{"bbox_2d": [12, 400, 700, 1000', '], "'),  # then "label" or "mask"
    ("detect", '[{"bbox_2d": [12, 400, 700, 1000], "l', 'abel": "'),
    ("segment", '[{"bbox_2d": [1, 2, 3, 4], "label": "Brain", "m', 'ask": [['),
    ("segment", '[{"bbox_2d": [1, 2, 3, 4], "label": "Brain", "mask": [[505, 120', "], ["),
    ("classify", "", '{"label": "'),
    ("interpret", '{"a', 'natomical_structures": '),
    ("interpret", '{"anatomical_structures": "skull"', ', "fetal_orientation": '),
    ("interpret", '{"anatomical_structures": ["a"], "fetal_orientation": {"x": 1}', ', "imaging_plane": '),
])
def test_canonical_forces_separators_and_keys(phase: str, prefix: str, forced: str) -> None:
    st = state(CANON[phase], prefix)
    assert st is not None
    assert st.forced() == forced
    pst = state(PERM[phase], prefix)
    assert pst is not None and len(pst.forced()) <= len(forced)


def test_canonical_forces_much_more_of_a_real_answer() -> None:
    """Share of a corpus answer's characters that jump-forward would not have to decode."""
    def forced_chars(g: Grammar, text: str) -> int:
        st, i, n = g.start(), 0, 0
        while i < len(text):
            f = st.forced()
            if f and text.startswith(f, i):
                n += len(f)
                nxt = st.advance(f.encode())
                i += len(f)
            else:
                nxt = st.advance(text[i].encode())
                i += 1
            assert nxt is not None
            st = nxt
        assert st.can_end
        return n

    for name, phase in (("30_segment_clean_brain.txt", "segment"), ("01_interpret_clean_brain.txt", "interpret"),
                        ("20_detect_clean_brain.txt", "detect")):
        text = clean_output((CORPUS / name).read_text(encoding="utf-8")).text.strip()
        canon, perm = forced_chars(CANON[phase], text), forced_chars(PERM[phase], text)
        assert canon > 2 * max(perm, 1), (name, canon, perm)
    seg = clean_output((CORPUS / "30_segment_clean_brain.txt").read_text()).text.strip()
    assert forced_chars(CANON["segment"], seg) / len(seg) > 0.35


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("name", ["01_interpret_clean_brain.txt", "09_interpret_nested_values_head.txt",
                                  "14_classify_clean.txt", "20_detect_clean_brain.txt",
                                  "31_segment_multi_doppler.txt", "35_keypoints_crl.txt"])
def test_endless_grammar_accepts_prefixes_and_never_ends(name: str, layout: str) -> None:
    phase = EXPECTED[name]["phase"]
    _, value = corpus_value(name)
    if isinstance(value, dict) and phase not in ("interpret", "classify"):
        value = [value]
    text = json.dumps(value)
    g = Grammar(endless_grammar(phase, layout))
    st = g.start()
    for ch in text[:-1]:  # everything but the outermost closing bracket
        assert not st.can_end
        nxt = st.advance(ch.encode())
        assert nxt is not None, (text, ch)
        st = nxt
    assert not st.can_end and st.advance(text[-1].encode()) is None  # cannot close
    assert st.advance(b", ") is not None  # but can always go on
    assert full(Grammar(grammar(phase, layout)), text)


def test_canonical_interpret_forces_all_eight_keys_in_prompt_order() -> None:
    g = CANON["interpret"]
    doc = {k: "x" for k in INTERPRET_KEYS}
    assert full(g, json.dumps(doc))
    assert full(g, json.dumps({"interpretation": doc}))
    assert not full(g, json.dumps(dict(reversed(list(doc.items())))))
    assert not full(g, json.dumps({k: doc[k] for k in INTERPRET_KEYS[:7]}))
    assert full(PERM["interpret"], json.dumps({k: doc[k] for k in INTERPRET_KEYS[:7]}))


def test_pipeline_hands_the_configured_layout_to_the_backend(tmp_path: Path) -> None:
    names = {"interpret": "01_interpret_clean_brain.txt", "classify": "14_classify_clean.txt",
             "detect": "20_detect_clean_brain.txt", "segment": "30_segment_clean_brain.txt"}
    answers = {p: (CORPUS / n).read_text(encoding="utf-8") for p, n in names.items()}
    backend = FakeBackend(answers=answers)
    backend.load()
    pipe = FadaPipeline(backend, PipelineSettings(grammar_layout="canonical", use_cache=False))
    img = (np.arange(300 * 400 * 3) % 251).astype(np.uint8).reshape(300, 400, 3)
    res = drive(pipe.analyze(img, "autonomous", source="scan.png", frame_index=0))
    assert [p.phase for p in res.phases] == ["interpret", "classify", "detect", "segment"]
    assert backend.phases() == list(names)
    for r, phase in zip(backend.requests, backend.phases()):
        assert r.grammar == grammar(phase, "canonical")
        assert full(CANON[phase], clean_output(answers[phase]).text.strip())
    assert res.classification == "BPD_PLANE"
