"""One image through the FADA phases, step by step: :class:`AnalysisSession`.

A session runs each phase as a generator job (see :mod:`fada_desk.core.cancel`):
it builds the request (prompt, grammar, decoding settings), answers from the
:class:`~fada_desk.inference.fada.cache.ResultCache` when it can, otherwise
streams the backend's tokens as :class:`~fada_desk.inference.fada.results.TokenChunk`
progress, then parses the answer (:func:`~fada_desk.inference.fada.answers.parse_answer`)
and reports :class:`~fada_desk.inference.fada.results.PhaseDone`. What finished
stays in ``session.result``, also when a later phase is cancelled or fails.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Any, Protocol

from fada_desk import __version__
from fada_desk.core.cancel import CancelToken, Job, Progress
from fada_desk.core.errors import Cancelled, FadaError
from fada_desk.core.fileio import sha256_bytes
from fada_desk.inference.backend import GenerationRequest, GenerationStats, ModelBackend
from fada_desk.inference.fada import constants as C
from fada_desk.inference.fada.answers import annotation_text, interpretation_text, parse_answer
from fada_desk.inference.fada.cache import ResultCache, cache_key, cached_answer
from fada_desk.inference.fada.image import PreparedImage
from fada_desk.inference.fada.intents import parse_intent
from fada_desk.inference.fada.mapper import (
    CRL_KEYPOINT_CLASSES,
    ClassMapping,
    keypoint_classes_for,
    map_interpretation_to_classes,
    parse_failure_mapping,
)
from fada_desk.inference.fada.results import (
    AnalysisResult,
    ChatReply,
    PhaseDone,
    PhaseResult,
    PhaseState,
    TokenChunk,
)
from fada_desk.inference.fada.schemas import grammar as phase_grammar
from fada_desk.inference.fada.settings import PipelineSettings

# Rough answer lengths (tokens) for progress estimation only.
_EXPECTED_TOKENS = {"interpret": 300, "classify": 20, "detect": 150, "segment": 400, "keypoints": 120}


class SessionPipeline(Protocol):
    """What a session uses of its :class:`~fada_desk.inference.fada.pipeline.FadaPipeline`."""

    backend: ModelBackend
    settings: PipelineSettings
    cache: ResultCache | None

    def model_identity(self) -> dict[str, Any]: ...


class AnalysisSession:
    """One image, phases run step by step; ``result`` accumulates what finished."""

    def __init__(
        self,
        pipeline: SessionPipeline,
        image: PreparedImage,
        *,
        source: str = "",
        frame_index: int | None = None,
        mode: str = "autonomous",
    ) -> None:
        self.pipeline = pipeline
        self.image = image
        s = pipeline.settings
        mw, mh = image.model_size
        self.result = AnalysisResult(
            image={
                "sha256": image.sha256,
                "width": image.width,
                "height": image.height,
                "model_sha256": image.model_sha256,
                "model_width": mw,
                "model_height": mh,
                "source": source,
                "frame_index": frame_index,
            },
            settings=s.to_dict(),
            mode=mode,
            created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            app_version=__version__,
        )
        self._plan: list[str] = []

    # ---- state ------------------------------------------------------------------

    @property
    def interpretation(self) -> dict[str, Any] | None:
        return self.result.interpretation

    @property
    def mapping(self) -> ClassMapping | None:
        return self.result.mapping

    # ---- phases -------------------------------------------------------------------

    def interpret(self, cancel: CancelToken | None = None) -> Job[PhaseResult]:
        result = yield from self._run(
            "interpret", C.INTERPRET_PROMPT, None, self.pipeline.settings.max_new_tokens, cancel
        )
        return (yield from self._done(result))

    def classify(self, cancel: CancelToken | None = None) -> Job[PhaseResult]:
        result = yield from self._run(
            "classify", C.CLASSIFY_PROMPT, None, self.pipeline.settings.classify_max_new_tokens, cancel
        )
        return (yield from self._done(result))

    def map(self) -> ClassMapping:
        """Phase 3 (no model call): the cascade on what interpret/classify produced."""
        interp_phase = self.result.phase("interpret")
        label = self.result.classification
        if interp_phase is None or interp_phase.interpretation is None:
            mapping = parse_failure_mapping()
        else:
            mapping = map_interpretation_to_classes(interp_phase.interpretation, label)
        self.result.mapping = mapping
        return mapping

    def detect(self, classes: str | None = None, cancel: CancelToken | None = None) -> Job[PhaseResult]:
        """Boxes for ``classes`` (default: the mapping's). Keypoint classes use the keypoint prompt."""
        classes = self._classes(classes)
        if C.has_keypoint_classes(classes):
            return (yield from self.keypoints(classes, cancel))
        return (yield from self._annotate("detect", C.build_detect_prompt(classes), classes, cancel))

    def segment(self, classes: str | None = None, cancel: CancelToken | None = None) -> Job[PhaseResult]:
        """Polygons for ``classes`` (default: the mapping's segmentation classes; skipped if none)."""
        if classes is None:
            mapping = self.result.mapping or self.map()
            if not mapping.seg_classes:
                result = PhaseResult(
                    "segment", status=PhaseState.SKIPPED, error="no segmentation classes for this view"
                )
                self._finish(result)
                yield Progress("segment skipped", self._fraction("segment", 1.0), PhaseDone(result))
                return result
            classes = mapping.seg_classes
        return (yield from self._annotate("segment", C.build_segment_prompt(classes), classes, cancel))

    def keypoints(self, classes: str | None = None, cancel: CancelToken | None = None) -> Job[PhaseResult]:
        """Measurement keypoints (CRL / NT / scale bar). Default: derived from the mapping."""
        if classes is None:
            mapping = self.result.mapping or self.map()
            classes = keypoint_classes_for(mapping.det_classes) or CRL_KEYPOINT_CLASSES
        return (yield from self._annotate("keypoints", C.build_keypoint_prompt(classes), classes, cancel))

    # ---- modes --------------------------------------------------------------------

    def run_interpret_first(self, cancel: CancelToken | None = None) -> Job[AnalysisResult]:
        """Human-in-the-loop start: interpret, classify and map; the caller picks what follows."""
        self.result.mode = "interpret"
        self._plan = ["interpret", "classify"]
        t0 = time.perf_counter()
        yield from self.interpret(cancel)
        yield from self.classify(cancel)
        self.map()
        self.result.total_seconds += time.perf_counter() - t0
        return self.result

    def run_autonomous(self, cancel: CancelToken | None = None) -> Job[AnalysisResult]:
        """All phases, upstream order; segmentation only when the mapping has seg classes."""
        self.result.mode = "autonomous"
        self._plan = ["interpret", "classify", "detect", "segment"]
        t0 = time.perf_counter()
        interp = yield from self.interpret(cancel)
        if interp.status == PhaseState.ERROR:
            return self._abandon(["classify", "detect", "segment"], t0)
        cls_ = yield from self.classify(cancel)
        if cls_.status == PhaseState.ERROR:
            return self._abandon(["detect", "segment"], t0)
        mapping = self.map()
        kp = keypoint_classes_for(mapping.det_classes) if self.pipeline.settings.keypoints else None
        if kp:
            self._plan.append("keypoints")
        yield from self.detect(mapping.det_classes, cancel)
        yield from self.segment(None, cancel)
        if kp:
            yield from self.keypoints(kp, cancel)
        self.result.total_seconds += time.perf_counter() - t0
        return self.result

    def _abandon(self, phases: list[str], t0: float) -> AnalysisResult:
        """After a model failure the remaining phases are recorded as skipped, not lost."""
        for name in phases:
            self._finish(PhaseResult(name, status=PhaseState.SKIPPED, error="an earlier phase failed"))
        self.result.total_seconds += time.perf_counter() - t0
        return self.result

    def chat(self, text: str, cancel: CancelToken | None = None) -> Job[ChatReply]:
        """One chat turn, routed like upstream's chat tab."""
        intent = parse_intent(text, has_image=True, has_interpretation=self.interpretation is not None)
        if intent.task == "greeting":
            return ChatReply(
                "greeting",
                "Welcome to FADA! Upload a fetal ultrasound image and I'll provide "
                "clinical interpretation. You can then ask me to detect or segment "
                "specific anatomical structures.",
            )
        if intent.task == "general":
            return ChatReply(
                "general",
                "I can help with fetal ultrasound analysis. Try:\n"
                "- Ask me to **interpret** the image\n"
                "- Ask me to **detect** specific structures (e.g., 'detect brain')\n"
                "- Ask me to **segment** anatomy (e.g., 'segment cardiac')",
            )
        if intent.task == "interpret":
            yield from self.run_interpret_first(cancel)
            interp, cls_ = self.result.phase("interpret"), self.result.phase("classify")
            assert interp is not None and cls_ is not None
            return ChatReply("interpret", interpretation_text(interp, cls_.label), (interp, cls_))
        if intent.task == "classify":
            cls_ = yield from self.classify(cancel)
            return ChatReply("classify", f"**Classification:** {cls_.label or 'Unknown'}", (cls_,))
        mapping = self.result.mapping
        if intent.task == "detect":
            classes = intent.classes or (mapping.det_classes if mapping else None) or C.DEFAULT_DETECT_CLASSES
            res = yield from self.detect(classes, cancel)
            return ChatReply("detect", annotation_text("Detection", res), (res,))
        classes = (
            intent.seg_classes
            or intent.classes
            or (mapping.seg_classes if mapping else None)
            or (mapping.det_classes if mapping else None)
            or C.DEFAULT_DETECT_CLASSES
        )
        res = yield from self.segment(classes, cancel)
        return ChatReply("segment", annotation_text("Segmentation", res), (res,))

    # ---- internals ------------------------------------------------------------------

    def _classes(self, classes: str | None) -> str:
        if classes is not None:
            classes = ", ".join(c.strip() for c in classes.split(",") if c.strip())
            if not classes:
                raise FadaError("No structures given to detect.")
            return classes
        mapping = self.result.mapping or self.map()
        return mapping.det_classes

    def _annotate(
        self, phase: str, prompt: str, classes: str, cancel: CancelToken | None
    ) -> Job[PhaseResult]:
        result = yield from self._run(phase, prompt, classes, self.pipeline.settings.max_new_tokens, cancel)
        return (yield from self._done(result))

    def _done(self, result: PhaseResult) -> Job[PhaseResult]:
        if result.status == PhaseState.OK:
            parse_answer(result, self.image.width, self.image.height)
        self._finish(result)
        yield Progress(f"{result.phase} done", self._fraction(result.phase, 1.0), PhaseDone(result))
        return result

    def _fraction(self, phase: str, within: float) -> float | None:
        if phase not in self._plan:
            return None
        i = self._plan.index(phase)
        return min(1.0, (i + min(within, 1.0)) / len(self._plan))

    def _finish(self, result: PhaseResult) -> None:
        self.result.phases.append(result)
        if not self.result.models:
            try:
                self.result.models = self.pipeline.model_identity()
            except Exception:  # noqa: BLE001 - identity is informative only
                self.result.models = {}

    def _run(
        self, phase: str, prompt: str, classes: str | None, max_tokens: int, cancel: CancelToken | None
    ) -> Job[PhaseResult]:
        """Generate (or fetch from cache) one phase's raw text; parsing is the caller's."""
        pipe, s = self.pipeline, self.pipeline.settings
        if cancel is not None:
            cancel.check()
        gram = phase_grammar(phase, s.grammar_layout) if s.constrained else None
        result = PhaseResult(
            phase, prompt=prompt, classes=classes, max_tokens=max_tokens, constrained=gram is not None
        )
        ident = pipe.model_identity() if pipe.cache is not None else {}
        key = None
        if pipe.cache is not None and ident.get("model_sha256") and ident.get("mmproj_sha256"):
            key = cache_key(
                image=self.image.model_sha256,
                model=ident["model_sha256"],
                mmproj=ident["mmproj_sha256"],
                phase=phase,
                prompt=prompt,
                temperature=s.temperature,
                top_p=s.top_p,
                seed=s.seed,
                max_tokens=max_tokens,
                grammar=sha256_bytes(gram.encode()) if gram else None,
                stop=list(C.STOP_STRINGS),
            )
            hit = cached_answer(pipe.cache.get(key))
            if hit is not None:
                result.raw_text, result.stats, result.seconds = hit
                result.cached = True
                yield Progress(
                    f"{phase} (cached)", self._fraction(phase, 1.0), TokenChunk(phase, result.raw_text)
                )
                return result

        request = GenerationRequest(
            prompt=prompt,
            image=self.image.pixels,
            image_key=self.image.model_sha256,
            max_tokens=max_tokens,
            temperature=s.temperature,
            top_p=s.top_p,
            grammar=gram,
            stop=C.STOP_STRINGS,
            seed=s.seed,
        )
        stats = GenerationStats()
        chunks: list[str] = []
        expected = _EXPECTED_TOKENS.get(phase, 200)
        t0 = time.perf_counter()
        yield Progress(f"{phase}: starting", self._fraction(phase, 0.0), TokenChunk(phase, ""))
        try:
            if not pipe.backend.loaded:
                yield Progress("loading the model", None, TokenChunk(phase, ""))
                pipe.backend.load()
            stream: Iterator[str] = pipe.backend.generate(request, cancel=cancel, stats=stats)
            for chunk in stream:
                if cancel is not None:
                    cancel.check()
                chunks.append(chunk)
                yield Progress(
                    f"{phase}: generating",
                    self._fraction(phase, 0.95 * len(chunks) / max(expected, len(chunks) + 1)),
                    TokenChunk(phase, chunk),
                )
        except Cancelled:
            raise
        except FadaError as err:
            result.status, result.error = PhaseState.ERROR, str(err)
            result.raw_text = "".join(chunks)
            result.seconds = time.perf_counter() - t0
            result.stats = _stats_dict(stats)
            return result
        result.seconds = time.perf_counter() - t0
        result.raw_text = "".join(chunks)
        result.stats = _stats_dict(stats)
        if stats.completion_tokens >= max_tokens:
            result.truncated = True
            result.notes.append(f"stopped at the {max_tokens}-token limit")
        if key is not None and pipe.cache is not None:
            pipe.cache.put(
                key, {"raw_text": result.raw_text, "stats": result.stats, "seconds": result.seconds}
            )
        return result



def _stats_dict(stats: GenerationStats) -> dict[str, Any]:
    d = dataclasses.asdict(stats)
    try:
        json.dumps(d)
    except (TypeError, ValueError):
        d["extra"] = {k: str(v) for k, v in stats.extra.items()}
    return d
