"""The frame: the unit that flows from a source to the screen, the cine buffer and the store."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fada_desk.core.calibration import Calibration


@dataclass(frozen=True, eq=False)
class Frame:
    """One decoded video frame.

    ``pixels`` is always display-ready: ``uint8``, shape (H, W) for grey or
    (H, W, 3) RGB, C-contiguous, and must not be modified after creation
    (sources hand the same array to the display, the cine buffer and the store).
    16-bit and signed data are windowed to 8 bits by the source; the original
    bit depth is kept in ``meta["bits_stored"]`` where known.

    ``index`` is the frame number within a file source (None for live frames).
    ``timestamp`` is the source's presentation time in seconds (file) or
    ``time.monotonic()`` when the frame was grabbed (live): latency is measured
    against it. ``calibration`` is the physical calibration, if any.
    """

    pixels: np.ndarray
    index: int | None = None
    timestamp: float = 0.0
    calibration: Calibration | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        px = self.pixels
        if px.dtype != np.uint8 or px.ndim not in (2, 3) or (px.ndim == 3 and px.shape[2] != 3):
            raise ValueError(f"Frame pixels must be uint8 (H,W) or (H,W,3), got {px.dtype} {px.shape}")
        px.flags.writeable = False

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def is_color(self) -> bool:
        return self.pixels.ndim == 3

    def rgb(self) -> np.ndarray:
        """Pixels as (H, W, 3) uint8 (grey is replicated)."""
        if self.pixels.ndim == 3:
            return self.pixels
        return np.repeat(self.pixels[:, :, None], 3, axis=2)
