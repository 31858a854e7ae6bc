"""Token sampling over raw llama.cpp logits, with a grammar consulted only on rejection.

Stock llama.cpp/llama-cpp-python apply the grammar to all 248k candidates before
every token. Here the token is sampled from the unconstrained distribution
first and checked against the grammar (a few dict look-ups, see
:mod:`fada_desk.inference.llama.grammar`); only when it is rejected do we look for
the best *allowed* candidates, scanning in logit order after a cheap
first-byte prefilter. For greedy decoding this is exactly the constrained
argmax; for sampling it is llama.cpp's "grammar after sampling" scheme.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fada_desk.inference.llama.grammar import GrammarState

_NO_TEXT = 256  # first_byte value for tokens without text (control / unused)
_MANY = "many"  # GrammarState.allowed_tokens marker: too many allowed tokens to list


@dataclass
class TokenTable:
    """Per-vocabulary data the sampler needs (built once per loaded model)."""

    pieces: list[bytes]
    first_byte: np.ndarray  # int16 [n_vocab], _NO_TEXT for tokens without text
    eog: np.ndarray  # int32 ids of end-of-generation tokens
    banned: np.ndarray  # int32 ids never sampled (unused/padding slots)
    # int16 [n_vocab]: each token's second byte, _NO_TEXT for one-byte tokens; None: unknown
    second_byte: np.ndarray | None = None

    @property
    def n_vocab(self) -> int:
        return len(self.pieces)


class Sampler:
    """Stateful sampler for one request (owns the RNG and the grammar state)."""

    SCAN_STAGES = (64, 1024)
    # States with at most this many first-byte candidates get their exact allowed set cached.
    FULL_SCAN_LIMIT = 4096
    # Two-byte prefiltering only when at most this many first bytes are possible (not in strings).
    PAIR_FILTER_MAX_BYTES = 32

    def __init__(self, table: TokenTable, *, temperature: float, top_p: float, top_k: int, seed: int,
                 grammar: GrammarState | None) -> None:
        self.t = table
        self.greedy = temperature <= 1e-5
        self.temperature = temperature
        self.top_p = top_p if 0.0 < top_p < 1.0 else 1.0
        self.top_k = max(1, int(top_k))
        self.rng = np.random.Generator(np.random.PCG64(seed & 0xFFFFFFFFFFFFFFFF))
        self.state = grammar
        self.rejections = 0
        self._eog_set = set(int(x) for x in table.eog)

    # -- grammar helpers
    def allowed(self, token: int) -> bool:
        st = self.state
        if st is None:
            return True
        if token in self._eog_set:
            return st.can_end
        piece = self.t.pieces[token]
        return bool(piece) and st.advance(piece) is not None

    def accept(self, token: int) -> None:
        """Advance the grammar past ``token`` (must be allowed)."""
        if self.state is not None and token not in self._eog_set:
            nxt = self.state.advance(self.t.pieces[token])
            if nxt is None:
                raise AssertionError("accepted a token the grammar rejects")
            self.state = nxt

    def is_eog(self, token: int) -> bool:
        return token in self._eog_set

    # -- sampling
    def pick(self, logits: np.ndarray) -> int | None:
        """Choose the next token; None if the grammar admits nothing (dead end)."""
        logits = np.array(logits, dtype=np.float32, copy=True)
        if len(self.t.banned):
            logits[self.t.banned] = -np.inf
        if self.greedy:
            tok = int(np.argmax(logits))
            if self.allowed(tok):
                return tok
            self.rejections += 1
            best = self._allowed_top(logits, 1)
            return int(best[0]) if len(best) else None
        k = min(self.top_k, len(logits))
        ids = np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
        tok = self._sample(ids, logits[ids])
        if self.allowed(tok):
            return tok
        self.rejections += 1
        ids = self._allowed_top(logits, self.top_k)
        if len(ids) == 0:
            return None
        return self._sample(ids, logits[ids])

    def _sample(self, ids: np.ndarray, vals: np.ndarray) -> int:
        order = np.argsort(-vals, kind="stable")
        ids, vals = ids[order], vals[order].astype(np.float64)
        finite = np.isfinite(vals)
        ids, vals = ids[finite], vals[finite]
        if len(ids) == 0:
            raise RuntimeError("no finite logits to sample from")
        if self.top_p < 1.0:
            p = np.exp(vals - vals[0])
            p /= p.sum()
            keep = int(np.searchsorted(np.cumsum(p), self.top_p) + 1)
            ids, vals = ids[:keep], vals[:keep]
        p = np.exp((vals - vals[0]) / self.temperature)
        c = np.cumsum(p)
        r = self.rng.random() * c[-1]
        return int(ids[min(int(np.searchsorted(c, r, side="right")), len(ids) - 1)])

    def exact_allowed(self, st: GrammarState) -> np.ndarray | None:
        """The exact allowed token ids at ``st`` (ascending), or None when there are too many to list.

        Few candidates (numbers, separators, keys): the set is found once and kept on the
        (interned) state, so every later visit is a lookup.
        """
        cached = st.allowed_tokens
        if isinstance(cached, np.ndarray):
            return cached
        if cached is _MANY:
            return None
        cand = self._candidates(st)
        if len(cand) > self.FULL_SCAN_LIMIT:
            st.allowed_tokens = _MANY
            return None
        saved, self.state = self.state, st
        try:
            arr = np.array([t for t in cand.tolist() if self.allowed(t)], dtype=np.int64)
        finally:
            self.state = saved
        st.allowed_tokens = arr
        return arr

    def _candidates(self, st: GrammarState) -> np.ndarray:
        """Token ids the byte prefilter lets through in ``st`` (EOG when it may end; never banned ids)."""
        mask = self._prefilter(st)
        if st.can_end:
            mask[self.t.eog] = True
        mask[self.t.banned] = False
        return np.flatnonzero(mask)

    def pick_among(self, ids: np.ndarray, vals: np.ndarray) -> int | None:
        """Choose among ``ids`` (the exact allowed set, ascending) given only their logits ``vals``.

        The grammar-first order of stock llama.cpp: the distribution is restricted
        to the allowed tokens, then top-k / top-p / temperature apply. For greedy
        decoding this is the same token :meth:`pick` returns from full logits.
        """
        finite = np.isfinite(vals)
        ids, vals = ids[finite], vals[finite]
        if len(ids) == 0:
            return None
        if self.greedy:
            return int(ids[int(np.argmax(vals))])
        k = min(self.top_k, len(ids))
        if k < len(ids):
            sel = np.argpartition(-vals, k - 1)[:k]
            ids, vals = ids[sel], vals[sel]
        return self._sample(ids, vals)

    def _allowed_top(self, logits: np.ndarray, k: int) -> np.ndarray:
        """Up to ``k`` allowed token ids with the highest logits (in descending order)."""
        st = self.state
        assert st is not None
        cached = self.exact_allowed(st)
        if cached is None:
            return self._scan_top(logits, self._candidates(st), k)
        cached = cached[np.isfinite(logits[cached])]
        if len(cached) <= k:
            return cached[np.argsort(-logits[cached], kind="stable")]
        part = cached[np.argpartition(-logits[cached], k - 1)[:k]]
        return part[np.argsort(-logits[part], kind="stable")]

    def _prefilter(self, st: GrammarState) -> np.ndarray:
        """Tokens whose first (and, where cheap, second) byte the grammar accepts here.

        One byte is a weak filter after a number, where whitespace may follow:
        every token starting with a space (~40% of the vocabulary) passes. When
        few first bytes are possible, the pairs of first two bytes are checked
        too, which narrows such states to a few hundred candidates.
        """
        first = st.first_bytes()
        allowed1 = [b for b in range(256) if first[b]]
        if self.t.second_byte is None or len(allowed1) > self.PAIR_FILTER_MAX_BYTES:
            return np.append(np.array(first, dtype=bool), False)[self.t.first_byte]
        pairs = np.zeros((257, 257), dtype=bool)
        for b in allowed1:
            nxt = st.advance_byte(b)
            if nxt is None:
                continue
            pairs[b, :256] = nxt.first_bytes()
            pairs[b, 256] = True  # a one-byte token: its byte alone is accepted
        return pairs[self.t.first_byte, self.t.second_byte]

    def _scan_top(self, logits: np.ndarray, cand: np.ndarray, k: int) -> np.ndarray:
        """Allowed tokens among many candidates, checked in logit order until ``k`` are found."""
        st = self.state
        assert st is not None
        cand = cand[np.isfinite(logits[cand])]
        found: list[int] = []
        seen = 0
        stages = [s for s in self.SCAN_STAGES if s < len(cand)] + [len(cand)]
        for stage in stages:
            if stage < len(cand):
                top = cand[np.argpartition(-logits[cand], stage - 1)[:stage]]
            else:
                top = cand
            top = top[np.argsort(-logits[top], kind="stable")]
            for tok in top[seen:]:
                if self.allowed(int(tok)):
                    found.append(int(tok))
                    if len(found) >= k:
                        return np.array(found, dtype=np.int64)
            seen = len(top)
        return np.array(found, dtype=np.int64)
