"""The decode loop: sampling with grammars, jump-forward, the partial head, streaming, stats.

:meth:`Generation.generate` validates the request and returns a stream of
text chunks. The loop samples a token from llama.cpp's logits (or, in grammar
states that allow few tokens, from the partial output layer), consulting the
grammar only when the sampled token is rejected (:mod:`.sampling`); text the
grammar forces is tokenised and evaluated in the same batch as the sampled
token before it (jump-forward). It stops at the token limit, an end-of-generation
token, the grammar's end or a stop string, and records timings and counters
in :class:`~fada_desk.inference.backend.GenerationStats`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import numpy as np

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import ModelError
from fada_desk.inference.backend import GenerationRequest, GenerationStats
from fada_desk.inference.llama.chat import TextStream
from fada_desk.inference.llama.grammar import Grammar, GrammarState
from fada_desk.inference.llama.grammar_json import json_schema_to_gbnf
from fada_desk.inference.llama.prefill import ImagePrefill
from fada_desk.inference.llama.sampling import Sampler

# Grammar states with at most this many allowed tokens use the partial output layer.
PARTIAL_HEAD_MAX_TOKENS = 4096


class Generation(ImagePrefill):
    """generate() of :class:`~fada_desk.inference.llama.llama_backend.LlamaCppBackend`."""

    # options, set by LlamaCppBackend.__init__
    jump_forward: bool
    top_k: int

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None,
                 stats: GenerationStats | None = None) -> Iterator[str]:
        """Stream the assistant's answer. Validates the request before returning the iterator."""
        if request.image is not None:
            img = request.image
            if not isinstance(img, np.ndarray) or img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
                raise ValueError("GenerationRequest.image must be an RGB uint8 array of shape (H, W, 3)")
            if img.shape[0] < 2 or img.shape[1] < 2:
                raise ValueError("GenerationRequest.image is too small")
        if request.max_tokens < 1:
            raise ValueError("max_tokens must be >= 1")
        return self._generate(request, cancel, stats if stats is not None else GenerationStats())

    def _generate(self, request: GenerationRequest, cancel: CancelToken | None,
                  stats: GenerationStats) -> Iterator[str]:
        with self._lock:
            if not self.loaded:
                raise ModelError("the AI model is not loaded")
            self._cancel = cancel
            try:
                yield from self._run(request, cancel, stats)
            finally:
                self._cancel = None

    def _run(self, request: GenerationRequest, cancel: CancelToken | None,
             stats: GenerationStats) -> Iterator[str]:
        state = self._grammar(request)
        table = self._token_table() if state is not None else self._plain_table()
        sampler = Sampler(table, temperature=request.temperature, top_p=request.top_p, top_k=self.top_k,
                          seed=request.seed, grammar=state)
        self._check_cancel(cancel)
        n_past = self._prefill(request, cancel, stats)
        stream = TextStream(request.stop)
        t_dec = time.perf_counter()
        sample_s = 0.0
        forced_total = 0
        forced_runs = 0
        decode_calls = 0
        partial_steps = 0
        last_row = 0
        produced = 0
        # Tokens chosen (sampled or forced) but not evaluated yet. A sampled token and the
        # text the grammar forces after it are evaluated together in one llama_decode: the
        # forced tokens need no logits of their own, and one batch of k tokens costs far
        # less than k single-token steps.
        pending: list[int] = []
        finished_by_grammar = False
        try:
            while produced < request.max_tokens:
                self._check_cancel(cancel)
                # Jump-forward: text the grammar forces joins the pending batch.
                if self.jump_forward and sampler.state is not None:
                    forced = sampler.state.forced()
                    if forced:
                        toks = self._forced_tokens(sampler, forced, request.max_tokens - produced)
                        if toks:
                            for t in toks:
                                sampler.accept(t)
                            pending.extend(toks)
                            produced += len(toks)
                            forced_total += len(toks)
                            forced_runs += 1
                            text = stream.feed(b"".join(table.pieces[t] for t in toks))
                            if text:
                                yield text
                            if stream.stopped:
                                break
                            continue
                if sampler.state is not None and sampler.state.can_end and not sampler.state.can_continue:
                    finished_by_grammar = True
                    break
                ids = None
                if pending and self._head is not None and sampler.state is not None:
                    t0 = time.perf_counter()
                    ids = sampler.exact_allowed(sampler.state)
                    if ids is not None and (len(ids) > PARTIAL_HEAD_MAX_TOKENS or self._head.rows(ids) is None):
                        ids = None
                    sample_s += time.perf_counter() - t0
                if pending:
                    n_past = self._decode(pending, n_past, cancel, logits_last=ids is None)
                    decode_calls += 1
                    last_row = len(pending) - 1
                    pending = []
                t0 = time.perf_counter()
                if ids is not None:
                    assert self._head is not None
                    vals = self._head.logits(ids, last_row)
                    tok = sampler.pick_among(ids, vals) if vals is not None else None
                    partial_steps += 1
                else:
                    tok = sampler.pick(self._logits())
                sample_s += time.perf_counter() - t0
                if tok is None:
                    raise ModelError("the output grammar reached a dead end (no token can continue it)")
                if sampler.is_eog(tok):
                    finished_by_grammar = sampler.state is not None
                    break
                sampler.accept(tok)
                produced += 1
                pending.append(tok)
                text = stream.feed(table.pieces[tok])
                if text:
                    yield text
                if stream.stopped:
                    break
            tail = stream.finish()
            if tail:
                yield tail
        finally:
            stats.decode_s += time.perf_counter() - t_dec
            stats.completion_tokens = produced
            stats.extra.update({
                "forced_tokens": forced_total,
                "forced_batches": forced_runs,
                "decode_calls": decode_calls,
                "partial_head_steps": partial_steps,
                "grammar_rejections": sampler.rejections,
                "sample_s": round(sample_s, 6),
                "decode_threads": self.tuner.summary(),
                "grammar_complete": bool(sampler.state is not None and (finished_by_grammar or sampler.state.can_end)),
            })

    def _forced_tokens(self, sampler: Sampler, forced: str, budget: int) -> list[int]:
        """Tokens for the forced text, verified against the grammar (prefix that passes)."""
        toks = self.tokenize(forced, parse_special=False)[: max(0, budget)]
        st = sampler.state
        out = []
        for t in toks:
            piece = sampler.t.pieces[t]
            nxt = st.advance(piece) if (st is not None and piece) else None
            if nxt is None:
                break
            out.append(t)
            st = nxt
        return out

    def _grammar(self, request: GenerationRequest) -> GrammarState | None:
        """The request's grammar (GBNF text, or converted from its JSON schema), compiled once."""
        if request.grammar is not None:
            key = text = request.grammar
        elif request.json_schema is not None:
            key = "schema:" + json.dumps(request.json_schema, sort_keys=True)
            text = None
        else:
            return None
        g = self._grammars.get(key)
        if g is None:
            g = Grammar(text if text is not None else json_schema_to_gbnf(request.json_schema or {}))
            self._remember_grammar(key, g)
        return g.start()

    def _remember_grammar(self, key: str, g: Grammar) -> None:
        self._grammars[key] = g
        while len(self._grammars) > 16:
            self._grammars.popitem(last=False)
