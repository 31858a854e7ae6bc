"""The exam store's connections and transactions (the base of :class:`~fada_desk.storage.ExamStore`).

Writes are serialised on one connection behind a lock (:meth:`StoreBase.write_tx`,
``BEGIN IMMEDIATE`` ... ``COMMIT``); reads use a small pool of read-only
connections, each read one snapshot (:meth:`StoreBase.read_tx`). Every
connection enforces foreign keys, writes with ``synchronous=FULL`` and has the
SQL function ``fold`` (case folding for searches).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fada_desk.core.errors import StorageError
from fada_desk.storage._locks import OwnerLock
from fada_desk.storage.values import fold, utcnow

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 15.0


def connect(db_path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's pragmas."""
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        conn.create_function("fold", 1, fold, deterministic=True)
        if readonly:
            conn.execute("PRAGMA query_only=ON")
    except BaseException:
        conn.close()
        raise
    return conn


def backup_before_upgrade(conn: sqlite3.Connection, db_path: Path, version: int) -> Path:
    """Copy the database aside before changing its schema (migrations are forward-only)."""
    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    dest_path = db_path.with_name(f"{db_path.name}.schema{version}-{stamp}.bak")
    dest = sqlite3.connect(dest_path)
    try:
        conn.backup(dest)
    finally:
        dest.close()
    log.info("exam store: backed up schema %d database to %s before upgrading", version, dest_path)
    return dest_path


class StoreBase:
    """An open database file, its media folder and this store's owner token.

    The parts of the store (records, items, integrity) build on these
    transactions; :class:`~fada_desk.storage.ExamStore` puts them together.
    """

    def __init__(self, db_path: Path, media_root: Path, wconn: sqlite3.Connection, owner: OwnerLock) -> None:
        self.path = db_path
        self.media_root = media_root
        self._wconn = wconn
        self._owner = owner
        self._wlock = threading.RLock()
        self._pool_lock = threading.Lock()
        self._free: list[sqlite3.Connection] = []
        self._closed = False

    @property
    def owner_token(self) -> str:
        """The token in the names of media files this store writes (see :mod:`._locks`)."""
        return self._owner.token

    def close(self) -> None:
        """Close all connections and release the owner lock. Idempotent."""
        with self._wlock:
            if self._closed:
                return
            self._closed = True
            with self._pool_lock:
                free, self._free = self._free, []
            for conn in free:
                conn.close()
            self._wconn.close()
            self._owner.release()

    @property
    def closed(self) -> bool:
        return self._closed

    def check_open(self) -> None:
        if self._closed:
            raise StorageError("The exam store is closed.")

    @contextmanager
    def write_tx(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``); committed on success, rolled back on any error."""
        with self._wlock:
            self.check_open()
            conn = self._wconn
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    @contextmanager
    def read_tx(self) -> Iterator[sqlite3.Connection]:
        """A pooled read-only connection; all statements inside see one snapshot."""
        self.check_open()
        with self._pool_lock:
            conn = self._free.pop() if self._free else None
        if conn is None:
            conn = connect(self.path, readonly=True)
        try:
            conn.execute("BEGIN")  # one snapshot for all statements of this read
            yield conn
        finally:
            if conn.in_transaction:
                conn.execute("COMMIT")
            with self._pool_lock:
                if self._closed:
                    conn.close()
                else:
                    self._free.append(conn)
