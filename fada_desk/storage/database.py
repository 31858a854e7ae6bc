"""The exam store's connections and transactions (the base of :class:`~fada_desk.storage.ExamStore`).

Writes are serialised on one connection behind a lock (:meth:`StoreBase.write_tx`,
``BEGIN IMMEDIATE`` ... ``COMMIT``); reads use a small pool of read-only
connections, each read one snapshot (:meth:`StoreBase.read_tx`). Every
connection enforces foreign keys, writes with ``synchronous=FULL`` and has the
SQL function ``fold`` (case folding for searches).
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fada_desk.core.errors import StorageError
from fada_desk.storage._locks import OwnerLock
from fada_desk.storage.checks import decode_text
from fada_desk.storage.migrations import LATEST_VERSION, migrate
from fada_desk.storage.values import describe, fold, utcnow

log = logging.getLogger(__name__)

BUSY_TIMEOUT_S = 15.0


def connect(db_path: Path, readonly: bool) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit) with the store's pragmas."""
    conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        conn.text_factory = decode_text  # one bad byte damages one value, not the whole query
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=FULL")
        conn.create_function("fold", 1, fold, deterministic=True)
        if readonly:
            conn.execute("PRAGMA query_only=ON")
    except BaseException:
        conn.close()
        raise
    return conn


SQLITE_MAGIC = b"SQLite format 3\x00"
STORE_TABLES = frozenset({"patients", "exams", "items"})  # schema 1: every fada_desk store has them
RESTORE_HINT = ("restore exams.sqlite3 from a backup, or move it aside to start an empty store "
                "(README, 'Data and privacy')")


def check_existing(db_path: Path) -> None:
    """Refuse, before anything writes to it, a file that is not a readable fada_desk store.

    Reads through a read-only connection: the header, ``PRAGMA quick_check``,
    and that a database with tables is one of ours, its tables, indexes and
    triggers exactly as the migrations made them. Nothing changes the file
    (no WAL switch, no migration, no checkpoint) until this passed; a new or
    empty file passes.
    """
    try:
        with open(db_path, "rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StorageError(describe(exc, f"read the exam store {db_path}")) from exc
    if not head:
        return
    if head != SQLITE_MAGIC:
        raise StorageError(f"The exam store {db_path} is damaged or not an SQLite database; it was left "
                           f"unchanged: {RESTORE_HINT}.")
    side = [db_path.with_name(db_path.name + s) for s in ("-wal", "-shm")]
    existed = [p.exists() for p in side]
    problem = None
    try:
        conn = sqlite3.connect(f"{db_path.resolve().as_uri()}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_S)
        try:
            conn.text_factory = decode_text
            rows = [str(r[0]) for r in conn.execute("PRAGMA quick_check(5)")]
            if rows != ["ok"]:
                lines = [ln for r in rows for ln in r.splitlines() if ln.strip() and not ln.startswith("***")]
                problem = f"damaged (SQLite quick_check: {lines[0] if lines else rows[0]})"
            else:
                problem = _schema_problem(conn)
        finally:
            conn.close()
    except UnicodeDecodeError:  # SQLite's message quoted a damaged schema name
        problem = "damaged (its schema cannot be read)"
    except sqlite3.Error as exc:
        name, low = getattr(exc, "sqlite_errorname", ""), str(exc).lower()  # errorname: Python >= 3.11
        if name.startswith("SQLITE_READONLY") or "readonly" in low:
            return  # e.g. a hot rollback journal only a writer may replay: the writer's open goes on
        if not (name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in low
                or "not a database" in low):
            raise StorageError(describe(exc, f"open the exam store {db_path}")) from exc  # locked, I/O...
        problem = f"damaged ({' '.join(str(exc).split())})"
    if problem is None:
        return
    for path, was in zip(side, existed):  # what the read-only check itself left (empty files)
        if not was and path.exists() and (path.name.endswith("-shm") or path.stat().st_size == 0):
            path.unlink(missing_ok=True)
    raise StorageError(f"The exam store {db_path} is {problem}; it was left unchanged: {RESTORE_HINT}.")


def _schema_sql(conn: sqlite3.Connection) -> dict[str, tuple[str, str]]:
    rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'")
    return {str(name): (str(kind), " ".join(str(sql).split())) for kind, name, sql in rows}


@functools.lru_cache(maxsize=None)
def expected_schema(version: int) -> dict[str, tuple[str, str]]:
    """Tables, indexes and triggers a store of schema ``version`` has (migrations run in memory)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        migrate(conn, target=version)
        return _schema_sql(conn)
    finally:
        conn.close()


def _schema_problem(conn: sqlite3.Connection) -> str | None:
    """Why a readable database is not a fada_desk store we may open (None: it is one, or empty)."""
    version = int(conn.execute("PRAGMA user_version").fetchone()[0])
    actual = _schema_sql(conn)
    if version == 0 and not actual:
        return None  # a new, empty database
    if version == 0 or not STORE_TABLES <= actual.keys():
        return "not a fada_desk exam store (another program's database, or a damaged header)"
    if version > LATEST_VERSION:
        return None  # migrate() says which fada_desk is needed
    for name, (kind, sql) in expected_schema(version).items():
        if actual.get(name) != (kind, sql):  # e.g. a flipped byte renamed a column
            return f"damaged (its {kind} {name} differs from fada_desk's schema {version})"
    return None


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
        self.checked_rows: dict[int, int] = {}  # item id -> hash of its row when last found readable

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
