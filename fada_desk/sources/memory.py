"""A seekable frame source over frames already in memory (a stored clip, a cine range)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fada_desk.core.errors import SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, SourceInfo


class FrameListSource(FrameSource):
    """A seekable source over frames already in memory (a stored clip, an exported cine range)."""

    kind = "memory"

    def __init__(self, frames: Sequence[Frame], fps: float | None = None, uri: str = "memory:",
                 metadata: dict[str, Any] | None = None) -> None:
        if not frames:
            raise SourceError("No frames to show.")
        self._frames = list(frames)
        first = self._frames[0]
        self._info = SourceInfo(kind=self.kind, uri=uri, width=first.width, height=first.height,
                                frame_count=len(self._frames), fps=fps, live=False,
                                calibration=first.calibration, metadata=dict(metadata or {}))

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    def read(self, index: int) -> Frame:
        if not 0 <= index < len(self._frames):
            raise SourceError(f"Frame {index} out of range (0..{len(self._frames) - 1}).")
        return self._frames[index]
