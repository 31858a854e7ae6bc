"""The exam store: SQLite (WAL) for records, lossless files for pixels.

:class:`ExamStore` is put together from its parts, one module each:

* :mod:`.database` — connections and transactions (``read_tx`` / ``write_tx``);
* :mod:`.records` — patients and exams;
* :mod:`.capture` — adding stills and clips (the durable write path);
* :mod:`.items` — reading items back, calibration history, soft delete;
* :mod:`.integrity` — checksums, :meth:`~ExamStore.check`, quarantine of leftovers.

Threading: one store object is shared by the GUI's worker threads. Writes are
serialised on one connection behind a lock; reads use a small pool of
read-only connections and see a consistent snapshot (WAL lets them run while
a write is in progress). Several processes may open the same store (GUI and
CLI); SQLite's locking plus a busy timeout arbitrates.

Durability: a pixel file is complete and fsynced (see :mod:`.media`) before
the row that references it is committed with ``synchronous=FULL``; when an
``add_*`` call returns, the item survives a kill -9 or a power cut.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

from fada_desk.core.errors import StorageError
from fada_desk.core.fileio import fsync_dir
from fada_desk.storage._locks import OwnerLock
from fada_desk.storage.capture import ItemCapture
from fada_desk.storage.database import backup_before_upgrade, check_existing, connect
from fada_desk.storage.integrity import LOCKS_DIR
from fada_desk.storage.items import ItemAccess
from fada_desk.storage.migrations import LATEST_VERSION, migrate, schema_version
from fada_desk.storage.records import PatientExamRecords
from fada_desk.storage.values import describe

log = logging.getLogger(__name__)

DB_NAME = "exams.sqlite3"
MEDIA_DIR = "media"


class ExamStore(PatientExamRecords, ItemCapture, ItemAccess):
    """Patients, exams and captured items. Create with :meth:`open`; close when done.

    Every method raises :class:`StorageError` (one-line message) for bad input,
    missing records, damaged files, a full disk or a locked database.
    """

    @classmethod
    def open(cls, path: Path | str | None = None) -> ExamStore:
        """Open (creating or upgrading) the store; default ``user_data_dir()/exams.sqlite3``.

        An existing file must pass ``PRAGMA quick_check`` and be a fada_desk
        store, else StorageError and the file is left exactly as it was (no
        journal switch, migration or checkpoint ever touches it).

        ``path`` may also be a directory (existing, or a new path without a file
        suffix), which then holds ``exams.sqlite3``.
        Media lives in ``media/`` next to the database file.
        """
        if path is None:
            from fada_desk.core.paths import user_data_dir

            db_path = user_data_dir() / DB_NAME
        else:
            db_path = Path(path).expanduser()
            if db_path.is_dir() or (not db_path.exists() and not db_path.suffix):
                db_path = db_path / DB_NAME
        try:
            db_path.parent.mkdir(parents=True, exist_ok=True)
            media_root = db_path.parent / MEDIA_DIR
            if not media_root.is_dir():
                media_root.mkdir()
                fsync_dir(db_path.parent)
        except OSError as exc:
            raise StorageError(describe(exc, f"create the exam store folder {db_path.parent}")) from exc

        wconn: sqlite3.Connection | None = None
        owner: OwnerLock | None = None
        try:
            check_existing(db_path)  # nothing below runs on a file that could not be read
            wconn = connect(db_path, readonly=False)
            mode = wconn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a network share without shared memory
                log.warning("exam store %s: WAL unavailable (journal_mode=%s); concurrent reads will wait",
                            db_path, mode)
            version = schema_version(wconn)
            if 0 < version < LATEST_VERSION:
                backup_before_upgrade(wconn, db_path, version)
            migrate(wconn)
            owner = OwnerLock(media_root / LOCKS_DIR)
            store = cls(db_path, media_root, wconn, owner)
            store.quarantined = tuple(store.quarantine_leftovers())
        except StorageError:
            cls._abort_open(wconn, owner)
            raise
        except (sqlite3.Error, OSError, UnicodeDecodeError) as exc:
            cls._abort_open(wconn, owner)
            raise StorageError(describe(exc, f"open the exam store {db_path}")) from exc
        return store

    @staticmethod
    def _abort_open(wconn: sqlite3.Connection | None, owner: OwnerLock | None) -> None:
        if wconn is not None:
            wconn.close()
        if owner is not None:
            owner.release()

    def __enter__(self) -> ExamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
