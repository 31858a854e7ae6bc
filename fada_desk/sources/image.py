"""Still images (PNG, JPEG, BMP, TIFF, GIF, WebP) through Pillow.

A single image is one frame, decoded once at open (the file handle is then
released, so the file may be moved while it is on screen). Multi-page TIFF and
animated GIF/WebP are multi-frame sources decoded page by page on demand.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from fada_desk.core.errors import SourceError, first_line
from fada_desk.core.frame import Frame
from fada_desk.sources import _pil
from fada_desk.sources.base import FrameSource, SourceInfo, check_frame_index, local_path


class ImageSource(FrameSource):
    """One image file (or the pages of a multi-page TIFF / animated GIF)."""

    kind = "image"

    @classmethod
    def probe(cls, uri: str) -> int:
        path = local_path(uri)
        if path is None or not path.is_file():
            return 0
        if _pil.is_image_path(path):
            return 50
        return 30 if _pil.has_image_magic(path) else 0

    def __init__(self, uri: str | Path) -> None:
        self._path = Path(uri)
        if self._path.is_dir():
            raise SourceError(f"{self._path}: is a folder; open it as a folder of images")
        self._lock = threading.Lock()
        self._im: Any = _pil.open_image(self._path)
        self._closed = False
        try:
            n = _pil.frame_count(self._im, self._path.name)
            self._fmt = str(self._im.format or self._path.suffix.lstrip(".").upper())
            first_px, first_meta = _pil.decode(self._im, self._path.name)
            fps = self._fps_hint() if n > 1 else None
            meta: dict[str, Any] = {
                "format": self._fmt,
                "mode": first_meta["mode"],
                "bits_stored": first_meta["bits_stored"],
                "path": str(self._path),
            }
            dpi = _pil.dpi(self._im)
            if dpi:
                meta["dpi"] = dpi
        except SourceError:
            self._im.close()
            raise
        self._cache: dict[int, Frame] = {0: self._make_frame(0, first_px, first_meta, fps)}
        self._info = SourceInfo(
            kind=self.kind,
            uri=str(self._path),
            width=int(first_px.shape[1]),
            height=int(first_px.shape[0]),
            frame_count=n,
            fps=fps,
            metadata=meta,
        )
        if n == 1:
            self._im.close()  # decoded already: do not hold the file open
            self._im = None

    def _fps_hint(self) -> float | None:
        duration = self._im.info.get("duration")
        try:
            ms = float(duration) if duration else 0.0
        except (TypeError, ValueError, OverflowError):
            return None
        return round(1000.0 / ms, 3) if ms > 0 and math.isfinite(ms) else None

    def _make_frame(self, index: int, px: Any, meta: dict[str, Any], fps: float | None) -> Frame:
        return Frame(
            pixels=px,
            index=index,
            timestamp=(index / fps) if fps else 0.0,
            meta={"bits_stored": meta["bits_stored"], "path": str(self._path), "page": index},
        )

    def read(self, index: int) -> Frame:
        check_frame_index(self._path.name, index, self._info.frame_count or 0)
        with self._lock:
            cached = self._cache.get(index)
            if cached is not None:
                return cached
            if self._closed or self._im is None:
                raise SourceError(f"{self._path.name}: source is closed")
            try:
                self._im.seek(index)
            except Exception as err:  # noqa: BLE001 - Pillow reports damaged pages in many ways
                raise SourceError(f"{self._path.name}: cannot read page {index} ({first_line(err, 160)})") from None
            px, meta = _pil.decode(self._im, self._path.name)
            frame = self._make_frame(index, px, meta, self._info.fps)
            # Keep page 0 plus the last page read: sequential playback re-reads nothing.
            self._cache = {0: self._cache[0], index: frame}
            return frame

    def close(self) -> None:
        with self._lock:
            self._closed = True
            if self._im is not None:
                self._im.close()
                self._im = None
