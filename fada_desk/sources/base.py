"""The frame-source interface.

Every input (image, folder, video file, DICOM, capture card, network stream)
is a :class:`FrameSource`. File sources are *seekable*: ``read(i)`` returns
frame ``i``. Live sources are not: they run a reader thread that keeps only
the newest frame (:class:`LatestFrameSlot`) so the display never lags behind a
full driver buffer; consumers call ``wait_next``.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import SourceError
from fada_desk.core.frame import Frame


def local_path(uri: str) -> Path | None:
    """``uri`` as a file-system path, or None for network URLs and capture devices (probe helper)."""
    if "://" in uri or uri.startswith("device:"):
        return None
    return Path(uri)


def check_frame_index(name: str, index: int, n: int) -> None:
    """Refuse a frame index outside ``0..n-1`` of the source called ``name``."""
    if not 0 <= index < n:
        raise SourceError(f"{name}: frame {index} out of range (0..{n - 1})")


@dataclass(frozen=True)
class SourceInfo:
    """What a source is. ``frame_count`` is None for live sources."""

    kind: str
    uri: str
    width: int
    height: int
    frame_count: int | None
    fps: float | None
    live: bool = False
    calibration: Calibration | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "uri": self.uri, "width": self.width, "height": self.height,
            "frame_count": self.frame_count, "fps": self.fps, "live": self.live,
            "calibration": self.calibration.to_dict() if self.calibration else None,
            "metadata": self.metadata,
        }


class FrameSource(ABC):
    """Base class of all frame sources. Use as a context manager or call close()."""

    kind: ClassVar[str] = ""
    _info: SourceInfo  # set by the subclass when it opens

    @classmethod
    @abstractmethod
    def probe(cls, uri: str) -> int:
        """How well this class handles ``uri``: 0 = not at all, higher wins.

        Must be cheap (suffix, scheme, a few magic bytes), never decode.
        """

    @property
    def info(self) -> SourceInfo:
        """What the source is (fixed once it is open)."""
        return self._info

    @property
    def seekable(self) -> bool:
        return not self.info.live

    def read(self, index: int) -> Frame:
        """Frame ``index`` (0-based) of a seekable source."""
        raise SourceError(f"{self.kind} source cannot seek")

    def frames(self, start: int = 0) -> Iterator[Frame]:
        """Frames in order from ``start``; live sources yield as frames arrive."""
        n = self.info.frame_count or 0
        for i in range(start, n):
            yield self.read(i)

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release files, devices and threads. Idempotent."""

    def __enter__(self) -> FrameSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class LiveStats:
    produced: int = 0  # frames grabbed from the device
    overwritten: int = 0  # grabbed but replaced before anyone took them
    reconnects: int = 0
    state: str = "idle"  # idle | running | reconnecting | lost | stopped
    last_error: str = ""


class LatestFrameSlot:
    """Single-slot mailbox: the producer overwrites, consumers get the newest.

    ``put`` never blocks. ``wait_next(seq)`` blocks until a frame newer than
    ``seq`` exists (or timeout) and returns ``(frame, new_seq)``. Frames put
    while nobody took them count as ``overwritten`` (dropped before display).
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._frame: Frame | None = None
        self._seq = 0
        self._taken_seq = 0
        self.produced = 0
        self.overwritten = 0
        self._closed = False

    def put(self, frame: Frame) -> None:
        with self._cond:
            if self._frame is not None and self._taken_seq < self._seq:
                self.overwritten += 1
            self._frame = frame
            self._seq += 1
            self.produced += 1
            self._cond.notify_all()

    def wait_next(self, seq: int, timeout: float | None = None) -> tuple[Frame | None, int]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._seq <= seq and not self._closed:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return None, seq
                self._cond.wait(remaining)
            if self._seq <= seq:
                return None, seq
            self._taken_seq = self._seq
            return self._frame, self._seq

    def latest(self) -> tuple[Frame | None, int]:
        with self._cond:
            return self._frame, self._seq

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
