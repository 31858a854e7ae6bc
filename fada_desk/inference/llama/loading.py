"""Loading and freeing the model: GGUF checks, weights, context, vision projector, partial head.

:meth:`ModelLoading.load` checks both files' headers (role, architecture,
pairing), loads the language model (``n_gpu_layers=0`` means no GPU at all),
creates the context, sets up and self-tests the partial output layer
(:mod:`.partial_head`), loads the mmproj through libmtmd and hashes both files
for the cache; a failure at any step frees what was created. One model per
process (:func:`~fada_desk.inference.llama.runtime.claim_process_model`).
"""

from __future__ import annotations

import ctypes
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.cancel import Progress
from fada_desk.core.errors import ModelError
from fada_desk.core.fileio import sha256_file
from fada_desk.inference.backend import BackendInfo
from fada_desk.inference.llama.context import LlamaContext
from fada_desk.inference.llama.gguf_info import GGUFInfo, check_gguf, check_pair
from fada_desk.inference.llama.partial_head import PartialHead, PartialHeadUnavailable
from fada_desk.inference.llama.runtime import (
    claim_process_model,
    gpu_device_name,
    import_llama,
    import_mtmd,
    init_llama_once,
    libllama,
    release_process_model,
)

log = logging.getLogger(__name__)

# Largest |partial - llama.cpp| logit difference (relative to the logits' spread) the load-time
# self-test accepts. The partial logits round the hidden state like ggml's dot products do, so
# they agree to float rounding (measured 5e-7 on the shape twin and the tiny model); a wrong
# hidden state, matrix or rounding scheme gives errors of 1e-2 and more.
PARTIAL_HEAD_TOLERANCE = 1e-4


class ModelLoading(LlamaContext):
    """load / close of :class:`~fada_desk.inference.llama.llama_backend.LlamaCppBackend`."""

    # options, set by LlamaCppBackend.__init__
    name: str
    model_path: Path
    mmproj_path: Path | None
    requested_gpu_layers: int
    partial_head: bool
    image_max_tokens: int | None
    compute_hashes: bool
    flash_attn: bool | None

    def load(self, progress: Callable[[Progress], None] | None = None) -> None:
        report = progress or (lambda p: None)
        with self._lock:
            if self.loaded:
                return
            claim_process_model(self)
            report(Progress("Checking model files", 0.0))
            minfo = check_gguf(self.model_path, "model")
            pinfo = check_gguf(self.mmproj_path, "mmproj") if self.mmproj_path is not None else None
            check_pair(minfo, pinfo)
            llama_cpp = import_llama()
            init_llama_once()
            gpu_ok = bool(llama_cpp.llama_supports_gpu_offload())
            n_gpu = self.requested_gpu_layers if gpu_ok else 0
            try:
                self._load_model(minfo, n_gpu, report)
                self._create_context()
                self._init_partial_head(minfo, on_gpu=n_gpu != 0 and gpu_ok)
                if pinfo is not None:
                    report(Progress("Loading vision projector", 0.85))
                    self._load_mmproj(pinfo, use_gpu=gpu_ok and n_gpu != 0)
                report(Progress("Checking model files", 0.95))
                msha = sha256_file(self.model_path) if self.compute_hashes else ""
                psha = sha256_file(self.mmproj_path) if (self.compute_hashes and self.mmproj_path) else ""
            except BaseException:
                self._free()
                raise
            device = "CPU"
            if n_gpu != 0 and gpu_ok:
                device = gpu_device_name() or "GPU"
            self._info = BackendInfo(
                name=self.name, model_path=str(self.model_path),
                mmproj_path=str(self.mmproj_path) if self.mmproj_path else "",
                model_sha256=msha, mmproj_sha256=psha, n_threads=self.n_threads, n_gpu_layers=n_gpu,
                gpu_offload_supported=gpu_ok, device=device)
            report(Progress("Model ready", 1.0))

    def _load_model(self, minfo: GGUFInfo, n_gpu: int, report: Callable[[Progress], None]) -> None:
        llama_cpp = import_llama()
        mparams = llama_cpp.llama_model_default_params()
        mparams.n_gpu_layers = n_gpu
        mparams.use_mmap = True
        # n_gpu_layers=0 alone still gives llama.cpp every GPU: a compute buffer there, and
        # prompt/image batches offloaded to it (op_offload), uploading the weights each time.
        # "0 = CPU only" must mean no GPU at all (a broken driver, a busy GPU): an empty,
        # NULL-terminated device list. With it a GPU build is bit-identical to a CPU build.
        no_devices = (ctypes.c_void_p * 1)(None)
        if n_gpu == 0:
            mparams.devices = ctypes.cast(no_devices, ctypes.c_void_p)

        def _progress(frac: float, _user: Any) -> bool:
            try:
                report(Progress("Loading language model", 0.05 + 0.75 * float(frac)))
            except Exception:  # never let a UI callback abort the load
                pass
            return True

        cb = llama_cpp.llama_progress_callback(_progress)
        mparams.progress_callback = cb
        self._model = llama_cpp.llama_model_load_from_file(str(self.model_path).encode(), mparams)
        if not self._model:
            self._model = None
            raise ModelError(f"llama.cpp could not load {self.model_path.name} "
                             f"(architecture '{minfo.architecture}' unsupported by this build, or a damaged file)")
        self._vocab = llama_cpp.llama_model_get_vocab(self._model)
        self._n_vocab = int(llama_cpp.llama_vocab_n_tokens(self._vocab))
        eog, banned = [], []
        bad = llama_cpp.LLAMA_TOKEN_ATTR_UNUSED | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        for t in range(self._n_vocab):
            if llama_cpp.llama_vocab_is_eog(self._vocab, t):
                eog.append(t)
            elif llama_cpp.llama_vocab_get_attr(self._vocab, t) & bad:
                banned.append(t)
        self._eog = np.array(eog, dtype=np.int64)
        self._banned = np.array(banned, dtype=np.int64)

    def _create_context(self) -> None:
        llama_cpp = import_llama()
        cparams = llama_cpp.llama_context_default_params()
        cparams.n_ctx = self.n_ctx
        cparams.n_batch = self.n_batch
        cparams.n_ubatch = self.n_batch
        cparams.n_seq_max = 1
        cparams.n_threads = self.tuner.current  # llama.cpp: single-token batches (adapted: see _decode)
        cparams.n_threads_batch = self.n_threads  # prompt / image batches
        self._threads_set = (self.tuner.current, self.n_threads)
        cparams.no_perf = True
        if self.flash_attn is not None:
            cparams.flash_attn_type = (llama_cpp.LLAMA_FLASH_ATTN_TYPE_ENABLED if self.flash_attn
                                       else llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED)
        self._ctx = llama_cpp.llama_init_from_model(self._model, cparams)
        if not self._ctx:
            self._ctx = None
            raise ModelError(f"llama.cpp could not create a context for {self.model_path.name} "
                             f"(n_ctx={self.n_ctx}; not enough memory?)")
        self._batch = llama_cpp.llama_batch_init(self.n_batch, 0, 1)
        self._abort_cb = llama_cpp.ggml_abort_callback(lambda _d: self._aborting())

    def _load_mmproj(self, pinfo: GGUFInfo, use_gpu: bool) -> None:
        mtmd = import_mtmd()
        llama_cpp = import_llama()
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.print_timings = False
        params.n_threads = self.n_threads
        params.warmup = False
        if self.image_max_tokens:
            params.image_max_tokens = int(self.image_max_tokens)

        def _eval(_tensor: Any, ask: bool, _user: Any) -> bool:
            # Split the vision graph every 32 nodes so a cancel can stop it mid-encode.
            if ask:
                self._eval_nodes += 1
                return self._eval_nodes % 32 == 0
            return not self._aborting()

        self._eval_cb = llama_cpp.ggml_backend_sched_eval_callback(_eval)
        params.cb_eval = self._eval_cb
        self._mtmd_ctx = mtmd.mtmd_init_from_file(str(self.mmproj_path).encode(), self._model, params)
        if not self._mtmd_ctx:
            self._mtmd_ctx = None
            raise ModelError(f"llama.cpp could not load the vision projector {pinfo.path.name} "
                             f"(projector '{pinfo.metadata.get('clip.projector_type', '?')}' unsupported "
                             "or it does not match the model)")
        if not mtmd.mtmd_support_vision(self._mtmd_ctx):
            raise ModelError(f"{pinfo.path.name} has no vision support")

    def close(self) -> None:
        """Free llama + mtmd contexts. Idempotent; stops a running generation first."""
        self._closing = True
        try:
            with self._lock:
                self._free()
        finally:
            self._closing = False
        release_process_model(self)

    def _init_partial_head(self, minfo: GGUFInfo, on_gpu: bool) -> None:
        """Set up partial logits if this build and model allow it, verified against llama.cpp's own."""
        self._head = None
        if not self.partial_head:
            self.head_status = "off"
            return
        if on_gpu:
            self.head_status = "off: the output layer runs on the GPU"
            return
        try:
            head = PartialHead(libllama(), self._ctx, minfo)
        except (PartialHeadUnavailable, OSError) as exc:
            self.head_status = f"off: {exc}"
            log.info("partial output layer unavailable: %s", exc)
            return
        try:
            toks = self.tokenize('{"label": [12, 3')
            self._clear_memory()
            self._decode(toks, 0, None)
            full = self._logits().copy()
            rng = np.random.default_rng(0)
            ids = np.unique(np.concatenate([np.argsort(-full)[:16],
                                            rng.choice(len(full), size=min(240, len(full)), replace=False)]))
            err = head.max_error(full, len(toks) - 1, ids)
        finally:
            self._clear_memory()
        if not err <= PARTIAL_HEAD_TOLERANCE:
            head.close()
            self.head_status = f"off: self-test error {err:.3g}"
            log.warning("partial output layer disabled: logits differ from llama.cpp's by %.3g", err)
            return
        self._head = head
        self.head_status = f"on (self-test error {err:.2g})"

    def _free(self) -> None:
        llama_cpp = import_llama()
        self._prefixes.clear()
        if self._head is not None:
            self._head.close()
            self._head = None
        if self._mtmd_ctx is not None:
            import_mtmd().mtmd_free(self._mtmd_ctx)
            self._mtmd_ctx = None
        if self._batch is not None:
            llama_cpp.llama_batch_free(self._batch)
            self._batch = None
        if self._ctx is not None:
            llama_cpp.llama_free(self._ctx)
            self._ctx = None
        if self._model is not None:
            llama_cpp.llama_model_free(self._model)
            self._model = None
        self._vocab = None
        self._table = None
        self._lazy_table = None
        self._info = None

    def __del__(self) -> None:  # last resort; callers should close()
        try:
            if self._ctx is not None or self._model is not None:
                self.close()
        except Exception:
            pass
