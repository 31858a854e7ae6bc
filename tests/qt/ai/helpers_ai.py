"""Helpers for the AI panel tests: scripted backends, frames, pixel checks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from inference.fakes import FakeBackend, phase_of
from PySide6.QtGui import QImage
from testdata import DATA

from fada_desk.core.cancel import CancelToken
from fada_desk.core.frame import Frame
from fada_desk.inference.backend import GenerationRequest, GenerationStats
from fada_desk.inference.constants import class_color
from fada_desk.inference.pipeline import PipelineSettings
from fada_desk.qt.ai.model_service import ModelService

CORPUS = DATA / "fada_outputs"


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


def color_pixels(img: QImage, rgb: tuple[int, int, int], tol: int = 40) -> int:
    """How many pixels of ``img`` are within ``tol`` (per channel) of ``rgb``."""
    img = img.convertToFormat(QImage.Format.Format_RGB32)
    w, h = img.width(), img.height()
    arr = np.frombuffer(img.constBits(), np.uint8, img.bytesPerLine() * h).reshape(h, img.bytesPerLine())
    bgra = arr[:, : w * 4].reshape(h, w, 4).astype(int)
    r, g, b = bgra[..., 2], bgra[..., 1], bgra[..., 0]
    return int(((abs(r - rgb[0]) <= tol) & (abs(g - rgb[1]) <= tol) & (abs(b - rgb[2]) <= tol)).sum())


def class_pixels(img: QImage, cls: str) -> int:
    return color_pixels(img, class_color(cls))


def phases_of(backend: Any) -> list[str]:
    return list(backend.phases())


def fake_service(backend: Any, name: str = "scripted model") -> ModelService:
    """A model service over a scripted backend (no files, no cache)."""
    svc = ModelService(pipeline_settings=PipelineSettings(use_cache=False))
    svc.use_backend(backend, name)
    return svc
