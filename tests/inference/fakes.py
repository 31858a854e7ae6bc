"""A scripted ModelBackend for pipeline tests (no llama.cpp).

Answers come from a dict phase -> text (or a callable(request) -> text);
the phase is recognised from the prompt exactly as the pipeline builds it.
The answer streams in small chunks, stats are filled in, requests are
recorded, and ``cancel_after`` cancels the token after N chunks of a phase
(simulating the user pressing Cancel mid-stream).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ModelError
from fada_desk.inference.backend import BackendInfo, GenerationRequest, GenerationStats, ModelBackend
from fada_desk.inference.fada import constants as C


def phase_of(prompt: str) -> str:
    if prompt == C.INTERPRET_PROMPT:
        return "interpret"
    if prompt == C.CLASSIFY_PROMPT:
        return "classify"
    if prompt.startswith("Detect and segment all instances"):
        return "segment"
    if prompt.startswith("Detect measurement keypoints"):
        return "keypoints"
    if prompt.startswith("Detect all instances"):
        return "detect"
    raise AssertionError(f"unexpected prompt: {prompt[:60]!r}")


@dataclass
class FakeBackend:
    answers: dict[str, str | Callable[[GenerationRequest], str]] = field(default_factory=dict)
    chunk: int = 7
    fail: dict[str, str] = field(default_factory=dict)  # phase -> ModelError message
    cancel_after: dict[str, tuple[CancelToken, int]] = field(default_factory=dict)
    model_sha256: str = "a" * 64
    mmproj_sha256: str = "b" * 64
    requests: list[GenerationRequest] = field(default_factory=list)
    _loaded: bool = False
    load_calls: int = 0
    closed: bool = False

    def load(self, progress: Callable[[Progress], None] | None = None) -> None:
        self.load_calls += 1
        self._loaded = True

    def close(self) -> None:
        self.closed = True
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def info(self) -> BackendInfo:
        return BackendInfo(
            "fake",
            "/models/fake.gguf",
            "/models/fake-mmproj.gguf",
            self.model_sha256,
            self.mmproj_sha256,
            2,
            0,
            False,
            "CPU",
        )

    def phases(self) -> list[str]:
        return [phase_of(r.prompt) for r in self.requests]

    def generate(
        self,
        request: GenerationRequest,
        cancel: CancelToken | None = None,
        stats: GenerationStats | None = None,
    ) -> Iterator[str]:
        if not self._loaded:
            raise ModelError("model not loaded")
        self.requests.append(request)
        phase = phase_of(request.prompt)
        if phase in self.fail:
            raise ModelError(self.fail[phase])
        answer = self.answers.get(phase, "")
        text = answer(request) if callable(answer) else answer
        pieces = [text[i : i + self.chunk] for i in range(0, len(text), self.chunk)]
        tokens = min(len(pieces), request.max_tokens)
        if stats is not None:
            stats.prompt_tokens = len(request.prompt) // 4
            stats.image_tokens = 64
            stats.completion_tokens = tokens
            stats.decode_s = 0.001 * tokens
        stop = self.cancel_after.get(phase)
        for n, piece in enumerate(pieces[:tokens]):
            if stop is not None and n == stop[1]:
                stop[0].cancel()
            if cancel is not None:
                cancel.check()
            yield piece


assert isinstance(FakeBackend(), ModelBackend)
