"""From a folder or set name to a running backend: :func:`resolve_model_dir`, :func:`create_backend`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fada_desk.core.errors import ModelError
from fada_desk.inference.model_store.manifests import user_models_dir
from fada_desk.inference.model_store.status import SetStatus, verify_set


def resolve_model_dir(directory: Path, *, full_hash: bool = False) -> SetStatus:
    """The model set in ``directory`` (or its installed set of that name), verified; raises on a problem."""
    directory = Path(directory)
    if not directory.exists():
        candidate = user_models_dir() / directory.name
        if str(directory) == directory.name and candidate.is_dir():
            directory = candidate
    status = verify_set(directory, full_hash=full_hash)
    if not status.ok:
        raise ModelError(status.message)
    return status


def create_backend(status: SetStatus, **options: Any) -> Any:
    """Instantiate the llama.cpp backend for a verified set (``options``: n_threads, n_gpu_layers...)."""
    from fada_desk.inference.backend import BACKENDS

    try:
        factory = BACKENDS.get("llama_cpp")
    except ImportError as err:
        raise ModelError(
            f"the local AI engine is not installed ({err.name or err}); run scripts/setup-env.sh ai"
        ) from None
    return factory(model_path=str(status.path("model")), mmproj_path=str(status.path("mmproj")), **options)
