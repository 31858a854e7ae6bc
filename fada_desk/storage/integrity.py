"""Media integrity: checksum verification, the store check, and quarantine of dead writers' leftovers.

Every media file is sha256-checked against its row before its pixels are
used. On open, files left by writers that died (temp files, and complete
files whose row was never committed) are moved to ``media/.quarantine/<time>/``
(never deleted); files of writers that are still alive, in this or another
process, are recognised by the owner token in their name and left alone.
"""

from __future__ import annotations

import logging
import os
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from fada_desk.core.errors import StorageError
from fada_desk.core.fileio import fsync_dir, sha256_bytes, sha256_file
from fada_desk.storage import media
from fada_desk.storage._locks import OwnerLock, owner_alive
from fada_desk.storage.database import StoreBase
from fada_desk.storage.models import CapturedItem
from fada_desk.storage.checks import DamagedRecord
from fada_desk.storage.rows import EXAM_COLS, EXAM_FROM, exam_from, item_from
from fada_desk.storage.values import guard, utcnow

log = logging.getLogger(__name__)

LOCKS_DIR = ".locks"
QUARANTINE_DIR = ".quarantine"
T = TypeVar("T")


def media_label(item: CapturedItem) -> str:
    """How messages name an item's media file."""
    return f"The media file of item #{item.id} ({item.media_path})"


class MediaIntegrity(StoreBase):
    """Verified access to media files, :meth:`check` and the leftover sweep."""

    def __init__(self, db_path: Path, media_root: Path, wconn: sqlite3.Connection, owner: OwnerLock) -> None:
        super().__init__(db_path, media_root, wconn, owner)
        self._verified: dict[str, tuple[int, int]] = {}  # media_path -> (size, mtime_ns) whose sha matched
        self.quarantined: tuple[Path, ...] = ()  # leftovers moved aside by this open (shown to the user)

    def _stat_or_read(self, item: CapturedItem, op: Callable[[Path], T]) -> T:
        """``op(path)`` on the item's media file; a missing file is a one-line StorageError."""
        try:
            return op(media.media_path(self.media_root, item.media_path))
        except FileNotFoundError as exc:
            raise StorageError(f"{media_label(item)} is missing from {self.media_root}.") from exc

    @staticmethod
    def _check_sha(item: CapturedItem, sha: str) -> None:
        if sha != item.sha256:
            raise StorageError(f"{media_label(item)} is damaged: its checksum does not match what was saved.")

    def verified_bytes(self, item: CapturedItem) -> bytes:
        """The whole (small) media file, sha256-checked; StorageError when missing or damaged."""
        data = self._stat_or_read(item, Path.read_bytes)
        self._check_sha(item, sha256_bytes(data))
        return data

    def verified_file(self, item: CapturedItem) -> Path:
        """sha256-check a (large) media file once per store and file version; return its path."""
        st = self._stat_or_read(item, Path.stat)
        path = media.media_path(self.media_root, item.media_path)
        key = (st.st_size, st.st_mtime_ns)
        if self._verified.get(item.media_path) != key:
            self._check_sha(item, sha256_file(path))
            self._verified[item.media_path] = key
        return path

    @guard("check the exam store")
    def check(self, verify_media: bool = True) -> list[str]:
        """Problems found (empty = healthy): SQLite integrity, foreign keys, damaged rows,
        missing/damaged media."""
        problems: list[str] = []
        with self.read_tx() as conn:
            problems += [f"database: {r[0]}" for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
            for r in conn.execute(f"SELECT {EXAM_COLS} FROM {EXAM_FROM} ORDER BY e.id"):
                problems += [f"exam #{r['e_id']}: {d}" for d in exam_from(r).damage]
            rows = conn.execute("SELECT * FROM items ORDER BY id").fetchall()
        items = []
        for row in rows:
            try:
                items.append(item_from(row))
            except DamagedRecord as exc:
                problems.append(str(exc))
        if verify_media:
            for item in items:
                path = media.media_path(self.media_root, item.media_path)
                if not path.is_file():
                    problems.append(f"item #{item.id}: media file {item.media_path} is missing")
                elif sha256_file(path) != item.sha256:
                    problems.append(f"item #{item.id}: media file {item.media_path} is damaged (checksum)")
        return problems

    def quarantine_leftovers(self) -> list[Path]:
        """Quarantine files left by writers that died: temp files, and complete files
        whose row was never committed. Live writers' files (other processes or stores
        on the same data dir) are recognised by their owner token and left alone."""
        lock_dir = self.media_root / LOCKS_DIR
        candidates: list[tuple[Path, str]] = []
        alive: dict[str, bool] = {self.owner_token: True}
        for exam_dir in sorted(self.media_root.iterdir()):
            if not exam_dir.is_dir() or exam_dir.name.startswith("."):
                continue
            for f in exam_dir.iterdir():
                owner = media.owner_of(f.name)
                if owner is None or not f.is_file():
                    continue
                if owner not in alive:
                    alive[owner] = owner_alive(lock_dir, owner)
                if not alive[owner]:
                    candidates.append((f, f"{exam_dir.name}/{f.name}"))
        if not candidates:
            return []
        with self.read_tx() as conn:
            rows = conn.execute("SELECT media_path, sha256 FROM items").fetchall()
        referenced = {r[0] for r in rows}
        hashes = {r[1] for r in rows}
        stamp = utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        moved: list[Path] = []
        for path, rel in candidates:
            if rel in referenced:
                continue
            if not media.is_temp(path.name) and sha256_file(path) in hashes:
                # a row has these very bytes under another name: that row is damaged, the file is not a leftover
                log.warning("exam store: media %s matches a stored item with another file name; left in place", rel)
                continue
            dest = self.media_root / QUARANTINE_DIR / stamp / path.parent.name / path.name
            media.make_dirs_durable(dest.parent, self.media_root)
            os.replace(path, dest)
            fsync_dir(path.parent)
            fsync_dir(dest.parent)
            moved.append(dest)
            log.warning("exam store: moved unfinished media %s to %s", rel, dest)
        return moved
