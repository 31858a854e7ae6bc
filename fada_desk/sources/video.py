"""Video files (MP4, AVI, MOV, MKV, ...) through OpenCV's FFmpeg backend.

Why the care with frame counts and seeking: ``CAP_PROP_FRAME_COUNT`` is an
estimate from the container (duration x fps) and is wrong for some AVI/MKV
files and for anything re-muxed by a capture tool. We verify it on open by
reading the last frame and checking that nothing follows; when that fails we
count by decoding. The decoder position is cached, so playing forward never
seeks; short forward jumps grab (cheaper than seek + decode from the keyframe);
anything else seeks. Frames come out RGB.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.core.frame import Frame
from fada_desk.sources import _convert, _limits
from fada_desk.sources.base import FrameSource, SourceInfo, check_frame_index, local_path

VIDEO_SUFFIXES = frozenset(
    {
        ".mp4",
        ".m4v",
        ".mov",
        ".avi",
        ".mkv",
        ".webm",
        ".mpg",
        ".mpeg",
        ".m2v",
        ".wmv",
        ".ogv",
        ".ts",
        ".mts",
        ".m2ts",
        ".3gp",
        ".flv",
        ".h264",
        ".264",
    }
)

# A forward jump up to this many frames is done by grabbing rather than seeking.
FORWARD_GRAB_LIMIT = 30


def fourcc_text(value: float) -> str:
    """OpenCV's FOURCC property (a float) as its four characters; "" when not printable."""
    code = int(value)
    chars = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
    return chars if chars.isprintable() and chars.strip() else ""


def _dim(value: float) -> int:
    """An OpenCV size property as an int (0 when unknown or NaN)."""
    return int(value) if np.isfinite(value) and value > 0 else 0


def sane_fps(value: float) -> float | None:
    """OpenCV reports 0, NaN or a time-base (e.g. 90000) when a container has no frame rate."""
    if not np.isfinite(value) or value <= 0 or value > 1000:
        return None
    return round(float(value), 3)


def bgr_to_rgb(bgr: np.ndarray) -> np.ndarray:
    """OpenCV frame (BGR, BGRA or grey) -> display uint8 grey/RGB."""
    if bgr.ndim == 2:
        return _convert.to_display(bgr)
    if bgr.shape[2] == 4:
        return _convert.rgba_to_rgb(np.ascontiguousarray(bgr[:, :, [2, 1, 0, 3]]))
    if bgr.dtype != np.uint8:
        bgr = _convert.to_display(bgr)
    return np.ascontiguousarray(bgr[:, :, ::-1])


class VideoSource(FrameSource):
    """A seekable video file.

    ``count_frames=True`` always counts by decoding (slow, exact).
    ``exact_seek=True`` never asks the demuxer to seek: backward jumps re-open
    and decode forward. Used for raw elementary streams (no index) and turned
    on automatically when the container's frame count proved wrong.
    """

    kind = "video"

    @classmethod
    def probe(cls, uri: str) -> int:
        path = local_path(uri)
        return 50 if path is not None and path.suffix.lower() in VIDEO_SUFFIXES and path.is_file() else 0

    def __init__(self, uri: str | Path, count_frames: bool = False, exact_seek: bool = False) -> None:
        import cv2

        self._cv2 = cv2
        self._path = Path(uri)
        if not self._path.exists():
            raise SourceError(f"{self._path}: no such file")
        if not self._path.is_file():
            raise SourceError(f"{self._path}: not a video file")
        self._lock = threading.Lock()
        self._cap: Any = None
        self._exact = exact_seek
        self._open_capture()
        cap: Any = self._cap
        try:
            # The stream header's size, before FFmpeg allocates a frame of it (a decompression bomb).
            _limits.check_frame(self._path.name, _dim(cap.get(cv2.CAP_PROP_FRAME_WIDTH)),
                                _dim(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), 3)
        except SourceError:
            self._release()
            raise
        fps = sane_fps(cap.get(cv2.CAP_PROP_FPS))
        reported = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        codec = fourcc_text(cap.get(cv2.CAP_PROP_FOURCC))
        self._pos = 0  # index of the frame the next cap.read() returns; -1 = unknown
        first = self._read_next()
        if first is None:
            self._release()
            raise UnsupportedFormatError(f"{self._path.name}: no decodable video frames")
        h, w = first.shape[:2]
        if count_frames or reported <= 0 or exact_seek:
            count, how = self._count_by_decoding(), "decoded"
        else:
            count, how = self._verify_count(reported)
        if how == "decoded" and reported != count:
            self._exact = True  # the index lied about the count; do not trust it for seeking either
        if count <= 0:
            self._release()
            raise UnsupportedFormatError(f"{self._path.name}: no decodable video frames")
        self._fps = fps
        self._first = Frame(pixels=first, index=0, timestamp=0.0)
        self._last: Frame | None = self._first
        self._info = SourceInfo(
            kind=self.kind,
            uri=str(self._path),
            width=int(w),
            height=int(h),
            frame_count=count,
            fps=fps,
            metadata={
                "codec": codec,
                "container_frame_count": reported,
                "frame_count_from": how,
                "exact_seek": self._exact,
                "duration_s": round(count / fps, 3) if fps else None,
            },
        )

    # -- decoder handling -------------------------------------------------
    def _open_capture(self) -> None:
        cv2 = self._cv2
        cap = cv2.VideoCapture(str(self._path), cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise UnsupportedFormatError(
                f"{self._path.name}: cannot decode this video (unknown codec or corrupt file)"
            )
        self._cap = cap
        self._pos = 0

    def _release(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None

    def _read_next(self) -> np.ndarray | None:
        ok, bgr = self._cap.read()
        if not ok or bgr is None:
            self._pos = -1
            return None
        self._pos += 1
        return bgr_to_rgb(bgr)

    def _seek(self, index: int) -> None:
        if index == 0 or self._exact:
            # Re-opening is the one seek every backend gets exactly right.
            self._release()
            self._open_capture()
            return  # _open_capture set _pos = 0; read() grabs forward to index
        self._cap.set(self._cv2.CAP_PROP_POS_FRAMES, float(index))
        self._pos = index

    def _verify_count(self, reported: int) -> tuple[int, str]:
        """Trust the container count only if frame n-1 decodes and nothing follows it."""
        if reported == 1:
            ok_last = True
        else:
            self._seek(reported - 1)
            ok_last = self._cap.grab()
        if ok_last and not self._cap.grab():
            self._pos = -1
            return reported, "container"
        self._pos = -1
        return self._count_by_decoding(), "decoded"

    def _count_by_decoding(self) -> int:
        self._seek(0)
        n = 0
        while self._cap.grab():
            n += 1
        self._pos = -1
        return n

    # -- FrameSource ---------------------------------------------------------
    def read(self, index: int) -> Frame:
        check_frame_index(self._path.name, index, self._info.frame_count or 0)
        with self._lock:
            if self._last is not None and self._last.index == index:
                return self._last
            if index == 0:
                return self._first
            if self._cap is None:
                raise SourceError(f"{self._path.name}: source is closed")
            forward = self._pos >= 0 and self._pos <= index
            if not forward or (not self._exact and index > self._pos + FORWARD_GRAB_LIMIT):
                self._seek(index)
            while self._pos < index:
                if not self._cap.grab():
                    self._pos = -1
                    raise SourceError(f"{self._path.name}: cannot decode frame {index}")
                self._pos += 1
            px = self._read_next()
            if px is None:
                raise SourceError(f"{self._path.name}: cannot decode frame {index} (file damaged?)")
            frame = Frame(pixels=px, index=index, timestamp=index / self._fps if self._fps else 0.0)
            self._last = frame
            return frame

    @property
    def decoder_position(self) -> int:
        """Index the decoder returns next (-1 when unknown). For tests and diagnostics."""
        return self._pos

    def close(self) -> None:
        with self._lock:
            self._release()
