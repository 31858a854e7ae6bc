"""llama.cpp backend for the FADA pipeline (Qwen3.5 VLM, GGUF + mmproj), pure Python, no Qt.

Built directly on llama.cpp's C API (via llama-cpp-python's ctypes bindings) and
libmtmd, because the pipeline needs things the high-level ``Llama`` class
cannot do:

* the image prefix (system + user turn up to and including the image
  embedding) is encoded once per image and restored from a saved sequence
  state for the next phases (Qwen3.5's linear-attention layers are recurrent,
  so the cache cannot simply be truncated); the suffix always starts with
  ``<|vision_end|>`` and is tokenised by us, so reuse and no-reuse run the same
  token sequence and give identical outputs;
* grammar-constrained decoding that only consults the grammar when the sampled
  token is rejected, plus jump-forward over text the grammar forces;
* cancellation inside long prefill batches and inside the vision encoder
  (llama.cpp abort callback / ggml scheduler callback), streaming, stats.

One model per process; all calls are serialised by a lock (llama.cpp contexts
are not thread-safe). Chat rendering is Qwen3.5's template with thinking off.

The class is assembled from its parts: :mod:`.context` (state, tokens, batch
evaluation), :mod:`.loading` (load/close), :mod:`.prefill` (prompt and image
prefix), :mod:`.generation` (the decode loop); process-wide llama.cpp setup is
in :mod:`.runtime`, the chat template in :mod:`.chat`.
"""

from __future__ import annotations

import os
from pathlib import Path

from fada_desk.inference.llama.generation import Generation
from fada_desk.inference.llama.loading import ModelLoading
from fada_desk.inference.llama.threads import ThreadTuner, decode_thread_candidates, physical_cores


class LlamaCppBackend(ModelLoading, Generation):
    """:class:`~fada_desk.inference.backend.ModelBackend` on llama.cpp + libmtmd."""

    name = "llama_cpp"

    def __init__(self, model_path: str | os.PathLike[str], mmproj_path: str | os.PathLike[str] | None = None,
                 *, n_ctx: int = 4096, n_batch: int = 512, n_threads: int | None = None,
                 n_gpu_layers: int = -1, reuse_prefix: bool = True, jump_forward: bool = True,
                 top_k: int = 40, image_max_tokens: int | None = None, prefix_cache_size: int = 4,
                 compute_hashes: bool = True, flash_attn: bool | None = None,
                 n_threads_decode: int | None = None, partial_head: bool = True) -> None:
        self.model_path = Path(model_path)
        self.mmproj_path = Path(mmproj_path) if mmproj_path is not None else None
        self.n_ctx = int(n_ctx)
        self.n_batch = int(n_batch)
        self.n_threads = int(n_threads) if n_threads else physical_cores()
        if self.n_threads < 1:
            raise ValueError("n_threads must be >= 1")
        # An explicit n_threads_decode fixes the decode thread count; otherwise it is
        # measured and adapted while decoding (see fada_desk.inference.llama.threads).
        self.tuner = ThreadTuner([int(n_threads_decode)] if n_threads_decode
                                 else decode_thread_candidates(self.n_threads))
        # Grammar states with few allowed tokens skip llama.cpp's output layer (see .partial_head).
        self.partial_head = partial_head
        self.requested_gpu_layers = int(n_gpu_layers)
        self.reuse_prefix = reuse_prefix
        self.jump_forward = jump_forward
        self.top_k = top_k
        self.image_max_tokens = image_max_tokens
        self.prefix_cache_size = max(0, prefix_cache_size)
        self.compute_hashes = compute_hashes
        self.flash_attn = flash_attn  # None: llama.cpp decides (auto)
        super().__init__()
