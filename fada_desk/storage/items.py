"""Captured items: reading them back (bit-exact, verified), calibration history, soft delete."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import StorageError
from fada_desk.core.frame import Frame
from fada_desk.storage import media
from fada_desk.storage.integrity import MediaIntegrity, media_label
from fada_desk.storage.models import CalibrationRecord, CapturedItem, ItemKind
from fada_desk.storage.checks import RowCheck
from fada_desk.storage.rows import calibration_text, exam_in, item_in, items_of
from fada_desk.storage.values import describe, guard, ts_text, utcnow

log = logging.getLogger(__name__)


def _source_index(reader: media.ClipReader, i: int) -> int | None:
    v = int(reader.source_index[i])
    return None if v < 0 else v


def _check_clip(item: CapturedItem, reader: media.ClipReader) -> None:
    if reader.n_frames != item.n_frames or len(reader.timestamps) != item.n_frames:
        raise StorageError(f"Item #{item.id} clip has {reader.n_frames} frames, "
                           f"the store says {item.n_frames}.")


def _frame(item: CapturedItem, pixels: np.ndarray, index: int, timestamp: float | None,
           source_index: int | None) -> Frame:
    expect = (item.height, item.width) if item.channels == 1 else (item.height, item.width, 3)
    if pixels.shape != expect:
        raise StorageError(f"Item #{item.id} media has pixels {pixels.shape}, expected {expect}.")
    meta = {**item.meta, "store_item_id": item.id, "source_index": source_index}
    return Frame(pixels, index=index, timestamp=timestamp or 0.0, calibration=item.calibration, meta=meta)


class ItemAccess(MediaIntegrity):
    """Read items and their frames; change an item's calibration; hide and restore items."""

    # ------------------------------------------------------------------ reading items
    @guard("read the item")
    def get_item(self, item_id: int) -> CapturedItem:
        with self.read_tx() as conn:
            return item_in(conn, item_id)

    @guard("list the exam's items")
    def list_items(self, exam_id: int, include_deleted: bool = False) -> list[CapturedItem]:
        """Items of an exam in capture order (deleted ones only when asked).

        Items whose row is damaged are left out; the exam's ``damage`` says which and why."""
        with self.read_tx() as conn:
            exam_in(conn, exam_id, items=False)
            items, _bad = items_of(conn, [exam_id], include_deleted)
        return items[exam_id]

    def media_file(self, item: CapturedItem | int) -> Path:
        """Absolute path of an item's pixel file (read-only use: export, DICOM)."""
        if not isinstance(item, CapturedItem):
            item = self.get_item(item)
        return media.media_path(self.media_root, item.media_path)

    @guard("load the frame")
    def load_frame(self, item_id: int, index: int = 0) -> Frame:
        """Frame ``index`` of an item (0 for a still) with the item's current calibration.

        The media file is checked against its sha256; a missing or damaged file
        raises StorageError. ``Frame.index`` is the position in the item;
        ``meta["source_index"]`` the frame number in the original source.
        """
        item = self.get_item(item_id)
        if isinstance(index, np.integer):
            index = int(index)
        if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < item.n_frames:
            raise StorageError(f"Item #{item.id} has {item.n_frames} frame(s); there is no frame {index!r}.")
        if item.kind is ItemKind.IMAGE:
            pixels = media.decode_png(self.verified_bytes(item), media_label(item))
            return _frame(item, pixels, 0, item.timestamp, item.frame_index)
        path = self.verified_file(item)
        with media.ClipReader(path, media_label(item)) as reader:
            _check_clip(item, reader)
            return _frame(item, reader.frame(index), index, float(reader.timestamps[index]),
                          _source_index(reader, index))

    @guard("read the clip")
    def iter_clip(self, item_id: int) -> Iterator[Frame]:
        """All frames of an item in order (a still yields its one frame).

        The file is verified before this returns, so a damaged clip fails here,
        not halfway through playback.
        """
        item = self.get_item(item_id)
        if item.kind is ItemKind.IMAGE:
            return iter([self.load_frame(item_id)])
        reader = media.ClipReader(self.verified_file(item), media_label(item))
        try:
            _check_clip(item, reader)
        except BaseException:
            reader.close()
            raise
        return self._iter_reader(item, reader)

    @staticmethod
    def _iter_reader(item: CapturedItem, reader: media.ClipReader) -> Iterator[Frame]:
        with reader:
            for i in range(reader.n_frames):
                try:
                    pixels = reader.frame(i)
                except OSError as exc:
                    raise StorageError(describe(exc, "read the clip")) from exc
                yield _frame(item, pixels, i, float(reader.timestamps[i]), _source_index(reader, i))

    # ------------------------------------------------------------------ changing items
    @guard("save the calibration")
    def set_calibration(self, item_id: int, calibration: Calibration | None) -> CapturedItem:
        """Make ``calibration`` current for the item (None removes it); the old one stays in the history."""
        if calibration is not None and not isinstance(calibration, Calibration):
            raise StorageError(f"Not a calibration: {type(calibration).__name__}.")
        cal_text = calibration_text(calibration)
        now = ts_text(utcnow())
        with self.write_tx() as conn:
            item = item_in(conn, item_id)
            version = item.calibration_version + 1
            conn.execute("INSERT INTO item_calibrations (item_id, version, calibration, source, created_at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (item_id, version, cal_text, calibration.source if calibration else "", now))
            conn.execute("UPDATE items SET calibration = ?, calibration_version = ? WHERE id = ?",
                         (cal_text, version, item_id))
            return item_in(conn, item_id)

    @guard("read the calibration history")
    def calibration_history(self, item_id: int) -> list[CalibrationRecord]:
        """Every calibration the item has had, oldest first (a damaged version is left out and logged)."""
        with self.read_tx() as conn:
            item_in(conn, item_id)
            rows = conn.execute("SELECT * FROM item_calibrations WHERE item_id = ? ORDER BY version",
                                (item_id,)).fetchall()
        out = []
        for r in rows:
            c = RowCheck(r, "calibration")
            record = CalibrationRecord(item_id, c.integer("version", 1, 2**31 - 1), c.calibration("calibration"),
                                       c.text("source"), c.timestamp("created_at"))  # type: ignore[arg-type]
            if c.problems:
                log.warning("item #%d: calibration history entry left out (%s)", item_id, "; ".join(c.problems))
            else:
                out.append(record)
        return out

    @guard("delete the item")
    def delete_item(self, item_id: int) -> CapturedItem:
        """Hide the item (soft delete). Its file and row are kept; :meth:`restore_item` undoes it."""
        with self.write_tx() as conn:
            item = item_in(conn, item_id)
            if item.deleted_at is None:
                conn.execute("UPDATE items SET deleted_at = ? WHERE id = ?", (ts_text(utcnow()), item_id))
            return item_in(conn, item_id)

    @guard("restore the item")
    def restore_item(self, item_id: int) -> CapturedItem:
        with self.write_tx() as conn:
            item_in(conn, item_id)
            conn.execute("UPDATE items SET deleted_at = NULL WHERE id = ?", (item_id,))
            return item_in(conn, item_id)
