"""Grammar engine, JSON-schema conversion and grammar-aware sampling (no model needed)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fada_desk.core.errors import FadaError
from fada_desk.inference.fada import schemas
from fada_desk.inference.llama.gbnf import GrammarError
from fada_desk.inference.llama.grammar import Grammar
from fada_desk.inference.llama.grammar_json import _uint_range, json_schema_to_gbnf
from fada_desk.inference.llama.sampling import Sampler, TokenTable

FADA_LIKE = {
    "type": "object",
    "properties": {
        "plane": {"type": "string", "enum": ["abdomen", "femur", "head", "other"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": -3, "maximum": 250},
        "findings": {"type": "array", "items": {"type": "string", "maxLength": 12}, "maxItems": 3},
        "note": {"type": ["string", "null"]},
        "box": {"type": "object", "properties": {"x": {"type": "integer", "minimum": 0, "maximum": 1000}},
                "required": ["x"]},
    },
    "required": ["plane", "confidence", "count", "findings"],
}


def full_match(g: Grammar, text: str) -> bool:
    st = g.start().advance(text.encode("utf-8"))
    return st is not None and st.can_end


def compact(doc: object) -> str:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False)


def test_gbnf_features() -> None:
    g = Grammar(r'''
root ::= greet " " name ("!" | "?")? tail{0,2}  # comment
greet ::= "hi" | "hello"
name ::= [A-Z] [a-z]+
tail ::= [^a-z\n]
''')
    assert full_match(g, "hi Bob")
    assert full_match(g, "hello Alice!")
    assert full_match(g, "hi Bob?12")
    assert not full_match(g, "hi Bob?123")
    assert not full_match(g, "hi bob")
    assert not full_match(g, "hey Bob")
    assert not full_match(g, "hi Bob!x")


def test_gbnf_errors_are_clear() -> None:
    with pytest.raises(GrammarError, match="undefined"):
        Grammar("root ::= foo")
    with pytest.raises(GrammarError, match="root"):
        Grammar('a ::= "x"')
    with pytest.raises(GrammarError, match="unterminated"):
        Grammar('root ::= "abc')
    with pytest.raises(GrammarError, match="left-recursive"):
        Grammar('root ::= root "a" | "b"')
    assert issubclass(GrammarError, FadaError)


def test_forced_text_and_completion() -> None:
    g = Grammar(json_schema_to_gbnf(FADA_LIKE))
    st = g.start()
    assert st.forced() == '{"plane":"'
    st = st.advance(b'{"plane":"f')
    assert st is not None and st.forced() == 'emur","confidence":'
    st = st.advance(b'emur","confidence":1')
    assert st is not None and st.forced() == ""  # "1" may end the number or continue with ".0"
    done = st.advance(b',"count":0,"findings":[]}')
    assert done is not None and done.can_end and not done.can_continue


def test_partial_utf8_tokens() -> None:
    g = Grammar(r'root ::= "\"" [^"]* "\""')
    first, second = "胎".encode()[:2], "胎".encode()[2:]
    st = g.start().advance(b'"' + first)
    assert st is not None and st.pending == first
    st = st.advance(second + b'"')
    assert st is not None and st.can_end
    assert g.start().advance(b'"\xff') is None  # invalid UTF-8 byte
    ascii_only = Grammar(r'root ::= [a-z]+')
    assert ascii_only.start().advance("é".encode()[:1]) is None  # partial char cannot become [a-z]


@pytest.mark.parametrize("doc", [
    {"plane": "femur", "confidence": 0.93, "count": 12, "findings": ["a", "b"]},
    {"plane": "other", "confidence": 0, "count": -3, "findings": [], "note": None, "box": {"x": 1000}},
    {"plane": "head", "confidence": 1, "count": 250, "findings": ["x" * 12], "note": "ok \"q\" \u00e9"},
    {"plane": "abdomen", "confidence": 0.5, "count": 0, "findings": [], "box": {"x": 7}},
])
def test_schema_accepts_valid_documents(doc: dict) -> None:
    assert full_match(Grammar(json_schema_to_gbnf(FADA_LIKE)), compact(doc))


@pytest.mark.parametrize("doc", [
    {"plane": "femur", "confidence": 1.5, "count": 12, "findings": []},
    {"plane": "femur", "confidence": 0.1, "count": 251, "findings": []},
    {"plane": "femur", "confidence": 0.1, "count": -4, "findings": []},
    {"plane": "spine", "confidence": 0.1, "count": 1, "findings": []},
    {"plane": "head", "confidence": 0.1, "count": 1, "findings": ["x" * 13]},
    {"plane": "head", "confidence": 0.1, "count": 1, "findings": ["a", "b", "c", "d"]},
    {"plane": "head", "confidence": 0.1, "findings": []},
    {"confidence": 0.1, "plane": "head", "count": 1, "findings": []},
])
def test_schema_rejects_invalid_documents(doc: dict) -> None:
    assert not full_match(Grammar(json_schema_to_gbnf(FADA_LIKE)), compact(doc))


@pytest.mark.parametrize("lo,hi", [(0, 0), (0, 9), (5, 123), (17, 17), (99, 1000), (3, 7), (0, 1000)])
def test_integer_ranges_are_exact(lo: int, hi: int) -> None:
    g = Grammar("root ::= " + " | ".join(f"({a})" for a in _uint_range(lo, hi)))
    accepted = [n for n in range(0, 1200) if full_match(g, str(n))]
    assert accepted == list(range(lo, hi + 1))
    assert not full_match(g, "0" + str(max(lo, 1)))  # no leading zeros


def test_unsupported_schema_falls_back_to_stock_converter() -> None:
    pytest.importorskip("llama_cpp")
    g = Grammar(json_schema_to_gbnf({"type": "object", "properties": {"id": {"type": "string", "pattern": "^[A-Z]{2}$"}},
                                     "required": ["id"]}))
    assert full_match(g, '{"id":"AB"}')
    assert not full_match(g, '{"id":"ABC"}')


def test_pipeline_phase_grammars_parse() -> None:
    for phase in schemas.PHASES:
        Grammar(schemas.grammar(phase))


# ----------------------------------------------------------------------------- sampler

def _table() -> TokenTable:
    pieces = [b"{", b"}", b'"', b"a", b"b", b"ab", b'"a', b'"ab"', b"1", b"12", b":", b",", b"x", b"", b""]
    first = np.array([p[0] if p else 256 for p in pieces], dtype=np.int16)
    second = np.array([p[1] if len(p) > 1 else 256 for p in pieces], dtype=np.int16)
    return TokenTable(pieces=pieces, first_byte=first, eog=np.array([13], dtype=np.int64),
                      banned=np.array([14], dtype=np.int64), second_byte=second)


def _brute_force_best(sampler: Sampler, logits: np.ndarray) -> int | None:
    ok = [t for t in range(len(logits)) if t not in set(sampler.t.banned.tolist()) and sampler.allowed(t)]
    return max(ok, key=lambda t: (logits[t], -t)) if ok else None


@pytest.mark.parametrize("pair_filter", [0, 32], ids=["first-byte", "first-two-bytes"])
@pytest.mark.parametrize("full_scan_limit", [0, 4096], ids=["scan-in-logit-order", "cached-allowed-set"])
def test_greedy_with_grammar_equals_constrained_argmax(pair_filter: int, monkeypatch: pytest.MonkeyPatch, full_scan_limit: int) -> None:
    monkeypatch.setattr(Sampler, "FULL_SCAN_LIMIT", full_scan_limit)
    monkeypatch.setattr(Sampler, "PAIR_FILTER_MAX_BYTES", pair_filter)
    g = Grammar(r'root ::= "{" "\"" [ab]+ "\"" ":" [0-9]+ "}"')
    rng = np.random.default_rng(0)
    for trial in range(200):
        s = Sampler(_table(), temperature=0.0, top_p=1.0, top_k=5, seed=trial, grammar=g.start())
        for _ in range(8):
            logits = rng.normal(size=15).astype(np.float32)
            expect = _brute_force_best(s, logits)
            got = s.pick(logits)
            assert got == expect
            if got is None or s.is_eog(got):
                break
            s.accept(got)


@pytest.mark.parametrize("pair_filter", [0, 32], ids=["first-byte", "first-two-bytes"])
@pytest.mark.parametrize("full_scan_limit", [0, 4096], ids=["scan-in-logit-order", "cached-allowed-set"])
def test_sampling_with_grammar_only_returns_allowed_tokens_and_is_seeded(pair_filter: int, monkeypatch: pytest.MonkeyPatch,
                                                                         full_scan_limit: int) -> None:
    monkeypatch.setattr(Sampler, "FULL_SCAN_LIMIT", full_scan_limit)
    monkeypatch.setattr(Sampler, "PAIR_FILTER_MAX_BYTES", pair_filter)
    g = Grammar(r'root ::= "{" "\"" [ab]+ "\"" ":" [0-9]+ "}"')

    def run(seed: int) -> list[int]:
        rng = np.random.default_rng(123)
        s = Sampler(_table(), temperature=1.0, top_p=0.9, top_k=4, seed=seed, grammar=g.start())
        out = []
        for _ in range(12):
            tok = s.pick(rng.normal(size=15).astype(np.float32))
            assert tok is not None
            assert s.allowed(tok)
            out.append(tok)
            if s.is_eog(tok):
                break
            s.accept(tok)
        return out

    assert run(7) == run(7)
    assert any(run(7) != run(s) for s in range(8, 20))


def test_sampler_caches_the_exact_allowed_set_on_small_states() -> None:
    g = Grammar(r'root ::= "{" "\"" [ab]+ "\"" ":" [0-9]+ "}"')
    st = g.start().advance(b'{"ab":')
    assert st is not None
    s = Sampler(_table(), temperature=0.0, top_p=1.0, top_k=5, seed=0, grammar=st)
    logits = np.zeros(15, dtype=np.float32)
    logits[12] = 9.0  # "x": rejected
    logits[9] = 1.0  # "12": the best allowed
    assert s.pick(logits) == 9
    assert sorted(st.allowed_tokens.tolist()) == [8, 9]  # "1", "12": exactly the allowed ones
    assert g.start().advance(b'{"ab":') is st  # interned: later visits reuse the cache


def test_partial_utf8_ranges_exclude_uncompletable_prefixes() -> None:
    """A prefix that no valid scalar value completes (surrogates, overlongs, > U+10FFFF) is refused,
    so the matcher never walks into a dead end (seen with random weights on the 248k vocabulary)."""
    from fada_desk.inference.llama.grammar import _partial_range

    assert _partial_range(b"\xed\xa1") is None  # UTF-16 surrogate D840..
    assert _partial_range(b"\xe0\x80") is None  # overlong
    assert _partial_range(b"\xf4\x90") is None  # > U+10FFFF
    assert _partial_range(b"\xed") == (0xD000, 0xD7FF)
    for cp in (0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFF, 0x10000, 0x1F600, 0x10FFFF):
        enc = chr(cp).encode()
        for k in range(1, len(enc)):
            lo, hi = _partial_range(enc[:k])
            assert lo <= cp <= hi, (hex(cp), k)


def test_two_byte_prefilter_never_drops_an_allowed_token() -> None:
    """The prefilter is only an optimisation: on the real segment grammar and a vocabulary of
    multi-byte pieces, every token the grammar accepts passes it, in many matcher states."""
    from fada_desk.inference.fada.schemas import grammar

    rng = np.random.default_rng(3)
    alphabet = list(b' \t\n{}[]",:0123456789abelmxyz_\\') + [0xC3, 0xA9]
    pieces = sorted({bytes(rng.choice(alphabet, size=int(rng.integers(1, 5))).tolist()) for _ in range(3000)})
    pieces += [b"", b""]
    first = np.array([p[0] if p else 256 for p in pieces], dtype=np.int16)
    second = np.array([p[1] if len(p) > 1 else 256 for p in pieces], dtype=np.int16)
    table = TokenTable(pieces=pieces, first_byte=first, eog=np.array([len(pieces) - 2], dtype=np.int64),
                       banned=np.array([len(pieces) - 1], dtype=np.int64), second_byte=second)
    answer = b'[{"bbox_2d": [12, 30, 400, 1000], "label": "head", "mask": [[1, 2], [30, 40], [500, 6]]}]'
    g = Grammar(grammar("segment", "permissive"))
    st = g.start()
    checked = 0
    for i in range(len(answer)):
        s = Sampler(table, temperature=0.0, top_p=1.0, top_k=1, seed=0, grammar=st)
        mask = s._prefilter(st)
        allowed = [t for t in range(len(pieces) - 2) if pieces[t] and st.advance(pieces[t]) is not None]
        assert all(mask[t] for t in allowed), answer[:i]
        checked += len(allowed)
        nxt = st.advance(answer[i : i + 1])
        assert nxt is not None
        st = nxt
    assert checked > 1000
