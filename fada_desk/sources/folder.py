"""A folder of still images played as a sequence (one image = one frame).

Scanners and frame grabbers often dump a cine as ``img1.png ... img120.png``:
files are ordered by *natural* sort (``img2`` before ``img10``). Files that are
not images (by suffix), hidden files and macOS ``._`` resource forks are
skipped. Images may differ in size; each frame carries its own size and path.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

from fada_desk.core.errors import SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources import _pil
from fada_desk.sources.base import FrameSource, SourceInfo, check_frame_index, local_path

_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple[Any, ...]:
    """Sort key: digit runs compare as numbers, text case-insensitively; ties broken by the raw name."""
    parts: list[Any] = []
    for i, chunk in enumerate(_DIGITS.split(name)):
        if i % 2:
            parts.append((0, int(chunk), len(chunk)))
        else:
            parts.append((1, chunk.casefold(), 0))
    return (tuple(parts), name)


def list_images(folder: Path) -> list[Path]:
    """Image files directly inside ``folder``, naturally sorted."""
    try:
        entries = list(folder.iterdir())
    except PermissionError:
        raise SourceError(f"{folder}: permission denied") from None
    except OSError as err:
        raise SourceError(f"{folder}: cannot list folder ({err.strerror or err})") from None
    files = [p for p in entries if not p.name.startswith(".") and _pil.is_image_path(p) and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.name))


class FolderSource(FrameSource):
    """Every image in a folder, in natural order. ``fps`` (optional) sets playback speed."""

    kind = "folder"

    @classmethod
    def probe(cls, uri: str) -> int:
        path = local_path(uri)
        return 50 if path is not None and path.is_dir() else 0

    def __init__(self, uri: str | Path, fps: float | None = None) -> None:
        self._path = Path(uri)
        if not self._path.exists():
            raise SourceError(f"{self._path}: no such folder")
        if not self._path.is_dir():
            raise SourceError(f"{self._path}: not a folder")
        if fps is not None and not fps > 0:
            raise SourceError(f"fps must be positive, got {fps}")
        self._files = list_images(self._path)
        if not self._files:
            known = ", ".join(sorted(_pil.IMAGE_SUFFIXES))
            raise SourceError(f"{self._path}: no images in this folder (looked for {known})")
        self._lock = threading.Lock()
        self._last: Frame | None = None
        first = self._header_size(self._files[0])
        self._info = SourceInfo(
            kind=self.kind,
            uri=str(self._path),
            width=first[0],
            height=first[1],
            frame_count=len(self._files),
            fps=float(fps) if fps else None,
            metadata={
                "files": len(self._files),
                "first_file": self._files[0].name,
                "last_file": self._files[-1].name,
            },
        )

    @staticmethod
    def _header_size(path: Path) -> tuple[int, int]:
        im = _pil.open_image(path)
        try:
            w, h = im.size
        finally:
            im.close()
        return int(w), int(h)

    @property
    def files(self) -> list[Path]:
        """The image files, in frame order."""
        return list(self._files)

    def read(self, index: int) -> Frame:
        check_frame_index(self._path.name, index, len(self._files))
        with self._lock:
            if self._last is not None and self._last.index == index:
                return self._last
            path = self._files[index]
            im = _pil.open_image(path)
            try:
                px, meta = _pil.decode(im, path.name)
            finally:
                im.close()
            fps = self._info.fps
            frame = Frame(
                pixels=px,
                index=index,
                timestamp=(index / fps) if fps else 0.0,
                meta={"bits_stored": meta["bits_stored"], "path": str(path)},
            )
            self._last = frame
            return frame
