"""Decoding and pipeline options of a FADA analysis (:class:`PipelineSettings`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from fada_desk.inference.fada import constants as C
from fada_desk.inference.fada.schemas import LAYOUTS as GRAMMAR_LAYOUTS


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
    # model would have indented into one line). See fada_desk.inference.fada.schemas.
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
