"""Helpers shared by the exam store tests (imported by name: tests/storage is on sys.path)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np

from fada_desk.core.frame import Frame

STORE_TODAY = dt.date(2024, 6, 15)  # the store's "today" in tests that pin it (the `today` fixture)
TESTS = Path(__file__).resolve().parents[1]
HC18_IMAGE = TESTS / "data" / "hc18" / "images" / "001_HC.png"  # CC BY 4.0, see tests/data/hc18/LICENSE.md


def random_frame(rng: np.random.Generator, shape: tuple[int, ...], **kw: object) -> Frame:
    """Full-range random pixels: incompressible and sensitive to any off-by-one in the codec."""
    return Frame(rng.integers(0, 256, shape, dtype=np.uint8), **kw)  # type: ignore[arg-type]
