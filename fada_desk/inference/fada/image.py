"""The image as the FADA model sees it: RGB, upstream's LANCZOS resize, content hashes.

:func:`prepare_image` is the one place a frame or array becomes model input:
RGB uint8, the longest side resized to ``max_side`` (never upscaled), plus the
SHA-256 of the original and of the resized pixels (the result cache and the
backend's image-prefix reuse key on the latter).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from fada_desk.core.frame import Frame
from fada_desk.inference.fada import constants as C


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
