"""A synthetic live source: a test pattern produced at an exact frame rate.

Used by the stream benchmark and the tests to drive the real live path
(producer thread -> LatestFrameSlot -> FramePump -> display) without a capture
card. Each frame carries its grab time twice: in ``Frame.timestamp`` and
embedded in the first pixel row (:func:`decode_stamp`), so a consumer that only
sees pixels (a screen grab) can still measure latency and detect skipped frames.

``interrupt()`` / ``restore()`` / ``give_up()`` simulate a cable pulled and
plugged back, and a device that never comes back (state "reconnecting" ->
"running" or "lost"), exactly like the capture source reports it.
"""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator

import numpy as np

from fada_desk.core.errors import DeviceLostError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, LatestFrameSlot, LiveStats, SourceInfo

_MAGIC = b"FADA"
_HEADER = struct.Struct("<4sQd")  # magic, frame number, monotonic grab time
_N_PATTERNS = 8


def _patterns(width: int, height: int, color: bool) -> list[np.ndarray]:
    """A few distinct, cheap-to-copy test images (diagonal ramps shifted per pattern)."""
    yy, xx = np.mgrid[0:height, 0:width]
    out = []
    for k in range(_N_PATTERNS):
        grey = ((xx + yy + k * 32) % 256).astype(np.uint8)
        if color:
            rgb = np.empty((height, width, 3), np.uint8)
            rgb[..., 0] = grey
            rgb[..., 1] = 255 - grey
            rgb[..., 2] = (k * 31) % 256
            out.append(rgb)
        else:
            out.append(grey)
    return out


def embed_stamp(pixels: np.ndarray, number: int, t: float) -> None:
    """Write (number, t) into the first bytes of row 0 (in place, before the frame is frozen)."""
    header = np.frombuffer(_HEADER.pack(_MAGIC, number, t), np.uint8)
    row = pixels[0].reshape(-1)
    if row.size < header.size:
        raise ValueError("frame too narrow for a timestamp")
    row[: header.size] = header


def decode_stamp(pixels: np.ndarray) -> tuple[int, float] | None:
    """(frame number, grab time) embedded by :func:`embed_stamp`, or None."""
    row = np.ascontiguousarray(pixels[0]).reshape(-1)
    if row.size < _HEADER.size:
        return None
    magic, number, t = _HEADER.unpack(row[: _HEADER.size].tobytes())
    return (number, t) if magic == _MAGIC else None


class SyntheticLiveSource(FrameSource):
    """Live test-pattern source at an exact rate (absolute monotonic schedule)."""

    kind = "synthetic"

    def __init__(self, width: int = 640, height: int = 480, fps: float = 30.0, color: bool = True,
                 uri: str = "synthetic:") -> None:
        if width < 8 or height < 1 or not fps > 0:
            raise ValueError("bad synthetic source geometry / rate")
        self._info = SourceInfo(kind=self.kind, uri=uri, width=width, height=height, frame_count=None,
                                fps=float(fps), live=True)
        self._patterns = _patterns(width, height, color)
        self.slot = LatestFrameSlot()
        self.stats = LiveStats(state="running")
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._produce, name="fada-synthetic", daemon=True)
        self._thread.start()

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    @property
    def seekable(self) -> bool:
        return False

    def _produce(self) -> None:
        period = 1.0 / float(self._info.fps or 30.0)
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            due = t0 + k * period
            delay = due - time.monotonic()
            if delay > 0 and self._stop.wait(delay):
                break
            if self._paused.is_set():
                # Not producing: keep the schedule so the rate is exact after restore().
                k += 1
                continue
            now = time.monotonic()
            px = self._patterns[k % _N_PATTERNS].copy()
            embed_stamp(px, k, now)
            self.slot.put(Frame(px, None, now, None, {"number": k}))
            self.stats.produced = self.slot.produced
            self.stats.overwritten = self.slot.overwritten
            k += 1
            if delay < -1.0:  # fell far behind (suspended machine): restart the schedule
                t0, k = time.monotonic(), 0

    # -- failure simulation ---------------------------------------------------------------------
    def interrupt(self) -> None:
        """Cable pulled: no frames, state "reconnecting"."""
        self._paused.set()
        self.stats.state = "reconnecting"
        self.stats.last_error = "No signal from the synthetic device."

    def restore(self) -> None:
        self._paused.clear()
        self.stats.reconnects += 1
        self.stats.state = "running"
        self.stats.last_error = ""

    def give_up(self) -> None:
        """The device never came back: state "lost"."""
        self._paused.set()
        self.stats.state = "lost"
        self.stats.last_error = f"{self._info.uri}: device lost (no frames)"

    # -- FrameSource ----------------------------------------------------------------------------
    def frames(self, start: int = 0) -> Iterator[Frame]:
        seq = 0
        while not self._stop.is_set():
            if self.stats.state == "lost":
                raise DeviceLostError(self.stats.last_error)
            frame, seq = self.slot.wait_next(seq, timeout=0.05)
            if frame is not None:
                yield frame

    def close(self) -> None:
        self._stop.set()
        self.slot.close()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(1.0)
        if self.stats.state != "lost":
            self.stats.state = "stopped"
