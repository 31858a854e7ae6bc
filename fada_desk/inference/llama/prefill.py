"""The prompt before the answer: text turns, or the image prefix through libmtmd, reused per image.

With an image the rendered chat is split at the image: the prefix (system +
user turn up to and including the image embedding) is evaluated through
libmtmd once per image and its sequence state saved; the next phases on the
same image restore it (Qwen3.5's linear-attention layers are recurrent, so the
cache cannot simply be truncated). The suffix always starts with
``<|vision_end|>`` and is tokenised here, so reuse and no-reuse evaluate the
same token sequence and give identical outputs. The vision encoder and long
batches stop on cancel (abort / scheduler callbacks).
"""

from __future__ import annotations

import ctypes
import hashlib
import time
from typing import Any

import numpy as np

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import ModelError
from fada_desk.inference.backend import GenerationRequest, GenerationStats
from fada_desk.inference.llama.chat import IMAGE_PLACEHOLDER, VISION_END, render_chat
from fada_desk.inference.llama.context import LlamaContext
from fada_desk.inference.llama.runtime import import_llama, import_mtmd


class ImagePrefill(LlamaContext):
    """Prefill of :class:`~fada_desk.inference.llama.llama_backend.LlamaCppBackend`."""

    # options, set by LlamaCppBackend.__init__
    reuse_prefix: bool
    prefix_cache_size: int

    def _prefix_key(self, pre_text: str, request: GenerationRequest) -> tuple[Any, ...]:
        img = request.image
        assert img is not None
        if request.image_key:
            ikey = ("key", request.image_key)
        else:
            ikey = ("sha", hashlib.blake2b(np.ascontiguousarray(img).tobytes(), digest_size=16).hexdigest())
        return (pre_text, ikey, img.shape)

    def _prefill(self, request: GenerationRequest, cancel: CancelToken | None, stats: GenerationStats) -> int:
        with_image = request.image is not None
        full = render_chat(request.prompt, request.system, with_image)
        if not with_image:
            self._clear_memory()
            toks = self.tokenize(full)
            t0 = time.perf_counter()
            n_past = self._decode(toks, 0, cancel)
            stats.prefill_s += time.perf_counter() - t0
            stats.prompt_tokens = len(toks)
            stats.extra["prefill_tokens"] = len(toks)
            return n_past
        pre_text, post_text = full.split(IMAGE_PLACEHOLDER, 1)
        pre_text += "<|vision_start|>"
        key = self._prefix_key(pre_text, request)
        entry = self._prefixes.get(key) if self.reuse_prefix else None
        if entry is not None:
            t0 = time.perf_counter()
            self._restore_prefix(entry)
            self._prefixes.move_to_end(key)
            stats.prefill_s += time.perf_counter() - t0
            stats.prefix_reused = True
            n_past, n_text, n_img = entry.n_past, entry.n_text_tokens, entry.n_image_tokens
        else:
            self._clear_memory()
            # mtmd inserts <|vision_start|> itself: hand it the text without it.
            n_past, n_text, n_img = self._eval_image_prefix(pre_text[: -len("<|vision_start|>")], request.image,
                                                            cancel, stats)
            if self.reuse_prefix and self.prefix_cache_size:
                self._prefixes[key] = self._save_prefix(n_past, n_text, n_img)
                while len(self._prefixes) > self.prefix_cache_size:
                    self._prefixes.popitem(last=False)
        suffix = self.tokenize(VISION_END + post_text)
        t0 = time.perf_counter()
        n_past = self._decode(suffix, n_past, cancel)
        stats.prefill_s += time.perf_counter() - t0
        stats.prompt_tokens = n_text + len(suffix)
        stats.image_tokens = n_img
        # tokens evaluated by this request's prefill (only the suffix when the image prefix was reused)
        stats.extra["prefill_tokens"] = len(suffix) + (0 if stats.prefix_reused else n_text + n_img)
        stats.extra["n_past_prompt"] = n_past
        return n_past

    def _eval_image_prefix(self, pre_text: str, image: np.ndarray, cancel: CancelToken | None,
                           stats: GenerationStats) -> tuple[int, int, int]:
        """Evaluate system + user turn up to and including the image embedding.

        Returns (n_past, n_text_tokens, n_image_tokens). The ``<|vision_end|>``
        token mtmd appends after the image is *not* evaluated: it starts the suffix.
        """
        mtmd = import_mtmd()
        llama_cpp = import_llama()
        if self._mtmd_ctx is None:
            raise ModelError("this model has no vision projector (mmproj) loaded; cannot read images")
        t0 = time.perf_counter()
        img = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = img.shape[:2]
        bitmap = mtmd.mtmd_bitmap_init(w, h, img.ctypes.data_as(ctypes.POINTER(ctypes.c_uint8)))
        if not bitmap:
            raise ModelError("could not hand the image to the vision encoder")
        chunks = mtmd.mtmd_input_chunks_init()
        try:
            marker = mtmd.mtmd_default_marker().decode()
            text = (pre_text + marker).encode("utf-8")
            inp = mtmd.mtmd_input_text()
            inp.text = text
            inp.text_len = len(text)
            inp.add_special = False
            inp.parse_special = True
            arr = (mtmd.mtmd_bitmap_p_ctypes * 1)(bitmap)
            rc = mtmd.mtmd_tokenize(self._mtmd_ctx, chunks, ctypes.byref(inp), arr, 1)
            if rc != 0:
                raise ModelError(f"the vision encoder rejected the image (mtmd_tokenize returned {rc})")
            n_chunks = mtmd.mtmd_input_chunks_size(chunks)
            n_past = 0
            n_text = 0
            n_img = 0
            encode_s = time.perf_counter() - t0  # preprocessing (resize/normalise) counts as encode
            prefill_s = 0.0
            seen_image = False
            for i in range(n_chunks):
                chunk = mtmd.mtmd_input_chunks_get(chunks, i)
                ctype = mtmd.mtmd_input_chunk_get_type(chunk)
                if ctype == mtmd.MTMD_INPUT_CHUNK_TYPE_TEXT:
                    if seen_image:
                        break  # trailing <|vision_end|>: belongs to the suffix
                    n_tok = ctypes.c_size_t()
                    ptr = mtmd.mtmd_input_chunk_get_tokens_text(chunk, ctypes.byref(n_tok))
                    toks = [ptr[j] for j in range(n_tok.value)]
                    t1 = time.perf_counter()
                    n_past = self._decode(toks, n_past, cancel, logits_last=False)
                    prefill_s += time.perf_counter() - t1
                    n_text += len(toks)
                elif ctype == mtmd.MTMD_INPUT_CHUNK_TYPE_IMAGE:
                    self._check_cancel(cancel)
                    n_img = int(mtmd.mtmd_input_chunk_get_n_tokens(chunk))
                    if n_past + n_img >= self.n_ctx:
                        raise ModelError(f"the image needs {n_img} tokens, more than the model context allows")
                    t1 = time.perf_counter()
                    self._eval_nodes = 0
                    rc = mtmd.mtmd_encode_chunk(self._mtmd_ctx, chunk)
                    self._check_cancel(cancel)
                    if rc != 0:
                        raise ModelError(f"the vision encoder failed on this image (code {rc})")
                    embd = mtmd.mtmd_get_output_embd(self._mtmd_ctx)
                    t2 = time.perf_counter()
                    encode_s += t2 - t1
                    new_past = llama_cpp.llama_pos(0)
                    self._check_cancel(cancel)
                    self._use_threads(self.n_threads)
                    llama_cpp.llama_set_abort_callback(self._ctx, self._abort_cb, None)
                    try:
                        rc = mtmd.mtmd_helper_decode_image_chunk(
                            self._mtmd_ctx, self._ctx, chunk, embd, n_past, 0, self.n_batch,
                            ctypes.byref(new_past), mtmd.mtmd_helper_post_decode_callback(), None)
                    finally:
                        llama_cpp.llama_set_abort_callback(self._ctx, llama_cpp.ggml_abort_callback(), None)
                    self._check_cancel(cancel)
                    if rc != 0:
                        raise ModelError(f"llama.cpp failed to read the image embedding (code {rc})")
                    n_past = int(new_past.value)
                    prefill_s += time.perf_counter() - t2
                    seen_image = True
            if not seen_image:
                raise ModelError("the vision encoder produced no image tokens")
        finally:
            mtmd.mtmd_input_chunks_free(chunks)
            mtmd.mtmd_bitmap_free(bitmap)
        stats.image_encode_s += encode_s
        stats.prefill_s += prefill_s
        return n_past, n_text, n_img
