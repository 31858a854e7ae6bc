"""Pure helpers for application-layer tests (and the Qt views' tests): scripted model services,
corpus answers, frames. No Qt."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from inference.fakes import FakeBackend, phase_of
from testdata import DATA

from fada_desk.app.model_service import ModelService
from fada_desk.core.cancel import CancelToken
from fada_desk.core.frame import Frame
from fada_desk.inference.backend import GenerationRequest, GenerationStats
from fada_desk.inference.fada.settings import PipelineSettings

CORPUS = DATA / "fada_outputs"
OPERATOR = "A. Sonographer"


def corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


BRAIN = {
    "interpret": corpus("01_interpret_clean_brain.txt"),
    "classify": corpus("14_classify_clean.txt"),
    "detect": corpus("20_detect_clean_brain.txt"),
    "segment": corpus("30_segment_clean_brain.txt"),
    "keypoints": corpus("35_keypoints_crl.txt"),
}


def dark_frame(w: int = 400, h: int = 300, index: int | None = None) -> Frame:
    """A dark, slightly textured grey frame: class colours stand out on it."""
    y, x = np.mgrid[0:h, 0:w]
    return Frame(((x + y) % 7 + 12).astype(np.uint8), index=index)


@dataclass
class GatedBackend(FakeBackend):
    """Streams its answers, but stops at chunk ``hold_after`` of phase ``hold_phase`` until
    ``gate`` is set (polling cancel meanwhile); ``streaming`` is set while it waits there.

    Lets a test hold the model mid-answer for as long as it needs (no sleeps, no timing).
    """

    hold_phase: str = "interpret"
    hold_after: int = 2
    gate: threading.Event = field(default_factory=threading.Event)
    streaming: threading.Event = field(default_factory=threading.Event)
    chunks_sent: int = 0

    def generate(self, request: GenerationRequest, cancel: CancelToken | None = None,
                 stats: GenerationStats | None = None) -> Iterator[str]:
        phase = phase_of(request.prompt)
        for n, piece in enumerate(super().generate(request, cancel, stats)):
            if phase == self.hold_phase and n >= self.hold_after:
                while not self.gate.is_set():
                    self.streaming.set()
                    if cancel is not None:
                        cancel.check()
                    self.gate.wait(0.01)
            self.chunks_sent += 1
            yield piece


def fake_service(backend: Any, name: str = "scripted model") -> ModelService:
    """A model service over a scripted backend (no files, no cache)."""
    svc = ModelService(pipeline_settings=PipelineSettings(use_cache=False))
    svc.use_backend(backend, name)
    return svc
