"""llama.cpp in this process: import, one-time initialisation, logs, devices, the one loaded model.

Everything process-wide lives here: the OpenMP wait policy (set before
``llama_cpp`` loads libgomp), the lazy ``llama_cpp`` / libmtmd imports with a
clear error when the 'ai' extra is missing, ``llama_backend_init`` with
llama.cpp's and libmtmd's logs routed to the ``fada_desk.llama_cpp`` logger,
the GPU(s) llama.cpp offloads to, and the rule "one model per process".
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

from fada_desk.core.errors import ModelError

log = logging.getLogger(__name__)

# llama.cpp's CPU backend uses OpenMP and meets at a barrier after every graph node.
# libgomp's default waits spin ~3 ms before sleeping; OMP_WAIT_POLICY=PASSIVE sleeps at
# once, which made each 2-thread token cost 41-47 ms instead of ~21-23 ms (2-vCPU VM,
# 0.8B model). A short spin (GOMP_SPINCOUNT=10000, ~0.1 ms) keeps the barriers cheap
# while both threads run, and stops burning a core soon after work ends. What happens
# when another program holds a core (2 threads fall to 40-190 ms per token, 1 thread
# stays at ~27 ms) is handled by the decode thread tuner (fada_desk.inference.llama.threads),
# not by the wait policy. Must be set before libgomp loads, i.e. before llama_cpp is
# imported; an explicit OMP_WAIT_POLICY or GOMP_SPINCOUNT wins.
if "OMP_WAIT_POLICY" not in os.environ and "GOMP_SPINCOUNT" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = "10000"

_PROCESS_LOCK = threading.Lock()
_active: weakref.ReferenceType[Any] | None = None
_backend_initialised = False
_log_cb: Any = None
_devnull_hook = False


def claim_process_model(backend: Any) -> None:
    """Make ``backend`` the process's model; refused while another loaded one holds that place."""
    global _active
    with _PROCESS_LOCK:
        other = _active() if _active is not None else None
        if other is not None and other is not backend and other.loaded:
            raise ModelError("another AI model is already loaded in this process; close it first")
        _active = weakref.ref(backend)


def release_process_model(backend: Any) -> None:
    """``backend`` was closed: another model may load."""
    global _active
    with _PROCESS_LOCK:
        if _active is not None and _active() is backend:
            _active = None


def import_llama() -> Any:
    """The ``llama_cpp`` bindings (ModelError when the 'ai' extra is not installed)."""
    global _devnull_hook
    try:
        import llama_cpp
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelError("local AI is not installed (llama-cpp-python missing); install the 'ai' extra") from exc
    if not _devnull_hook:
        _devnull_hook = True
        atexit.register(_close_llama_devnull)
    return llama_cpp


def libllama() -> Any:
    """The ctypes handle of libllama (for entry points the bindings do not wrap)."""
    import_llama()
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


def import_mtmd() -> Any:
    """libmtmd's bindings (``llama_cpp.mtmd_cpp``)."""
    import_llama()  # the install check and the exit hook
    import llama_cpp.mtmd_cpp as mtmd

    return mtmd


def init_llama_once() -> None:
    """llama_backend_init + route llama.cpp/mtmd logs to Python logging (not stderr)."""
    global _backend_initialised, _log_cb
    if _backend_initialised:
        return
    llama_cpp = import_llama()
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
    mtmd = import_mtmd()
    try:  # mtmd_helper_log_set also covers libmtmd's helper (image batch) messages
        fn = mtmd._libmtmd.mtmd_helper_log_set
        fn.argtypes = [llama_cpp.llama_log_callback, ctypes.c_void_p]
        fn.restype = None
        fn(_log_cb, None)
    except Exception as exc:  # older libmtmd
        log.debug("mtmd_helper_log_set unavailable (%s); using mtmd_log_set", exc)
        mtmd.mtmd_log_set(_log_cb, ctypes.c_void_p(0))
    _backend_initialised = True


def offload_devices(devices: list[tuple[int, str, str]]) -> list[str]:
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


def gpu_device_name() -> str | None:
    """The GPU(s) llama.cpp offloads to, via libggml (None if unavailable)."""
    try:
        llama_cpp = import_llama()
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
        return ", ".join(offload_devices(devices)) or None
    except Exception:
        return None
    return None
