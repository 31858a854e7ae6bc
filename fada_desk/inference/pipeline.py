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
:func:`drive` outside a worker). Cancelling raises
:class:`~fada_desk.core.errors.Cancelled`; phases finished before stay in
``session.result`` - nothing is lost.

Modes:

* autonomous - ``session.run_autonomous()``;
* human-in-the-loop - ``session.run_interpret_first()`` then the caller picks:
  ``session.detect(classes)``, ``session.segment(classes)``, ``session.keypoints(...)``;
* chat - ``session.chat("segment the brain")`` (upstream's intent rules).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, TypeVar

import numpy as np

from fada_desk import __version__
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import Cancelled, FadaError
from fada_desk.core.frame import Frame
from fada_desk.inference import constants as C
from fada_desk.inference.backend import GenerationRequest, GenerationStats, ModelBackend
from fada_desk.inference.cache import ResultCache, cache_key
from fada_desk.inference.intents import parse_intent
from fada_desk.inference.mapper import ClassMapping, map_interpretation_to_classes, parse_failure_mapping
from fada_desk.inference.parsing import (
    clean_output,
    extract_cls_label,
    extract_json,
    normalize_interpretation,
    parse_predictions,
)
from fada_desk.inference.results import (
    ERROR,
    OK,
    SKIPPED,
    AnalysisResult,
    ChatReply,
    PhaseDone,
    PhaseResult,
    TokenChunk,
)
from fada_desk.inference.schemas import LAYOUTS as GRAMMAR_LAYOUTS
from fada_desk.inference.schemas import grammar as phase_grammar

T = TypeVar("T")
Job = Generator[Progress, None, T]

MODES = ("autonomous", "interpret")

# Rough answer lengths (tokens) for progress estimation only.
_EXPECTED_TOKENS = {"interpret": 300, "classify": 20, "detect": 150, "segment": 400, "keypoints": 120}

CRL_KEYPOINT_CLASSES = C.ROUTING_GROUP_MAP["crl_kp"][0]
NT_KEYPOINT_CLASSES = C.ROUTING_GROUP_MAP["nt_kp"][0]


@dataclass(frozen=True)
class PipelineSettings:
    """Decoding and pipeline options. Defaults are upstream FADA's."""

    max_side: int = C.MAX_IMAGE_SIDE
    temperature: float = C.TEMPERATURE
    top_p: float = C.TOP_P
    seed: int = 0
    max_new_tokens: int = C.MAX_NEW_TOKENS
    classify_max_new_tokens: int = C.CLASSIFY_MAX_NEW_TOKENS
    constrained: bool = True  # hand each phase's GBNF grammar to the backend
    # "permissive": any whitespace/indentation; "canonical": FADA's trained one-line json.dumps layout,
    # so separators and keys are forced and jump-forward skips them (faster, but steers an answer the
    # model would have indented into one line). See fada_desk.inference.schemas.
    grammar_layout: str = "permissive"
    keypoints: bool = True  # autonomous: keypoint phase for CRL / NT views (not in upstream)
    use_cache: bool = True

    def __post_init__(self) -> None:
        if not (64 <= self.max_side <= 8192):
            raise ValueError("max_side must be between 64 and 8192 pixels")
        if not (0.0 <= self.temperature <= 2.0) or not (0.0 < self.top_p <= 1.0):
            raise ValueError("temperature must be in [0, 2] and top_p in (0, 1]")
        if self.max_new_tokens < 1 or self.classify_max_new_tokens < 1:
            raise ValueError("token limits must be positive")
        if self.grammar_layout not in GRAMMAR_LAYOUTS:
            raise ValueError(f"grammar_layout must be one of {', '.join(GRAMMAR_LAYOUTS)}")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True)
class PreparedImage:
    """The image as the model sees it, plus the original size for rescaling."""

    pixels: np.ndarray  # RGB uint8, resized so that max(h, w) <= max_side
    width: int  # original
    height: int
    sha256: str  # of the original RGB pixels
    model_sha256: str  # of the resized pixels: the backend's image_key

    @property
    def model_size(self) -> tuple[int, int]:
        return (int(self.pixels.shape[1]), int(self.pixels.shape[0]))


def _rgb(image: np.ndarray | Frame) -> np.ndarray:
    if isinstance(image, Frame):
        return image.rgb()
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        return arr[:, :, :3]
    raise ValueError(f"image must be (H, W), (H, W, 3) or (H, W, 4), got {arr.shape}")


def _pixels_sha256(rgb: np.ndarray) -> str:
    h = hashlib.sha256(f"{rgb.shape[1]}x{rgb.shape[0]}x3\n".encode())
    h.update(np.ascontiguousarray(rgb).tobytes())
    return h.hexdigest()


def prepare_image(image: np.ndarray | Frame, max_side: int = C.MAX_IMAGE_SIDE) -> PreparedImage:
    """RGB, then upstream's resize: longest side to ``max_side`` (LANCZOS), never upscaled."""
    from PIL import Image

    rgb = np.ascontiguousarray(_rgb(image))
    h, w = rgb.shape[:2]
    if h < 1 or w < 1:
        raise ValueError("image is empty")
    original_sha = _pixels_sha256(rgb)
    model = rgb
    if max(w, h) > max_side:
        scale = max_side / max(w, h)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        model = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    return PreparedImage(
        model, w, h, original_sha, _pixels_sha256(model) if model is not rgb else original_sha
    )


def drive(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Run a generator job to completion in this thread; return its result."""
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_progress is not None:
            on_progress(p)


def keypoint_classes_for(det_classes: str) -> str | None:
    """Keypoint classes for a CRL or NT view (first of CRL/NT in the class list decides)."""
    for cls in (c.strip() for c in det_classes.split(",")):
        if cls == "CRL":
            return CRL_KEYPOINT_CLASSES
        if cls == "NT":
            return NT_KEYPOINT_CLASSES
    return None


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


class AnalysisSession:
    """One image, phases run step by step; ``result`` accumulates what finished."""

    def __init__(
        self,
        pipeline: FadaPipeline,
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
                result = PhaseResult("segment", status=SKIPPED, error="no segmentation classes for this view")
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
        if interp.status == ERROR:
            return self._abandon(["classify", "detect", "segment"], t0)
        cls_ = yield from self.classify(cancel)
        if cls_.status == ERROR:
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
            self._finish(PhaseResult(name, status=SKIPPED, error="an earlier phase failed"))
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
            return ChatReply("interpret", _interpretation_text(interp, cls_.label), (interp, cls_))
        if intent.task == "classify":
            cls_ = yield from self.classify(cancel)
            return ChatReply("classify", f"**Classification:** {cls_.label or 'Unknown'}", (cls_,))
        mapping = self.result.mapping
        if intent.task == "detect":
            classes = intent.classes or (mapping.det_classes if mapping else None) or C.DEFAULT_DETECT_CLASSES
            res = yield from self.detect(classes, cancel)
            return ChatReply("detect", _annotation_text("Detection", res), (res,))
        classes = (
            intent.seg_classes
            or intent.classes
            or (mapping.seg_classes if mapping else None)
            or (mapping.det_classes if mapping else None)
            or C.DEFAULT_DETECT_CLASSES
        )
        res = yield from self.segment(classes, cancel)
        return ChatReply("segment", _annotation_text("Segmentation", res), (res,))

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
        if result.status == OK:
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
                grammar=hashlib.sha256(gram.encode()).hexdigest() if gram else None,
                stop=list(C.STOP_STRINGS),
            )
            hit = pipe.cache.get(key)
            if hit is not None and isinstance(hit.get("raw_text"), str):
                result.raw_text = hit["raw_text"]
                result.stats = dict(hit.get("stats", {}))
                result.seconds = float(hit.get("seconds", 0.0))
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
            result.status, result.error = ERROR, str(err)
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


def parse_answer(result: PhaseResult, width: int, height: int) -> PhaseResult:
    """Clean and parse ``result.raw_text`` for its phase; coordinates onto a ``width`` x ``height`` frame.

    Pure and deterministic: the cache stores raw text only and re-parses with this.
    """
    cleaned = clean_output(result.raw_text)
    result.cleaned_text = cleaned.text
    result.notes.extend(cleaned.notes)
    phase = result.phase
    if phase == "interpret":
        ext = extract_json(cleaned.text, prefer="object")
        interp = normalize_interpretation(ext.value)
        result.notes.extend(ext.notes)
        result.truncated = result.truncated or ext.truncated
        result.parse_ok = interp is not None
        result.interpretation = interp
        if interp is None:
            result.parse_errors.append("The interpretation is not a JSON object")
        else:
            missing = [k for k in C.INTERPRETATION_KEYS if k not in interp]
            if missing:
                result.parse_errors.append("Missing fields: " + ", ".join(missing))
    elif phase == "classify":
        ext = extract_json(cleaned.text, prefer="object")
        result.notes.extend(ext.notes)
        label, source = extract_cls_label(ext.value if isinstance(ext.value, dict) else None, cleaned.text)
        result.label, result.label_source = label, source
        result.parse_ok = label is not None
        if label is None:
            result.parse_errors.append("No classification label in the answer")
    else:
        ext = extract_json(cleaned.text, prefer="array")
        result.notes.extend(ext.notes)
        result.truncated = result.truncated or ext.truncated
        norm = parse_predictions(ext.value, truncated=result.truncated)
        result.predictions_norm = norm
        result.predictions = norm.to_pixels(width, height)
        result.parse_errors.extend(norm.errors)
        result.parse_ok = ext.value is not None
    return result


def _stats_dict(stats: GenerationStats) -> dict[str, Any]:
    d = dataclasses.asdict(stats)
    try:
        json.dumps(d)
    except (TypeError, ValueError):
        d["extra"] = {k: str(v) for k, v in stats.extra.items()}
    return d


def _interpretation_text(phase: PhaseResult, label: str | None) -> str:
    from fada_desk.inference.parsing import format_interpretation

    if phase.interpretation is None:
        text = f"**Interpretation (raw):**\n```\n{phase.cleaned_text[:1000]}\n```"
    else:
        rows = [f"**{title}:** {value}\n" for title, value in format_interpretation(phase.interpretation)]
        text = "\n".join(["**Clinical Interpretation:**\n", *rows])
    if label:
        text += f"\n**Classification:** {label}"
    return text + (
        "\n\n---\nYou can now ask me to **detect** or **segment** specific "
        "structures. For example: 'detect brain structures' or 'segment cardiac'."
    )


def _annotation_text(task_name: str, res: PhaseResult) -> str:
    if res.status == ERROR:
        return f"**{task_name} failed:** {res.error}"
    if res.status == SKIPPED:
        return f"**{task_name} skipped:** {res.error}"
    p = res.predictions
    if p is None or p.count == 0:
        return (
            f"**{task_name}:** No structures found in this image for the requested classes. "
            "The model may not detect these structures on this particular view."
        )
    parts = [
        f"{n} {what}"
        for n, what in (
            (len(p.detections), "detections"),
            (len(p.segmentations), "masks"),
            (len(p.keypoints), "keypoints"),
        )
        if n
    ]
    labels = ", ".join(sorted(p.labels)) or "none"
    text = f"**{task_name} results** ({', '.join(parts)}: {labels})"
    if res.parse_errors:
        text += f"\n_Parse warnings: {len(res.parse_errors)}_"
    return text
