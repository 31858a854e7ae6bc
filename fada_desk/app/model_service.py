"""The one FADA model of this process: find it, verify it, load it lazily, close it on exit.

llama.cpp allows one loaded model per process (the backend refuses a second),
and loading takes seconds, so every AI panel shares one :class:`ModelService`
(:func:`shared_service`). Nothing here touches Qt: the jobs are generators
yielding :class:`~fada_desk.core.cancel.Progress` that the GUI runs on a worker
thread (the AI panel's ``JobRunner``) and the CLI or a test drives with
:func:`fada_desk.core.cancel.drive`.

State (:class:`ModelState`), in order: ``unchecked`` -> ``checking`` ->
``missing`` | ``invalid`` | ``ready`` (files verified, not loaded) ->
``loading`` -> ``loaded`` | ``failed``.
Every state has a one-line :attr:`ModelService.message` for the status line
that says what is wrong and what to do (``fada-desk models install PATH``).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import Cancelled, FadaError, ModelError



class ModelState(str, Enum):
    """Where the process model stands (the values are the historical status strings)."""

    UNCHECKED = "unchecked"
    CHECKING = "checking"
    MISSING = "missing"
    INVALID = "invalid"
    READY = "ready"
    LOADING = "loading"
    LOADED = "loaded"
    FAILED = "failed"

    def __str__(self) -> str:
        return self.value

    @property
    def unusable(self) -> bool:
        """No model files to run (nothing to try until the user installs or picks one)."""
        return self in (ModelState.MISSING, ModelState.INVALID)

    @property
    def bad(self) -> bool:
        """A state to show in red: no usable files or a failed load."""
        return self in (ModelState.MISSING, ModelState.INVALID, ModelState.FAILED)

INSTALL_HINT = "Install it with: fada-desk models install PATH (a folder with the model and mmproj GGUF files)"


@dataclass(frozen=True)
class ModelConfig:
    """Where the model is and how to run it (the AI settings dialog edits this).

    ``model_dir`` "" = automatic (the installed default set, else the only one).
    ``n_gpu_layers`` None = the backend's choice (all layers when a GPU is usable).
    """

    model_dir: str = ""
    n_gpu_layers: int | None = None
    n_threads: int | None = None

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in (("n_gpu_layers", self.n_gpu_layers), ("n_threads", self.n_threads))
                if v is not None}


def locate_model_dir(config: ModelConfig) -> Path | None:
    """The folder to use: the configured one, else the default installed set, else the first one."""
    from fada_desk.inference.model_store.manifests import DEFAULT_SET, installed_sets, user_models_dir

    if config.model_dir:
        return Path(config.model_dir)
    sets = installed_sets()
    default = user_models_dir() / DEFAULT_SET
    if default in sets:
        return default
    return sets[0] if sets else None


def _verify(directory: Path, cancel: CancelToken) -> Any:
    from fada_desk.inference.model_store.status import verify_set

    return verify_set(directory, full_hash=False, cancel=cancel)


def _create(status: Any, options: dict[str, Any]) -> Any:
    from fada_desk.inference.model_store.resolve import create_backend

    return create_backend(status, **options)


_DONE = object()


def call_reporting(fn: Callable[[Callable[[Progress], None]], Any], name: str,
                   token: CancelToken | None = None) -> Generator[Progress, None, Any]:
    """Run ``fn(report)`` (a blocking call with a progress callback) on a helper thread and
    yield its progress here, so a worker job can show it. Returns ``fn``'s value or raises
    its error; raises Cancelled within ~0.1 s of ``token`` being cancelled. ``fn`` itself
    still runs to the end then (a model load cannot be interrupted half-way): its own code
    must leave a consistent state."""
    q: queue.Queue[Any] = queue.Queue()
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn(q.put)
        except BaseException as err:  # noqa: BLE001 - re-raised in the job
            box["error"] = err
        finally:
            q.put(_DONE)

    t = threading.Thread(target=target, name=name, daemon=True)
    t.start()
    while True:
        try:
            item = q.get(timeout=0.1)
        except queue.Empty:
            if token is not None:
                token.check()
            continue
        if item is _DONE:
            break
        if isinstance(item, Progress):
            yield item
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class ModelService:
    """Owns the model files' status, the backend and the pipeline; thread-safe.

    ``backend_factory(status, options)`` and ``verifier(directory, token)``
    default to the real model manager; :meth:`use_backend` installs a ready
    backend (a scripted one in tests, an already-loaded one elsewhere).
    """

    def __init__(self, config: ModelConfig | None = None,
                 backend_factory: Callable[[Any, dict[str, Any]], Any] | None = None,
                 verifier: Callable[[Path, CancelToken], Any] | None = None,
                 pipeline_settings: Any = None, cache: Any = None) -> None:
        self.config = config or ModelConfig()
        self._factory = backend_factory or _create
        self._verifier = verifier or _verify
        self._pipeline_settings = pipeline_settings
        self._cache = cache
        self._lock = threading.RLock()
        self._load_lock = threading.Lock()
        self._state: ModelState = ModelState.UNCHECKED
        self._message = "Model not checked yet."
        self._status: Any = None  # SetStatus
        self._directory: Path | None = None
        self._backend: Any = None
        self._loading: Any = None  # the backend a (maybe abandoned) load job is loading
        self._preset: Any = None
        self._preset_name = ""
        self._pipeline: Any = None
        self._progress = ""

    # ------------------------------------------------------------------ state
    @property
    def state(self) -> ModelState:
        return self._state

    @property
    def message(self) -> str:
        """One line for the panel's status line."""
        with self._lock:
            if self._state == ModelState.LOADING and self._progress:
                return f"{self._message} {self._progress}"
            return self._message

    @property
    def directory(self) -> Path | None:
        return self._directory

    @property
    def loaded(self) -> bool:
        return self._state == ModelState.LOADED

    @property
    def info(self) -> Any:
        """BackendInfo once loaded, else None."""
        b = self._backend
        if b is None or not getattr(b, "loaded", False):
            return None
        try:
            return b.info
        except FadaError:
            return None

    def device_text(self) -> str:
        """"CPU, 4 threads" / "CUDA: NVIDIA H100, 33 GPU layers" once loaded."""
        info = self.info
        if info is None:
            opts = self.config.options()
            want = opts.get("n_gpu_layers")
            gpu = "GPU if available" if want is None or want != 0 else "CPU only"
            return f"Device: decided when the model loads ({gpu})"
        if info.n_gpu_layers and info.device != "CPU":
            layers = "all layers" if info.n_gpu_layers < 0 else f"{info.n_gpu_layers} layers"
            return f"Device: {info.device}, {layers} on the GPU (n_gpu_layers={info.n_gpu_layers})"
        why = "" if info.gpu_offload_supported else " (this llama.cpp build has no GPU offload)"
        return f"Device: CPU, {info.n_threads} threads, n_gpu_layers=0{why}"

    def _set(self, state: ModelState, message: str) -> None:
        with self._lock:
            self._state, self._message, self._progress = state, message, ""

    # ------------------------------------------------------------------ configuration
    def configure(self, config: ModelConfig) -> bool:
        """Use other model files / options. Closes a loaded model; returns True if anything changed."""
        with self._lock:
            if config == self.config:
                return False
            self.config = config
        self.close()
        if self._preset is None:
            self._set(ModelState.UNCHECKED, "Model not checked yet.")
        return True

    def use_backend(self, backend: Any, name: str = "model") -> None:
        """Use this backend instead of model files (no verification)."""
        self.close()
        with self._lock:
            self._preset, self._preset_name = backend, name
            self._status = None
            self._directory = None
        self._set(ModelState.READY, f"{name}: ready (loads on first use)")

    # ------------------------------------------------------------------ jobs
    def check(self, token: CancelToken) -> Generator[Progress, None, ModelState]:
        """Locate and verify the model files (no load). Returns the new state."""
        if self._preset is not None:
            if self._state not in (ModelState.LOADED, ModelState.LOADING):
                self._set(ModelState.READY, f"{self._preset_name}: ready (loads on first use)")
            return self._state
        if self._state in (ModelState.LOADED, ModelState.LOADING):
            return self._state
        self._set(ModelState.CHECKING, "Checking the model files…")
        yield Progress("Checking the model files…")
        try:
            directory = locate_model_dir(self.config)
        except FadaError as err:
            self._set(ModelState.MISSING, f"No FADA model found ({err}). {INSTALL_HINT}")
            return self._state
        if directory is None:
            self._set(ModelState.MISSING, f"No FADA model is installed. {INSTALL_HINT}")
            return self._state
        self._directory = directory
        if not directory.is_dir():
            self._set(ModelState.MISSING, f"Model folder {directory} not found. {INSTALL_HINT}")
            return self._state
        yield Progress(f"Verifying {directory.name}…")
        try:
            status = self._verifier(directory, token)
            token.check()
        except Cancelled:
            self._set(ModelState.UNCHECKED, "Model check cancelled.")
            raise
        except (ModelError, OSError) as err:
            self._set(ModelState.INVALID, f"{err}. {INSTALL_HINT}")
            return self._state
        self._status = status
        if not status.ok:
            self._set(ModelState.INVALID, f"{status.message}. {INSTALL_HINT}")
        else:
            self._set(ModelState.READY, f"{status.message}; loads on first use")
        return self._state

    def ensure_loaded(self, token: CancelToken) -> Generator[Progress, None, Any]:
        """The pipeline, loading the model first if needed (once per process)."""
        while not self._load_lock.acquire(timeout=0.2):  # another panel is loading
            token.check()
            yield Progress("Waiting for the model to load…")
        try:
            if self._pipeline is not None and self._backend is not None and self._backend.loaded:
                return self._pipeline
            if self._preset is None and self._state not in (ModelState.READY, ModelState.LOADED):
                yield from self.check(token)
                if self._state != ModelState.READY:
                    raise ModelError(self._message)
            token.check()
            with self._lock:
                # a load cancelled half-way goes on in its thread: wait for that backend, never a second
                backend = self._backend or self._loading
                if backend is None:
                    backend = self._preset if self._preset is not None else self._factory(
                        self._status, self.config.options())
                self._loading = backend
            name = self._preset_name or (self._status.name if self._status is not None else "model")
            self._set(ModelState.LOADING, f"Loading {name}…")
            yield Progress(f"Loading {name}…", 0.0)

            def load(report: Callable[[Progress], None]) -> None:
                def relay(p: Progress) -> None:
                    with self._lock:
                        self._progress = p.message
                    report(p)
                try:
                    backend.load(progress=relay)  # idempotent: returns at once if already loaded
                except BaseException as err:
                    with self._lock:
                        self._loading = None
                    self._set(ModelState.FAILED, f"{name} could not be loaded: {err}")
                    raise
                with self._lock:  # the load finishes even when the job was cancelled
                    self._backend, self._loading = backend, None
                    self._pipeline = self._make_pipeline(backend)
                self._set(ModelState.LOADED, f"{name}: loaded")

            yield from call_reporting(load, "fada-model-load", token)
            return self._pipeline
        finally:
            self._load_lock.release()

    def _make_pipeline(self, backend: Any) -> Any:
        from fada_desk.inference.fada.cache import ResultCache
        from fada_desk.inference.fada.pipeline import FadaPipeline
        from fada_desk.inference.fada.settings import PipelineSettings

        settings = self._pipeline_settings or PipelineSettings()
        cache = self._cache if self._cache is not None else (ResultCache() if settings.use_cache else None)
        return FadaPipeline(backend, settings, cache)

    def close(self) -> None:
        """Free the model (idempotent). A running generation stops (the backend aborts it)."""
        with self._lock:
            backend, self._backend, self._pipeline = self._backend, None, None
            was_loaded = self._state == ModelState.LOADED
        if backend is not None:
            backend.close()
        if was_loaded:
            name = self._preset_name or (self._status.name if self._status is not None else "model")
            self._set(ModelState.READY, f"{name}: closed; loads again on next use")


_SHARED: ModelService | None = None
_SHARED_LOCK = threading.Lock()


def shared_service() -> ModelService:
    """The process-wide service (created on first use)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = ModelService()
        return _SHARED


def reset_shared_service() -> None:
    """Close and forget the process-wide service (app exit, tests)."""
    global _SHARED
    with _SHARED_LOCK:
        svc, _SHARED = _SHARED, None
    if svc is not None:
        svc.close()
