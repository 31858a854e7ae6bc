"""Model backend interface: what the FADA pipeline needs from a VLM runtime.

The pipeline (``fada_desk.inference.fada.pipeline``) only talks to this protocol;
the llama.cpp implementation lives in ``fada_desk.inference.llama.llama_backend`` and
is imported lazily through :data:`BACKENDS`. A backend owns exactly one loaded
model and serialises calls with a lock (llama.cpp contexts are not thread safe).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.registry import Registry


@dataclass(frozen=True)
class GenerationRequest:
    """One chat turn: optional image + user text -> assistant text.

    ``image`` is RGB uint8 (H, W, 3), already resized by the pipeline.
    ``image_key`` identifies the image (content hash) so a backend may encode
    it once and reuse the encoded prefix across phases; identical outputs are
    required with and without reuse.
    ``json_schema`` (a JSON-schema dict) or ``grammar`` (GBNF text) optionally
    constrains decoding; None = free text.
    """

    prompt: str
    image: np.ndarray | None = None
    image_key: str | None = None
    system: str | None = None
    max_tokens: int = 512
    temperature: float = 0.1
    top_p: float = 0.95
    json_schema: dict[str, Any] | None = None
    grammar: str | None = None
    stop: tuple[str, ...] = ()
    seed: int = 0


@dataclass
class GenerationStats:
    """Filled in by the backend for each request (seconds / token counts)."""

    image_encode_s: float = 0.0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    prompt_tokens: int = 0
    image_tokens: int = 0
    completion_tokens: int = 0
    prefix_reused: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BackendInfo:
    name: str
    model_path: str
    mmproj_path: str
    model_sha256: str
    mmproj_sha256: str
    n_threads: int
    n_gpu_layers: int
    gpu_offload_supported: bool
    device: str  # "CPU", "CUDA: NVIDIA H100", ...


@runtime_checkable
class ModelBackend(Protocol):
    def load(self, progress: Callable[[Progress], None] | None = None) -> None:
        """Load weights (slow). Raises ModelError with a clear message on failure."""

    def close(self) -> None:
        """Free the model. Idempotent."""

    @property
    def loaded(self) -> bool: ...

    @property
    def info(self) -> BackendInfo: ...

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None,
                 stats: GenerationStats | None = None) -> Iterator[str]:
        """Stream the assistant's text in chunks. Stops within ~1 s of ``cancel``
        (raises :class:`~fada_desk.core.errors.Cancelled`)."""


BACKENDS: Registry[Callable[..., ModelBackend]] = Registry("model backend")
BACKENDS.register("llama_cpp", "fada_desk.inference.llama.llama_backend:LlamaCppBackend")
