"""The FADA pipeline: interpret -> classify -> map -> detect -> segment (-> keypoints).

Faithful to upstream FADA (``webapp/inference.py``): same prompts, image then
text in one user turn, temperature 0.1, top_p 0.95, 1024 new tokens (256 for
classify), stop at a new ``assistant`` turn, longest side resized to 1024 with
LANCZOS, segmentation only when the mapping yields segmentation classes, the
keypoint prompt when the class string names keypoint classes. Beyond upstream:
per-phase grammars (parseable output guaranteed), tolerant parsing with repair,
a result cache, streaming progress, cancellation, and - for CRL/NT views - an
optional keypoint phase so the sonographer gets measurement points.

Every long operation is a *generator* yielding :class:`~fada_desk.core.cancel.Progress`
(payload :class:`TokenChunk` while streaming, :class:`PhaseDone` at the end of
a phase) and *returning* its result (``StopIteration.value``; use
:func:`fada_desk.core.cancel.drive` outside a worker). Cancelling raises
:class:`~fada_desk.core.errors.Cancelled`; phases finished before stay in
``session.result`` - nothing is lost.

Modes:

* autonomous - ``session.run_autonomous()``;
* human-in-the-loop - ``session.run_interpret_first()`` then the caller picks:
  ``session.detect(classes)``, ``session.segment(classes)``, ``session.keypoints(...)``;
* chat - ``session.chat("segment the brain")`` (upstream's intent rules).

Here: :class:`FadaPipeline` (backend + :class:`~.settings.PipelineSettings` +
cache, one-shot :meth:`FadaPipeline.analyze`); the per-image phases are in
:mod:`.session`, image preparation in :mod:`.image`, answer parsing in :mod:`.answers`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from fada_desk.core.cancel import CancelToken, Job
from fada_desk.core.frame import Frame
from fada_desk.inference.backend import ModelBackend
from fada_desk.inference.fada.cache import ResultCache
from fada_desk.inference.fada.image import prepare_image
from fada_desk.inference.fada.results import AnalysisResult
from fada_desk.inference.fada.session import AnalysisSession
from fada_desk.inference.fada.settings import PipelineSettings

MODES = ("autonomous", "interpret")


class FadaPipeline:
    """Runs FADA phases on a :class:`~fada_desk.inference.backend.ModelBackend`."""

    def __init__(
        self,
        backend: ModelBackend,
        settings: PipelineSettings | None = None,
        cache: ResultCache | None = None,
    ) -> None:
        self.backend = backend
        self.settings = settings or PipelineSettings()
        self.cache = cache if cache is not None else (ResultCache() if self.settings.use_cache else None)

    def start(
        self,
        image: np.ndarray | Frame,
        *,
        source: str = "",
        frame_index: int | None = None,
        mode: str = "autonomous",
    ) -> AnalysisSession:
        """A session on one image; nothing runs until a phase is called."""
        prepared = prepare_image(image, self.settings.max_side)
        return AnalysisSession(self, prepared, source=source, frame_index=frame_index, mode=mode)

    def analyze(
        self,
        image: np.ndarray | Frame,
        mode: str = "autonomous",
        cancel: CancelToken | None = None,
        *,
        source: str = "",
        frame_index: int | None = None,
    ) -> Job[AnalysisResult]:
        """One-shot: ``mode`` "autonomous" (all phases) or "interpret" (interpret, classify, map)."""
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (use {' or '.join(MODES)})")
        session = self.start(image, source=source, frame_index=frame_index, mode=mode)
        if mode == "autonomous":
            return (yield from session.run_autonomous(cancel))
        return (yield from session.run_interpret_first(cancel))

    def model_identity(self) -> dict[str, Any]:
        info = self.backend.info
        return {
            "backend": info.name,
            "model_path": info.model_path,
            "mmproj_path": info.mmproj_path,
            "model_sha256": info.model_sha256,
            "mmproj_sha256": info.mmproj_sha256,
            "device": info.device,
            "n_threads": info.n_threads,
            "n_gpu_layers": info.n_gpu_layers,
        }
