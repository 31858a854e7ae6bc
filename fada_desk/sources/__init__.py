"""Frame sources behind one interface, chosen through a registry.

>>> from fada_desk.sources import open_source
>>> with open_source("scan.dcm") as src:
...     frame = src.read(0)

Implementations are imported lazily (pydicom / OpenCV are heavy).
"""

from __future__ import annotations

from pathlib import Path

from fada_desk.core.errors import SourceError
from fada_desk.core.registry import Registry
from fada_desk.sources.base import FrameSource, LatestFrameSlot, LiveStats, SourceInfo

SOURCES: Registry[type[FrameSource]] = Registry("frame source")
# name -> "module:Class"; each class implements probe(uri) -> score.
SOURCES.register("image", "fada_desk.sources.image:ImageSource")
SOURCES.register("folder", "fada_desk.sources.folder:FolderSource")
SOURCES.register("video", "fada_desk.sources.video:VideoSource")
SOURCES.register("dicom", "fada_desk.sources.dicom:DicomSource")
SOURCES.register("capture", "fada_desk.sources.capture:CaptureSource")
SOURCES.register("stream", "fada_desk.sources.capture:StreamSource")


def open_source(uri: str | Path, **options: object) -> FrameSource:
    """Open the best source for ``uri`` (path, ``device:N``/``device:NAME``, or URL).

    Raises :class:`SourceError` with a one-line message when nothing can open it.
    """
    text = str(uri)
    best: tuple[int, type[FrameSource]] | None = None
    for name in SOURCES:
        cls = SOURCES.get(name)
        score = cls.probe(text)
        if score > 0 and (best is None or score > best[0]):
            best = (score, cls)
    if best is None:
        if "://" not in text and not text.startswith("device:") and not Path(text).exists():
            raise SourceError(f"{text}: no such file or directory")
        raise SourceError(f"{text}: not a supported image, video, DICOM file, device or stream")
    return best[1](text, **options)  # type: ignore[call-arg]


__all__ = ["SOURCES", "FrameSource", "LatestFrameSlot", "LiveStats", "SourceInfo", "open_source"]
