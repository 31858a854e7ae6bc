"""The llama.cpp context the backend drives: its state, tokens, batch evaluation, logits.

:class:`LlamaContext` is the base of :class:`~fada_desk.inference.llama.llama_backend.LlamaCppBackend`
(its other parts: :mod:`.loading`, :mod:`.prefill`, :mod:`.generation`). It
holds the loaded model/context handles and what is derived from them, and the
primitives every part uses: tokenize/detokenize, the token tables of the
sampler, :meth:`LlamaContext._decode` (batched evaluation with cancellation
and the decode thread tuner), the logits, and saving/restoring the sequence
state of an image prefix. All of it is called under the backend's lock.
"""

from __future__ import annotations

import ctypes
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import Cancelled, ModelError
from fada_desk.inference.backend import BackendInfo
from fada_desk.inference.llama.runtime import import_llama
from fada_desk.inference.llama.sampling import TokenTable
from fada_desk.inference.llama.threads import ThreadTuner

if TYPE_CHECKING:
    from fada_desk.inference.llama.grammar import Grammar
    from fada_desk.inference.llama.partial_head import PartialHead

# Batches up to this size (one sampled token, or one plus the text the grammar forces
# after it) run with the decode thread count the tuner picks; larger ones (prompt,
# image embedding) with ``n_threads``.
SMALL_BATCH = 16


@dataclass
class _Prefix:
    state: Any  # ctypes uint8 array
    size: int
    n_past: int
    n_text_tokens: int
    n_image_tokens: int


class LlamaContext:
    """Model/context handles and the evaluation primitives (see the module docstring)."""

    # options, set by LlamaCppBackend.__init__ before this __init__ runs
    n_ctx: int
    n_batch: int
    n_threads: int
    tuner: ThreadTuner

    def __init__(self) -> None:
        self._threads_set: tuple[int, int] | None = None
        self._head: PartialHead | None = None
        self.head_status = "off"
        self._lock = threading.RLock()
        self._model: Any = None
        self._ctx: Any = None
        self._vocab: Any = None
        self._mtmd_ctx: Any = None
        self._batch: Any = None
        self._info: BackendInfo | None = None
        self._n_vocab = 0
        self._table: TokenTable | None = None
        self._prefixes: OrderedDict[tuple[Any, ...], _Prefix] = OrderedDict()
        self._grammars: OrderedDict[str, Grammar] = OrderedDict()
        self._cancel: CancelToken | None = None
        self._closing = False
        self._abort_cb: Any = None
        self._eval_cb: Any = None
        self._eval_nodes = 0
        self._eog: np.ndarray = np.zeros(0, dtype=np.int64)
        self._banned: np.ndarray = np.zeros(0, dtype=np.int64)
        self._lazy_table: TokenTable | None = None

    @property
    def loaded(self) -> bool:
        return self._ctx is not None

    @property
    def info(self) -> BackendInfo:
        if self._info is None:
            raise ModelError("the model is not loaded")
        return self._info

    def _aborting(self) -> bool:
        c = self._cancel
        return self._closing or (c is not None and c.cancelled)

    def _check_cancel(self, cancel: CancelToken | None) -> None:
        if self._closing or self._ctx is None:  # closed while a suspended stream held the (re-entrant) lock
            raise Cancelled("cancelled: the model is closing")
        if cancel is not None:
            cancel.check()

    # ------------------------------------------------------------------ tokens
    def tokenize(self, text: str, parse_special: bool = True) -> list[int]:
        llama_cpp = import_llama()
        data = text.encode("utf-8")
        n_max = len(data) + 8
        buf = (llama_cpp.llama_token * n_max)()
        n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, parse_special)
        if n < 0:
            n_max = -n
            buf = (llama_cpp.llama_token * n_max)()
            n = llama_cpp.llama_tokenize(self._vocab, data, len(data), buf, n_max, False, parse_special)
        if n < 0:
            raise ModelError("tokenization failed")
        return list(buf[:n])

    def token_bytes(self, token: int, special: bool = False) -> bytes:
        llama_cpp = import_llama()
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def _token_table(self) -> TokenTable:
        if self._table is None:
            llama_cpp = import_llama()
            pieces = []
            first = np.full(self._n_vocab, 256, dtype=np.int16)
            second = np.full(self._n_vocab, 256, dtype=np.int16)
            for t in range(self._n_vocab):
                attr = llama_cpp.llama_vocab_get_attr(self._vocab, t)
                if attr & llama_cpp.LLAMA_TOKEN_ATTR_CONTROL:
                    pieces.append(b"")  # control tokens never satisfy a grammar
                    continue
                p = self.token_bytes(t)
                pieces.append(p)
                if p:
                    first[t] = p[0]
                    if len(p) > 1:
                        second[t] = p[1]
            self._table = TokenTable(pieces=pieces, first_byte=first, eog=self._eog.copy(),
                                     banned=self._banned.copy(), second_byte=second)
        return self._table

    def _plain_table(self) -> TokenTable:
        """Detokenisation + banned ids without building grammar data for the whole vocab."""
        if self._table is not None:
            return self._table
        if self._lazy_table is None:
            self._lazy_table = _LazyTable(self)
        return self._lazy_table

    # ------------------------------------------------------------------ evaluation
    def _decode(self, tokens: list[int], n_past: int, cancel: CancelToken | None, logits_last: bool = True) -> int:
        """Evaluate ``tokens`` at positions n_past.. in batches; returns the new n_past."""
        llama_cpp = import_llama()
        if n_past + len(tokens) > self.n_ctx:
            raise ModelError(f"the prompt and answer need {n_past + len(tokens)} tokens, more than the "
                             f"model context ({self.n_ctx}); shorten the prompt or raise n_ctx")
        b = self._batch
        small = len(tokens) <= SMALL_BATCH
        threads = self.tuner.choose() if small else self.n_threads
        for start in range(0, len(tokens), self.n_batch):
            self._check_cancel(cancel)  # also refuses a closed context
            self._use_threads(threads)
            chunk = tokens[start : start + self.n_batch]
            last_chunk = start + self.n_batch >= len(tokens)
            b.n_tokens = len(chunk)
            for j, tok in enumerate(chunk):
                b.token[j] = tok
                b.pos[j] = n_past + j
                b.n_seq_id[j] = 1
                b.seq_id[j][0] = 0
                b.logits[j] = 1 if (logits_last and last_chunk and j == len(chunk) - 1) else 0
            long = len(chunk) >= 16
            if long:
                llama_cpp.llama_set_abort_callback(self._ctx, self._abort_cb, None)
            t0 = time.perf_counter()
            try:
                rc = llama_cpp.llama_decode(self._ctx, b)
            finally:
                if long:
                    llama_cpp.llama_set_abort_callback(self._ctx, llama_cpp.ggml_abort_callback(), None)
            if small and rc == 0:
                # only steps with the full output layer are comparable: others just note the threads
                self.tuner.record(threads, time.perf_counter() - t0, len(chunk) if logits_last else 0)
            if rc == 2 or (rc != 0 and self._aborting()):
                self._check_cancel(cancel)
                raise Cancelled("cancelled")
            if rc == 1:
                raise ModelError("the model context is full; shorten the prompt or raise n_ctx")
            if rc != 0:
                raise ModelError(f"llama.cpp failed to evaluate the prompt (llama_decode returned {rc})")
            n_past += len(chunk)
        return n_past

    def _use_threads(self, n: int) -> None:
        """Run the next llama_decode with ``n`` threads (whatever its batch size)."""
        if self._threads_set != (n, n):
            import_llama().llama_set_n_threads(self._ctx, n, n)
            self._threads_set = (n, n)

    @property
    def n_threads_decode(self) -> int:
        """Threads the next single-token step would use (the tuner's current choice)."""
        return self.tuner.current

    def _logits(self) -> np.ndarray:
        llama_cpp = import_llama()
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        if not ptr:
            raise ModelError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    def _clear_memory(self) -> None:
        llama_cpp = import_llama()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self._ctx), True)

    def _save_prefix(self, n_past: int, n_text: int, n_img: int) -> _Prefix:
        llama_cpp = import_llama()
        size = llama_cpp.llama_state_seq_get_size(self._ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, 0)
        if got != size:
            raise ModelError("could not save the image prefix state")
        return _Prefix(buf, size, n_past, n_text, n_img)

    def _restore_prefix(self, p: _Prefix) -> None:
        llama_cpp = import_llama()
        self._clear_memory()
        if llama_cpp.llama_state_seq_set_data(self._ctx, p.state, p.size, 0) != p.size:
            self._clear_memory()
            raise ModelError("could not restore the image prefix state")


class _LazyTable(TokenTable):
    """TokenTable whose pieces are fetched per token (no 248k-entry scan for free text)."""

    def __init__(self, backend: LlamaContext) -> None:
        super().__init__(pieces=_PieceList(backend), first_byte=np.zeros(0, dtype=np.int16),  # type: ignore[arg-type]
                         eog=backend._eog.copy(), banned=backend._banned.copy())


class _PieceList:
    def __init__(self, backend: LlamaContext) -> None:
        self._b = backend
        self._cache: dict[int, bytes] = {}

    def __getitem__(self, t: int) -> bytes:
        p = self._cache.get(t)
        if p is None:
            p = self._b.token_bytes(t)
            self._cache[t] = p
        return p

    def __len__(self) -> int:
        return self._b._n_vocab
