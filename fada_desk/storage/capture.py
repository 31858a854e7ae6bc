"""Adding captured stills and clips to an exam: the durable write path.

A pixel file is complete and fsynced (:class:`~fada_desk.storage.media.MediaWriter`)
before the row that references it is committed, so when an ``add_*`` call
returns the item survives a kill -9 or a power cut. If the commit fails the
file stays unreferenced and the next open quarantines it (never deleted
here: the commit may have failed *after* reaching disk).
"""

from __future__ import annotations

import math
import secrets
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.calibration import Calibration
from fada_desk.core.cancel import CancelToken, Job, Progress, drive
from fada_desk.core.errors import StorageError
from fada_desk.core.frame import Frame
from fada_desk.storage import media
from fada_desk.storage.database import StoreBase
from fada_desk.storage.models import CapturedItem, Exam, ItemKind
from fada_desk.storage.rows import calibration_text, item_in, writable_exam_in
from fada_desk.storage.values import clean_text, describe, guard, meta_json, ts_text, utcnow

MAX_FPS = 1000.0


def _check_frame(frame: object, what: str) -> Frame:
    if not isinstance(frame, Frame):
        raise StorageError(f"{what} is not a Frame (got {type(frame).__name__}).")
    return frame


def _describe_frame(f: Frame) -> str:
    return f"{f.width}x{f.height} {'RGB' if f.is_color else 'grey'}"


def _clip_fps(fps: float | None, timestamps: np.ndarray) -> tuple[float | None, bool]:
    """(frame rate to store, whether it was derived from the timestamps); StorageError for a bad ``fps``."""
    if fps is not None:
        if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= MAX_FPS):
            raise StorageError(f"Clip frame rate must be a number between 0 and {MAX_FPS:g}, "
                               f"got {fps!r}.")
        return float(fps), False
    if len(timestamps) > 1 and np.all(np.isfinite(timestamps)) and np.all(np.diff(timestamps) > 0):
        derived = (len(timestamps) - 1) / float(timestamps[-1] - timestamps[0])
        return (derived, True) if derived <= MAX_FPS else (None, False)
    return None, False


class ItemCapture(StoreBase):
    """``add_image`` / ``add_clip``: lossless, crash-safe, cancellable for clips."""

    def _exam(self, exam_id: int) -> Exam:
        with self.read_tx() as conn:
            return writable_exam_in(conn, exam_id)

    def _new_media_path(self, exam_uid: str, kind: str, ext: str) -> tuple[str, Path]:
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        name = media.media_name(kind, stamp, self.owner_token, secrets.token_hex(4), ext)
        rel = f"{exam_uid}/{name}"
        final = media.media_path(self.media_root, rel)
        media.make_dirs_durable(final.parent, self.media_root)
        return rel, final

    @guard("save the image")
    def add_image(self, exam_id: int, frame: Frame, source_uri: str = "",
                  meta: dict[str, Any] | None = None) -> CapturedItem:
        """Save one frame losslessly (PNG). When this returns, the image is on disk for good."""
        frame = _check_frame(frame, "The image")
        source_uri = clean_text(source_uri, "Source", 4096)
        meta_text = meta_json(frame.meta, meta)
        exam = self._exam(exam_id)
        rel, final = self._new_media_path(exam.uid, "IMG", ".png")
        sha, size = media.write_media(final, lambda f: media.encode_png(frame.pixels, f))
        return self._insert_item(
            exam_id=exam.id, kind=ItemKind.IMAGE, source_uri=source_uri, frame_index=frame.index,
            timestamp=frame.timestamp, width=frame.width, height=frame.height,
            channels=3 if frame.is_color else 1, n_frames=1, fps=None, calibration=frame.calibration,
            sha256=sha, media_path=rel, size_bytes=size, meta=meta_text)

    def add_clip(self, exam_id: int, frames: Sequence[Frame], fps: float | None, source_uri: str = "",
                 meta: dict[str, Any] | None = None) -> CapturedItem:
        """Save frames as one lossless clip; blocking version of :meth:`add_clip_job`."""
        return drive(self.add_clip_job(exam_id, frames, fps, source_uri, meta))

    def add_clip_job(self, exam_id: int, frames: Sequence[Frame], fps: float | None, source_uri: str = "",
                     meta: dict[str, Any] | None = None, token: CancelToken | None = None,
                     ) -> Job[CapturedItem]:
        """Cancellable clip save: yields :class:`Progress` per frame; the last one's payload
        (and the generator's return value) is the saved :class:`CapturedItem`.

        Cancelling (token or closing the generator) leaves no file and no row.
        ``fps`` None is derived from the frame timestamps when they increase.
        """
        # validate eagerly, before the first next(), so bad input fails at once
        try:
            frames = list(frames)
        except TypeError as exc:
            raise StorageError("A clip needs a sequence of frames.") from exc
        if not frames:
            raise StorageError("A clip needs at least one frame.")
        for i, fr in enumerate(frames):
            _check_frame(fr, f"Clip frame {i}")
        first = frames[0]
        for i, fr in enumerate(frames):
            if fr.pixels.shape != first.pixels.shape:
                raise StorageError(f"Clip frame {i} is {_describe_frame(fr)}, frame 0 is "
                                   f"{_describe_frame(first)}: all frames must match.")
        timestamps = np.array([fr.timestamp for fr in frames], dtype=np.float64)
        fps, derived = _clip_fps(fps, timestamps)
        source_uri = clean_text(source_uri, "Source", 4096)
        meta_text = meta_json(first.meta, meta, {"fps_derived": True} if derived else None)
        source_index = np.array([-1 if fr.index is None else fr.index for fr in frames], dtype=np.int64)
        calibration = next((fr.calibration for fr in frames if fr.calibration is not None), None)
        exam = guard("save the clip")(self._exam)(exam_id)
        return self._clip_job(exam, frames, fps, timestamps, source_index, calibration, source_uri, meta_text,
                              token)

    def _clip_job(self, exam: Exam, frames: list[Frame], fps: float | None, timestamps: np.ndarray,
                  source_index: np.ndarray, calibration: Calibration | None, source_uri: str, meta_text: str,
                  token: CancelToken | None) -> Job[CapturedItem]:
        first, n = frames[0], len(frames)
        try:
            rel, final = self._new_media_path(exam.uid, "CLIP", ".npz")
            with media.MediaWriter(final) as mw:
                with media.ClipWriter(mw.file, timestamps, source_index, first.pixels.shape, fps) as cw:
                    for i, fr in enumerate(frames):
                        if token is not None:
                            token.check()
                        cw.add(fr.pixels)
                        yield Progress(f"Saving clip: frame {i + 1}/{n}", (i + 1) / (n + 1))
                if token is not None:
                    token.check()
                sha, size = mw.commit()
            item = self._insert_item(
                exam_id=exam.id, kind=ItemKind.CLIP, source_uri=source_uri, frame_index=first.index,
                timestamp=first.timestamp, width=first.width, height=first.height,
                channels=3 if first.is_color else 1, n_frames=n, fps=fps, calibration=calibration,
                sha256=sha, media_path=rel, size_bytes=size, meta=meta_text)
        except (sqlite3.Error, OSError, UnicodeDecodeError) as exc:
            raise StorageError(describe(exc, "save the clip")) from exc
        yield Progress(f"Clip saved ({n} frames)", 1.0, payload=item)
        return item

    def _insert_item(self, *, exam_id: int, kind: str, source_uri: str, frame_index: int | None,
                     timestamp: float | None, width: int, height: int, channels: int, n_frames: int,
                     fps: float | None, calibration: Calibration | None, sha256: str, media_path: str,
                     size_bytes: int, meta: str) -> CapturedItem:
        """Commit the row for a media file that is already complete and durable."""
        now = ts_text(utcnow())
        cal_text = calibration_text(calibration)
        if timestamp is not None and not math.isfinite(timestamp):
            timestamp = None
        with self.write_tx() as conn:
            cur = conn.execute(
                "INSERT INTO items (exam_id, kind, created_at, source_uri, frame_index, timestamp, width, "
                "height, channels, n_frames, fps, calibration, calibration_version, sha256, media_path, "
                "size_bytes, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (exam_id, kind, now, source_uri, frame_index, timestamp, width, height, channels, n_frames,
                 fps, cal_text, 1 if cal_text else 0, sha256, media_path, size_bytes, meta))
            item_id = int(cur.lastrowid)  # type: ignore[arg-type]
            if calibration is not None:
                conn.execute("INSERT INTO item_calibrations (item_id, version, calibration, source, "
                             "created_at) VALUES (?, 1, ?, ?, ?)",
                             (item_id, cal_text, calibration.source, now))
            return item_in(conn, item_id)
