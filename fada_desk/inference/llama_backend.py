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
"""

from __future__ import annotations

import atexit
import codecs
import ctypes
import hashlib
import logging
import os
import sys
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import Cancelled, ModelError
from fada_desk.inference.gguf_info import GGUFInfo, check_gguf, check_pair
from fada_desk.inference._llama_sampling import Sampler, TokenTable
from fada_desk.inference._partial_head import PartialHead, PartialHeadUnavailable
from fada_desk.inference._threads import ThreadTuner
from fada_desk.inference.backend import BackendInfo, GenerationRequest, GenerationStats
from fada_desk.inference.grammar import Grammar, GrammarState
from fada_desk.inference.models import sha256_file

log = logging.getLogger(__name__)

# llama.cpp's CPU backend uses OpenMP and meets at a barrier after every graph node.
# libgomp's default waits spin ~3 ms before sleeping; OMP_WAIT_POLICY=PASSIVE sleeps at
# once, which made each 2-thread token cost 41-47 ms instead of ~21-23 ms (2-vCPU VM,
# 0.8B model). A short spin (GOMP_SPINCOUNT=10000, ~0.1 ms) keeps the barriers cheap
# while both threads run, and stops burning a core soon after work ends. What happens
# when another program holds a core (2 threads fall to 40-190 ms per token, 1 thread
# stays at ~27 ms) is handled by the decode thread tuner (fada_desk.inference._threads),
# not by the wait policy. Must be set before libgomp loads, i.e. before llama_cpp is
# imported; an explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

IMAGE_PLACEHOLDER = "<|vision_start|><|image_pad|><|vision_end|>"
VISION_END = "<|vision_end|>"
THINK_OFF = "<think>\n\n</think>\n\n"


def render_chat(prompt: str, system: str | None = None, with_image: bool = False) -> str:
    """Qwen3.5 chat template, one user turn, generation prompt, thinking disabled.

    Mirrors the official template: system and user contents are trimmed, the
    image comes before the text inside the user message, and the assistant turn
    starts with an empty think block.
    """
    out = ""
    if system is not None:
        out += f"<|im_start|>system\n{system.strip()}<|im_end|>\n"
    content = (IMAGE_PLACEHOLDER + prompt) if with_image else prompt
    out += f"<|im_start|>user\n{content.strip()}<|im_end|>\n"
    out += "<|im_start|>assistant\n" + THINK_OFF
    return out


# Largest |partial - llama.cpp| logit difference (relative to the logits' spread) the load-time
# self-test accepts. The partial logits round the hidden state like ggml's dot products do, so
# they agree to float rounding (measured 5e-7 on the shape twin and the tiny model); a wrong
# hidden state, matrix or rounding scheme gives errors of 1e-2 and more.
PARTIAL_HEAD_TOLERANCE = 1e-4
# Grammar states with at most this many allowed tokens use the partial output layer.
PARTIAL_HEAD_MAX_TOKENS = 4096

# Batches up to this size (one sampled token, or one plus the text the grammar forces
# after it) run with the decode thread count the tuner picks; larger ones (prompt,
# image embedding) with ``n_threads``.
SMALL_BATCH = 16


def decode_thread_candidates(n_threads: int) -> list[int]:
    """Thread counts the decode tuner chooses between (see :mod:`fada_desk.inference._threads`).

    All cores, half of them and one: measured on a 2-vCPU machine, one token of
    the 0.8B model took ~21 ms with 2 threads and ~27 ms with 1 while the
    machine was otherwise idle, but 2 threads fell to 50-300 ms as soon as
    another process held a core (each graph node ends at a barrier that waits
    for the descheduled thread) while 1 thread stayed at ~27 ms.
    """
    n = max(1, int(n_threads))
    return sorted({n, (n + 1) // 2, 1}, reverse=True)


def physical_cores() -> int:
    """Physical cores available to this process (llama.cpp gains nothing from SMT siblings)."""
    try:
        avail = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        avail = os.cpu_count() or 1
    cores: int | None = None
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil is optional
        cores = None
    if not cores:
        try:
            sib = set()
            for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology/core_cpus_list"):
                sib.add(p.read_text().strip())
            cores = len(sib) or None
        except OSError:
            cores = None
    return max(1, min(avail, cores or avail))


# --------------------------------------------------------------------------- process-wide state

_PROCESS_LOCK = threading.Lock()
_active: "weakref.ReferenceType[LlamaCppBackend] | None" = None
_backend_initialised = False
_log_cb: Any = None
_devnull_hook = False


def _llama() -> Any:
    global _devnull_hook
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError("local AI is not installed (llama-cpp-python missing); install the 'ai' extra") from exc
    if not _devnull_hook:
        _devnull_hook = True
        atexit.register(_close_llama_devnull)
    return llama_cpp


def _llama_lib() -> Any:
    """The ctypes handle of libllama (for entry points the bindings do not wrap)."""
    _llama()
    import llama_cpp.llama_cpp as bindings

    return bindings._lib


def _close_llama_devnull() -> None:
    """llama_cpp._utils opens two /dev/null files at import and never closes them
    ("ResourceWarning: unclosed file" at every exit); close them once nothing can use them."""
    utils = sys.modules.get("llama_cpp._utils")
    for attr in ("outnull_file", "errnull_file"):
        f = getattr(utils, attr, None)
        if f is not None and hasattr(f, "close"):
            try:
                f.close()
            except Exception:  # pragma: no cover - best effort at interpreter exit
                pass


def _mtmd() -> Any:
    _llama()  # the install check and the exit hook
    import llama_cpp.mtmd_cpp as mtmd

    return mtmd


def _init_llama_once() -> None:
    """llama_backend_init + route llama.cpp/mtmd logs to Python logging (not stderr)."""
    global _backend_initialised, _log_cb
    if _backend_initialised:
        return
    llama_cpp = _llama()
    llama_cpp.llama_backend_init()
    lg = logging.getLogger("fada_desk.llama_cpp")

    def _log(level: int, text: bytes, _user: Any) -> None:
        try:
            msg = text.decode("utf-8", "replace").rstrip()
        except Exception:
            return
        if msg:
            lg.log(logging.WARNING if level == 4 else logging.DEBUG, "%s", msg)

    _log_cb = llama_cpp.llama_log_callback(_log)
    llama_cpp.llama_log_set(_log_cb, ctypes.c_void_p(0))
    mtmd = _mtmd()
    try:  # mtmd_helper_log_set also covers libmtmd's helper (image batch) messages
        fn = mtmd._libmtmd.mtmd_helper_log_set
        fn.argtypes = [llama_cpp.llama_log_callback, ctypes.c_void_p]
        fn.restype = None
        fn(_log_cb, None)
    except Exception as exc:  # older libmtmd
        log.debug("mtmd_helper_log_set unavailable (%s); using mtmd_log_set", exc)
        mtmd.mtmd_log_set(_log_cb, ctypes.c_void_p(0))
    _backend_initialised = True


def _offload_devices(devices: list[tuple[int, str, str]]) -> list[str]:
    """"name: description" of the devices llama.cpp offloads to, from ggml's (type, name, description) list.

    Mirrors llama.cpp's default choice (llama_prepare_model_devices, and clip's for
    the mmproj): every discrete GPU, integrated GPUs only when there is no discrete
    one; CPU/accelerator devices and RPC servers are not "the GPU". On a hybrid
    laptop (iGPU enumerated first + dGPU) naming the first GPU-ish device would show
    the iGPU while the layers are on the dGPU.
    """
    def label(name: str, desc: str) -> str:
        return f"{name}: {desc}" if desc else name

    gpus = [label(n, d) for t, n, d in devices if t == 1 and not n.upper().startswith("RPC")]
    return gpus or [label(n, d) for t, n, d in devices if t == 2]


def _gpu_device_name() -> str | None:
    """The GPU(s) llama.cpp offloads to, via libggml (None if unavailable)."""
    try:
        llama_cpp = _llama()
        libdir = Path(llama_cpp.__file__).resolve().parent / "lib"
        cands = sorted(libdir.glob("libggml.so*")) + sorted(libdir.glob("ggml.dll")) + sorted(libdir.glob("libggml.dylib"))
        if not cands:
            return None
        lib = ctypes.CDLL(str(cands[0]))
        lib.ggml_backend_dev_count.restype = ctypes.c_size_t
        lib.ggml_backend_dev_get.restype = ctypes.c_void_p
        lib.ggml_backend_dev_get.argtypes = [ctypes.c_size_t]
        lib.ggml_backend_dev_type.restype = ctypes.c_int
        lib.ggml_backend_dev_type.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_name.restype = ctypes.c_char_p
        lib.ggml_backend_dev_name.argtypes = [ctypes.c_void_p]
        lib.ggml_backend_dev_description.restype = ctypes.c_char_p
        lib.ggml_backend_dev_description.argtypes = [ctypes.c_void_p]
        devices = []
        for i in range(lib.ggml_backend_dev_count()):
            dev = lib.ggml_backend_dev_get(i)
            devices.append((int(lib.ggml_backend_dev_type(dev)),  # 0 CPU, 1 GPU, 2 IGPU, 3 ACCEL
                            (lib.ggml_backend_dev_name(dev) or b"GPU").decode(errors="replace"),
                            (lib.ggml_backend_dev_description(dev) or b"").decode(errors="replace")))
        return ", ".join(_offload_devices(devices)) or None
    except Exception:
        return None
    return None


# --------------------------------------------------------------------------- helpers

class _TextStream:
    """Bytes -> text, holding back incomplete UTF-8 and possible stop-string prefixes."""

    def __init__(self, stops: tuple[str, ...]) -> None:
        self._dec = codecs.getincrementaldecoder("utf-8")("replace")
        self.text = ""
        self._emitted = 0
        self._stops = tuple(s for s in stops if s)
        self.stopped = False

    def feed(self, data: bytes) -> str:
        self.text += self._dec.decode(data)
        return self._drain(final=False)

    def finish(self) -> str:
        self.text += self._dec.decode(b"", final=True)
        return self._drain(final=True)

    def _drain(self, final: bool) -> str:
        if self.stopped:
            return ""
        cut = len(self.text)
        if self._stops:
            start = max(0, self._emitted - max(len(s) for s in self._stops))
            hits = [i for i in (self.text.find(s, start) for s in self._stops) if i >= 0]
            if hits:
                self.text = self.text[: min(hits)]
                self.stopped = True
                cut = len(self.text)
            elif not final:
                for s in self._stops:
                    for n in range(min(len(s) - 1, len(self.text)), 0, -1):
                        if self.text.endswith(s[:n]):
                            cut = min(cut, len(self.text) - n)
                            break
        out = self.text[self._emitted : cut]
        self._emitted = max(self._emitted, cut)
        return out


@dataclass
class _Prefix:
    state: Any  # ctypes uint8 array
    size: int
    n_past: int
    n_text_tokens: int
    n_image_tokens: int


# --------------------------------------------------------------------------- backend

class LlamaCppBackend:
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
        # measured and adapted while decoding (see fada_desk.inference._threads).
        self.tuner = ThreadTuner([int(n_threads_decode)] if n_threads_decode
                                 else decode_thread_candidates(self.n_threads))
        self._threads_set: tuple[int, int] | None = None
        # Grammar states with few allowed tokens skip llama.cpp's output layer (see _partial_head).
        self.partial_head = partial_head
        self._head: PartialHead | None = None
        self.head_status = "off"
        self.requested_gpu_layers = int(n_gpu_layers)
        self.reuse_prefix = reuse_prefix
        self.jump_forward = jump_forward
        self.top_k = top_k
        self.image_max_tokens = image_max_tokens
        self.prefix_cache_size = max(0, prefix_cache_size)
        self.compute_hashes = compute_hashes
        self.flash_attn = flash_attn  # None: llama.cpp decides (auto)
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

    # ------------------------------------------------------------------ lifecycle
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

    def load(self, progress: Callable[[Progress], None] | None = None) -> None:
        global _active
        report = progress or (lambda p: None)
        with self._lock:
            if self.loaded:
                return
            with _PROCESS_LOCK:
                other = _active() if _active is not None else None
                if other is not None and other is not self and other.loaded:
                    raise ModelError("another AI model is already loaded in this process; close it first")
                _active = weakref.ref(self)
            report(Progress("Checking model files", 0.0))
            minfo = check_gguf(self.model_path, "model")
            pinfo = check_gguf(self.mmproj_path, "mmproj") if self.mmproj_path is not None else None
            check_pair(minfo, pinfo)
            llama_cpp = _llama()
            _init_llama_once()
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
                device = _gpu_device_name() or "GPU"
            self._info = BackendInfo(
                name=self.name, model_path=str(self.model_path),
                mmproj_path=str(self.mmproj_path) if self.mmproj_path else "",
                model_sha256=msha, mmproj_sha256=psha, n_threads=self.n_threads, n_gpu_layers=n_gpu,
                gpu_offload_supported=gpu_ok, device=device)
            report(Progress("Model ready", 1.0))

    def _load_model(self, minfo: GGUFInfo, n_gpu: int, report: Callable[[Progress], None]) -> None:
        llama_cpp = _llama()
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
        llama_cpp = _llama()
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
        mtmd = _mtmd()
        llama_cpp = _llama()
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
        global _active
        self._closing = True
        try:
            with self._lock:
                self._free()
        finally:
            self._closing = False
        with _PROCESS_LOCK:
            if _active is not None and _active() is self:
                _active = None

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
            head = PartialHead(_llama_lib(), self._ctx, minfo)
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
        llama_cpp = _llama()
        self._prefixes.clear()
        if self._head is not None:
            self._head.close()
            self._head = None
        if self._mtmd_ctx is not None:
            _mtmd().mtmd_free(self._mtmd_ctx)
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

    # ------------------------------------------------------------------ tokens
    def tokenize(self, text: str, parse_special: bool = True) -> list[int]:
        llama_cpp = _llama()
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
        llama_cpp = _llama()
        buf = ctypes.create_string_buffer(64)
        n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, 64, 0, special)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = llama_cpp.llama_token_to_piece(self._vocab, token, buf, -n, 0, special)
        return buf.raw[:n]

    def _token_table(self) -> TokenTable:
        if self._table is None:
            llama_cpp = _llama()
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

    def _grammar(self, request: GenerationRequest) -> GrammarState | None:
        if request.grammar is None and request.json_schema is None:
            return None
        if request.grammar is not None:
            text = request.grammar
        else:
            import json

            from fada_desk.inference.grammar_json import json_schema_to_gbnf

            text = json_schema_to_gbnf(request.json_schema or {})
            key = "schema:" + json.dumps(request.json_schema, sort_keys=True)
            g = self._grammars.get(key)
            if g is None:
                g = Grammar(text)
                self._remember_grammar(key, g)
            return g.start()
        g = self._grammars.get(text)
        if g is None:
            g = Grammar(text)
            self._remember_grammar(text, g)
        return g.start()

    def _remember_grammar(self, key: str, g: Grammar) -> None:
        self._grammars[key] = g
        while len(self._grammars) > 16:
            self._grammars.popitem(last=False)

    # ------------------------------------------------------------------ evaluation
    def _check_cancel(self, cancel: CancelToken | None) -> None:
        if self._closing or self._ctx is None:  # closed while a suspended stream held the (re-entrant) lock
            raise Cancelled("cancelled: the model is closing")
        if cancel is not None:
            cancel.check()

    def _decode(self, tokens: list[int], n_past: int, cancel: CancelToken | None, logits_last: bool = True) -> int:
        """Evaluate ``tokens`` at positions n_past.. in batches; returns the new n_past."""
        llama_cpp = _llama()
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
            _llama().llama_set_n_threads(self._ctx, n, n)
            self._threads_set = (n, n)

    @property
    def n_threads_decode(self) -> int:
        """Threads the next single-token step would use (the tuner's current choice)."""
        return self.tuner.current

    def _logits(self) -> np.ndarray:
        llama_cpp = _llama()
        ptr = llama_cpp.llama_get_logits_ith(self._ctx, -1)
        if not ptr:
            raise ModelError("llama.cpp returned no logits")
        return np.ctypeslib.as_array(ptr, shape=(self._n_vocab,))

    def _clear_memory(self) -> None:
        llama_cpp = _llama()
        llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(self._ctx), True)

    def _save_prefix(self, n_past: int, n_text: int, n_img: int) -> _Prefix:
        llama_cpp = _llama()
        size = llama_cpp.llama_state_seq_get_size(self._ctx, 0)
        buf = (ctypes.c_uint8 * size)()
        got = llama_cpp.llama_state_seq_get_data(self._ctx, buf, size, 0)
        if got != size:
            raise ModelError("could not save the image prefix state")
        return _Prefix(buf, size, n_past, n_text, n_img)

    def _restore_prefix(self, p: _Prefix) -> None:
        llama_cpp = _llama()
        self._clear_memory()
        if llama_cpp.llama_state_seq_set_data(self._ctx, p.state, p.size, 0) != p.size:
            self._clear_memory()
            raise ModelError("could not restore the image prefix state")

    def _eval_image_prefix(self, pre_text: str, image: np.ndarray, cancel: CancelToken | None,
                           stats: GenerationStats) -> tuple[int, int, int]:
        """Evaluate system + user turn up to and including the image embedding.

        Returns (n_past, n_text_tokens, n_image_tokens). The ``<|vision_end|>``
        token mtmd appends after the image is *not* evaluated: it starts the suffix.
        """
        mtmd = _mtmd()
        llama_cpp = _llama()
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

    # ------------------------------------------------------------------ generation
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
        stream = _TextStream(request.stop)
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

    def _plain_table(self) -> TokenTable:
        """Detokenisation + banned ids without building grammar data for the whole vocab."""
        if self._table is not None:
            return self._table
        if self._lazy_table is None:
            self._lazy_table = _LazyTable(self)
        return self._lazy_table


class _LazyTable(TokenTable):
    """TokenTable whose pieces are fetched per token (no 248k-entry scan for free text)."""

    def __init__(self, backend: LlamaCppBackend) -> None:
        super().__init__(pieces=_PieceList(backend), first_byte=np.zeros(0, dtype=np.int16),  # type: ignore[arg-type]
                         eog=backend._eog.copy(), banned=backend._banned.copy())


class _PieceList:
    def __init__(self, backend: LlamaCppBackend) -> None:
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
