"""The exam store: SQLite (WAL) for records, lossless files for pixels.

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

import datetime as dt
import errno
import functools
import json
import logging
import math
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fada_desk.core.calibration import Calibration
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import StorageError
from fada_desk.core.frame import Frame
from fada_desk.storage import media
from fada_desk.storage._locks import OwnerLock, owner_alive
from fada_desk.storage.dating import EARLIEST_DATE, validate_dating
from fada_desk.storage.migrations import LATEST_VERSION, migrate, schema_version
from fada_desk.storage.models import (
    EXAM_STATUSES,
    SEXES,
    CalibrationRecord,
    CapturedItem,
    Exam,
    ExamSummary,
    Patient,
)

log = logging.getLogger(__name__)

DB_NAME = "exams.sqlite3"
MEDIA_DIR = "media"
LOCKS_DIR = ".locks"
QUARANTINE_DIR = ".quarantine"
BUSY_TIMEOUT_S = 15.0
MAX_FPS = 1000.0
_LOADED_KEYS = ("store_item_id", "source_index")  # added to loaded frames' meta, never stored back

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()


# ----------------------------------------------------------------------------- conversions

def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _ts(value: dt.datetime) -> str:
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _parse_ts(text: str | None) -> dt.datetime | None:
    if text is None:
        return None
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def _parse_date(text: str | None) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def _fold(text: object) -> str:
    return str(text).casefold() if text is not None else ""


def _like(term: str) -> str:
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _jsonable(value: Any, depth: int = 0) -> Any:
    """Best-effort conversion of frame/DICOM metadata to JSON; nothing raises, nothing is dropped silently."""
    if depth > 20:
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return _jsonable(value.item(), depth + 1)
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist(), depth + 1) if value.size <= 4096 else f"<array {value.shape}>"
    if isinstance(value, dict):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v, depth + 1) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _meta_json(*parts: dict[str, Any] | None) -> str:
    merged: dict[str, Any] = {}
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            raise StorageError(f"Item metadata must be a dict, got {type(part).__name__}.")
        merged.update(_jsonable(part))
    for key in _LOADED_KEYS:
        merged.pop(key, None)
    return json.dumps(merged, allow_nan=False, ensure_ascii=False, sort_keys=True)


def _as_date(value: object, what: str) -> dt.date | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise StorageError(f"{what} must be a date like 2024-05-31, got {value!r}.")


def _clean_text(value: object, what: str, max_len: int, multiline: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StorageError(f"{what} must be text, got {type(value).__name__}.")
    text = value.strip() if not multiline else value.strip("\r\n\t ").replace("\r\n", "\n")
    allowed = "\n\t" if multiline else ""
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text):
        raise StorageError(f"{what} contains control characters.")
    if len(text) > max_len:
        raise StorageError(f"{what} is too long ({len(text)} characters, at most {max_len}).")
    return text


def _clean_sex(value: object) -> str:
    text = _clean_text(value, "Sex", 16).upper()
    text = {"FEMALE": "F", "MALE": "M", "OTHER": "O"}.get(text, text)
    if text not in SEXES:
        raise StorageError(f"Sex must be F, M, O or empty, got {value!r}.")
    return text


def _describe(exc: BaseException, action: str) -> str:
    """One user-facing line for a low-level failure."""
    text = " ".join(str(exc).split())
    low = text.lower()
    err = getattr(exc, "errno", None)
    if err == errno.ENOSPC or "database or disk is full" in low:
        return f"The disk is full: could not {action}. Free some disk space and try again."
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in low or "read-only" in low:
        return f"Permission denied: could not {action} ({text})."
    if "locked" in low or "busy" in low:
        return f"The exam store is busy (locked by another program): could not {action}. Try again."
    if "not a database" in low or "malformed" in low:
        return f"The exam store database is damaged: could not {action} ({text})."
    return f"Could not {action}: {text}"


def _guard(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn sqlite/OS errors escaping a public method into one-line StorageErrors."""

    def deco(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return fn(*args, **kwargs)
            except StorageError:
                raise
            except (sqlite3.Error, OSError) as exc:
                raise StorageError(_describe(exc, action)) from exc

        return wrapper

    return deco


# ----------------------------------------------------------------------------- row mapping

_EXAM_COLS = """e.id AS e_id, e.uid AS e_uid, e.created_at AS e_created_at, e.exam_date AS e_exam_date,
    e.lmp AS e_lmp, e.edd AS e_edd, e.operator AS e_operator, e.referring AS e_referring, e.notes AS e_notes,
    e.status AS e_status, p.id AS p_id, p.patient_id AS p_patient_id, p.name AS p_name, p.dob AS p_dob,
    p.sex AS p_sex"""
_EXAM_FROM = "exams e JOIN patients p ON p.id = e.patient_ref"


def _patient(row: sqlite3.Row, prefix: str = "") -> Patient:
    return Patient(id=row[f"{prefix}id"], patient_id=row[f"{prefix}patient_id"], name=row[f"{prefix}name"],
                   dob=_parse_date(row[f"{prefix}dob"]), sex=row[f"{prefix}sex"])


def _exam(row: sqlite3.Row) -> Exam:
    return Exam(id=row["e_id"], uid=row["e_uid"], patient=_patient(row, "p_"),
                created_at=_parse_ts(row["e_created_at"]),  # type: ignore[arg-type]
                exam_date=_parse_date(row["e_exam_date"]),  # type: ignore[arg-type]
                lmp=_parse_date(row["e_lmp"]), edd=_parse_date(row["e_edd"]), operator=row["e_operator"],
                referring=row["e_referring"], notes=row["e_notes"], status=row["e_status"])


def _calibration(text: str | None) -> Calibration | None:
    return Calibration.from_dict(json.loads(text)) if text else None


def _item(row: sqlite3.Row) -> CapturedItem:
    return CapturedItem(
        id=row["id"], exam_id=row["exam_id"], kind=row["kind"],
        created_at=_parse_ts(row["created_at"]),  # type: ignore[arg-type]
        width=row["width"], height=row["height"], channels=row["channels"], n_frames=row["n_frames"],
        sha256=row["sha256"], media_path=row["media_path"], size_bytes=row["size_bytes"],
        source_uri=row["source_uri"], frame_index=row["frame_index"], timestamp=row["timestamp"],
        fps=row["fps"],
        calibration=_calibration(row["calibration"]), calibration_version=row["calibration_version"],
        meta=json.loads(row["meta"]), deleted_at=_parse_ts(row["deleted_at"]),
    )


# ----------------------------------------------------------------------------- the store

class ExamStore:
    """Patients, exams and captured items. Create with :meth:`open`; close when done.

    Every method raises :class:`StorageError` (one-line message) for bad input,
    missing records, damaged files, a full disk or a locked database.
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
        self._verified: dict[str, tuple[int, int]] = {}  # media_path -> (size, mtime_ns) whose sha matched
        self.quarantined: tuple[Path, ...] = ()  # leftovers moved aside by this open (shown to the user)

    # ------------------------------------------------------------------ open / close
    @classmethod
    def open(cls, path: Path | str | None = None) -> ExamStore:
        """Open (creating or upgrading) the store; default ``user_data_dir()/exams.sqlite3``.

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
                media.fsync_dir(db_path.parent)
        except OSError as exc:
            raise StorageError(_describe(exc, f"create the exam store folder {db_path.parent}")) from exc

        wconn: sqlite3.Connection | None = None
        owner: OwnerLock | None = None
        try:
            wconn = cls._connect(db_path, readonly=False)
            mode = wconn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":  # e.g. a network share without shared memory
                log.warning("exam store %s: WAL unavailable (journal_mode=%s); concurrent reads will wait",
                            db_path, mode)
            version = schema_version(wconn)
            if 0 < version < LATEST_VERSION:
                cls._backup_before_upgrade(wconn, db_path, version)
            migrate(wconn)
            owner = OwnerLock(media_root / LOCKS_DIR)
            store = cls(db_path, media_root, wconn, owner)
            store.quarantined = tuple(store._sweep())
        except StorageError:
            cls._abort_open(wconn, owner)
            raise
        except (sqlite3.Error, OSError) as exc:
            cls._abort_open(wconn, owner)
            raise StorageError(_describe(exc, f"open the exam store {db_path}")) from exc
        return store

    @staticmethod
    def _abort_open(wconn: sqlite3.Connection | None, owner: OwnerLock | None) -> None:
        if wconn is not None:
            wconn.close()
        if owner is not None:
            owner.release()

    @staticmethod
    def _connect(db_path: Path, readonly: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=FULL")
            conn.create_function("fold", 1, _fold, deterministic=True)
            if readonly:
                conn.execute("PRAGMA query_only=ON")
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _backup_before_upgrade(conn: sqlite3.Connection, db_path: Path, version: int) -> None:
        """Copy the database aside before changing its schema (migrations are forward-only)."""
        stamp = _utcnow().strftime("%Y%m%dT%H%M%SZ")
        dest_path = db_path.with_name(f"{db_path.name}.schema{version}-{stamp}.bak")
        dest = sqlite3.connect(dest_path)
        try:
            conn.backup(dest)
        finally:
            dest.close()
        log.info("exam store: backed up schema %d database to %s before upgrading", version, dest_path)

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

    def __enter__(self) -> ExamStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise StorageError("The exam store is closed.")

    # ------------------------------------------------------------------ connections
    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._wlock:
            self._check_open()
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
    def _read(self) -> Iterator[sqlite3.Connection]:
        self._check_open()
        with self._pool_lock:
            conn = self._free.pop() if self._free else None
        if conn is None:
            conn = self._connect(self.path, readonly=True)
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

    # ------------------------------------------------------------------ patients
    @_guard("save the patient")
    def upsert_patient(self, patient_id: str, name: str = "", dob: dt.date | str | None = None,
                       sex: str = "") -> Patient:
        """Create the patient or update it. Empty values never erase what is stored."""
        pid = self._clean_patient_id(patient_id)
        name = _clean_text(name, "Patient name", 256)
        dob_d = _as_date(dob, "Date of birth")
        if dob_d is not None and not EARLIEST_DATE <= dob_d <= dt.date.today():
            raise StorageError(f"Date of birth {dob_d.isoformat()} is not plausible.")
        sex = _clean_sex(sex)
        now = _ts(_utcnow())
        with self._write() as conn:
            row = conn.execute("SELECT * FROM patients WHERE patient_id = ?", (pid,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO patients (patient_id, name, dob, sex, created_at, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (pid, name, dob_d.isoformat() if dob_d else None, sex, now, now))
            else:
                conn.execute(
                    "UPDATE patients SET name = ?, dob = ?, sex = ?, updated_at = ? WHERE id = ?",
                    (name or row["name"], dob_d.isoformat() if dob_d else row["dob"], sex or row["sex"], now,
                     row["id"]))
            return _patient(conn.execute("SELECT * FROM patients WHERE patient_id = ?", (pid,)).fetchone())

    @staticmethod
    def _clean_patient_id(patient_id: object) -> str:
        if isinstance(patient_id, Patient):
            patient_id = patient_id.patient_id
        pid = _clean_text(patient_id, "Patient ID", 64)
        if not pid:
            raise StorageError("Patient ID is empty: enter the patient's hospital ID (MRN).")
        if "\\" in pid:
            raise StorageError("Patient ID must not contain a backslash.")
        return pid

    @_guard("read the patient")
    def get_patient(self, key: str | int) -> Patient:
        """By MRN (``str``) or internal id (``int``)."""
        with self._read() as conn:
            if isinstance(key, int) and not isinstance(key, bool):
                row = conn.execute("SELECT * FROM patients WHERE id = ?", (key,)).fetchone()
            else:
                row = conn.execute("SELECT * FROM patients WHERE patient_id = ?",
                                   (self._clean_patient_id(key),)).fetchone()
        if row is None:
            raise StorageError(f"No patient with ID {key!r} in the exam store.")
        return _patient(row)

    @_guard("search patients")
    def list_patients(self, search: str = "", limit: int = 200) -> list[Patient]:
        """Patients whose ID or name contains every word of ``search``; newest changes first."""
        where, params = self._search_clause(search, ["p.patient_id", "replace(p.name, '^', ' ')"])
        with self._read() as conn:
            rows = conn.execute(f"SELECT p.* FROM patients p {where} ORDER BY p.updated_at DESC, p.id DESC "
                                f"LIMIT ?", (*params, self._limit(limit))).fetchall()
        return [_patient(r) for r in rows]

    # ------------------------------------------------------------------ exams
    @_guard("create the exam")
    def create_exam(self, patient_id: str | Patient, *, lmp: dt.date | str | None = None,
                    edd: dt.date | str | None = None, operator: str = "", referring: str = "",
                    notes: str = "", exam_date: dt.date | str | None = None) -> Exam:
        """New open exam for an existing patient (add the patient first with :meth:`upsert_patient`).

        ``exam_date`` defaults to today (local); LMP/EDD are stored as given.
        """
        pid = self._clean_patient_id(patient_id)
        on = _as_date(exam_date, "Exam date") or dt.date.today()
        if not EARLIEST_DATE <= on <= dt.date.today():
            raise StorageError(f"Exam date {on.isoformat()} is in the future or not plausible.")
        lmp_d, edd_d = _as_date(lmp, "LMP"), _as_date(edd, "EDD")
        validate_dating(lmp_d, edd_d, on)
        operator = _clean_text(operator, "Operator", 128)
        referring = _clean_text(referring, "Referring physician", 128)
        notes = _clean_text(notes, "Notes", 20000, multiline=True)
        uid = f"2.25.{uuid.uuid4().int}"
        now = _ts(_utcnow())
        with self._write() as conn:
            prow = conn.execute("SELECT id FROM patients WHERE patient_id = ?", (pid,)).fetchone()
            if prow is None:
                raise StorageError(f"No patient with ID {pid!r}: save the patient before creating the exam.")
            cur = conn.execute(
                "INSERT INTO exams (uid, patient_ref, created_at, exam_date, lmp, edd, operator, referring, "
                "notes, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                (uid, prow["id"], now, on.isoformat(), lmp_d.isoformat() if lmp_d else None,
                 edd_d.isoformat() if edd_d else None, operator, referring, notes, now))
            return self._exam_in(conn, int(cur.lastrowid))  # type: ignore[arg-type]

    @_guard("update the exam")
    def update_exam(self, exam_id: int, *, lmp: Any = UNSET, edd: Any = UNSET, operator: Any = UNSET,
                    referring: Any = UNSET, notes: Any = UNSET, status: Any = UNSET) -> Exam:
        """Change the given fields (others keep their value; ``lmp=None`` clears the LMP)."""
        with self._write() as conn:
            exam = self._exam_in(conn, exam_id)
            new_lmp = exam.lmp if lmp is UNSET else _as_date(lmp, "LMP")
            new_edd = exam.edd if edd is UNSET else _as_date(edd, "EDD")
            validate_dating(new_lmp, new_edd, exam.exam_date)
            values = {
                "lmp": new_lmp.isoformat() if new_lmp else None,
                "edd": new_edd.isoformat() if new_edd else None,
                "operator": exam.operator if operator is UNSET else _clean_text(operator, "Operator", 128),
                "referring": (exam.referring if referring is UNSET
                              else _clean_text(referring, "Referring physician", 128)),
                "notes": exam.notes if notes is UNSET else _clean_text(notes, "Notes", 20000, multiline=True),
                "status": exam.status if status is UNSET else str(status),
            }
            if values["status"] not in EXAM_STATUSES:
                raise StorageError(f"Exam status must be one of {', '.join(EXAM_STATUSES)}, got {status!r}.")
            conn.execute("UPDATE exams SET lmp = :lmp, edd = :edd, operator = :operator, "
                         "referring = :referring, notes = :notes, status = :status, updated_at = :now "
                         "WHERE id = :id",
                         {**values, "now": _ts(_utcnow()), "id": exam_id})
            return self._exam_in(conn, exam_id)

    @_guard("read the exam")
    def get_exam(self, exam_id: int) -> Exam:
        with self._read() as conn:
            return self._exam_in(conn, exam_id)

    @_guard("read the exam")
    def get_exam_by_uid(self, uid: str) -> Exam:
        with self._read() as conn:
            row = conn.execute(f"SELECT {_EXAM_COLS} FROM {_EXAM_FROM} WHERE e.uid = ?", (uid,)).fetchone()
        if row is None:
            raise StorageError(f"No exam with UID {uid} in the exam store.")
        return _exam(row)

    @staticmethod
    def _exam_in(conn: sqlite3.Connection, exam_id: int) -> Exam:
        row = conn.execute(f"SELECT {_EXAM_COLS} FROM {_EXAM_FROM} WHERE e.id = ?", (exam_id,)).fetchone()
        if row is None:
            raise StorageError(f"No exam #{exam_id} in the exam store.")
        return _exam(row)

    @_guard("search exams")
    def list_exams(self, search: str = "", limit: int = 200) -> list[ExamSummary]:
        """Exams newest first (by exam date, then creation); ``n_items`` counts items not deleted.

        Every word of ``search`` must be found in the patient ID, patient name,
        operator or referring physician, or start the exam date (``2024``,
        ``2024-05``, ``2024-05-31``), or equal the exam UID. (Dates and UIDs are
        not substring-matched: "123" would hit half of all timestamps.)"""
        where, params = self._search_clause(
            search, ["p.patient_id", "replace(p.name, '^', ' ')", "e.operator", "e.referring"],
            prefix=["e.exam_date"], exact=["e.uid"])
        sql = (f"SELECT {_EXAM_COLS}, (SELECT count(*) FROM items i WHERE i.exam_id = e.id "
               f"AND i.deleted_at IS NULL) AS n_items FROM {_EXAM_FROM} {where} "
               f"ORDER BY e.exam_date DESC, e.created_at DESC, e.id DESC LIMIT ?")
        with self._read() as conn:
            rows = conn.execute(sql, (*params, self._limit(limit))).fetchall()
        return [ExamSummary(_exam(r), r["n_items"]) for r in rows]

    @staticmethod
    def _search_clause(search: str, columns: list[str], prefix: Sequence[str] = (),
                       exact: Sequence[str] = ()) -> tuple[str, list[str]]:
        """WHERE clause: each word must occur in some ``columns`` (case-folded), start some
        ``prefix`` column or equal some ``exact`` column."""
        if not isinstance(search, str):
            raise StorageError("Search text must be text.")
        terms = search.split()
        if not terms:
            return "", []
        tests = ([f"fold({c}) LIKE ? ESCAPE '\\'" for c in columns]
                 + [f"{c} LIKE ? ESCAPE '\\'" for c in prefix] + [f"{c} = ?" for c in exact])
        any_col = "(" + " OR ".join(tests) + ")"
        params: list[str] = []
        for t in terms:
            params += [_like(t)] * len(columns) + [_like(t)[1:]] * len(prefix) + [t] * len(exact)
        return "WHERE " + " AND ".join([any_col] * len(terms)), params

    @staticmethod
    def _limit(limit: int) -> int:
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
            raise StorageError(f"List limit must be between 1 and 100000, got {limit!r}.")
        return limit

    # ------------------------------------------------------------------ adding items
    def _new_media_path(self, exam_uid: str, kind: str, ext: str) -> tuple[str, Path]:
        stamp = _utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        name = media.media_name(kind, stamp, self._owner.token, secrets.token_hex(4), ext)
        rel = f"{exam_uid}/{name}"
        final = self.media_root / exam_uid / name
        media.make_dirs_durable(final.parent, self.media_root)
        return rel, final

    @staticmethod
    def _check_frame(frame: object, what: str) -> Frame:
        if not isinstance(frame, Frame):
            raise StorageError(f"{what} is not a Frame (got {type(frame).__name__}).")
        return frame

    @_guard("save the image")
    def add_image(self, exam_id: int, frame: Frame, source_uri: str = "",
                  meta: dict[str, Any] | None = None) -> CapturedItem:
        """Save one frame losslessly (PNG). When this returns, the image is on disk for good."""
        frame = self._check_frame(frame, "The image")
        source_uri = _clean_text(source_uri, "Source", 4096)
        meta_text = _meta_json(frame.meta, meta)
        exam = self.get_exam(exam_id)
        rel, final = self._new_media_path(exam.uid, "IMG", ".png")
        sha, size = media.write_atomic(final, lambda f: media.encode_png(frame.pixels, f))
        return self._insert_item(
            exam_id=exam.id, kind="image", source_uri=source_uri, frame_index=frame.index,
            timestamp=frame.timestamp, width=frame.width, height=frame.height,
            channels=3 if frame.is_color else 1, n_frames=1, fps=None, calibration=frame.calibration,
            sha256=sha, media_path=rel, size_bytes=size, meta=meta_text)

    def add_clip(self, exam_id: int, frames: Sequence[Frame], fps: float | None, source_uri: str = "",
                 meta: dict[str, Any] | None = None) -> CapturedItem:
        """Save frames as one lossless clip; blocking version of :meth:`add_clip_job`."""
        job = self.add_clip_job(exam_id, frames, fps, source_uri, meta)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                return stop.value  # type: ignore[no-any-return]

    def add_clip_job(self, exam_id: int, frames: Sequence[Frame], fps: float | None, source_uri: str = "",
                     meta: dict[str, Any] | None = None, token: CancelToken | None = None,
                     ) -> Generator[Progress, None, CapturedItem]:
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
            self._check_frame(fr, f"Clip frame {i}")
        first = frames[0]
        for i, fr in enumerate(frames):
            if fr.pixels.shape != first.pixels.shape:
                def desc(f: Frame) -> str:
                    return f"{f.width}x{f.height} {'RGB' if f.is_color else 'grey'}"

                raise StorageError(f"Clip frame {i} is {desc(fr)}, frame 0 is {desc(first)}: "
                                   f"all frames must match.")
        timestamps = np.array([fr.timestamp for fr in frames], dtype=np.float64)
        derived = False
        if fps is not None:
            if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not (0 < fps <= MAX_FPS):
                raise StorageError(f"Clip frame rate must be a number between 0 and {MAX_FPS:g}, "
                                   f"got {fps!r}.")
            fps = float(fps)
        elif len(frames) > 1 and np.all(np.isfinite(timestamps)) and np.all(np.diff(timestamps) > 0):
            fps = (len(frames) - 1) / float(timestamps[-1] - timestamps[0])
            derived = fps <= MAX_FPS
            fps = fps if derived else None
        source_uri = _clean_text(source_uri, "Source", 4096)
        meta_text = _meta_json(first.meta, meta, {"fps_derived": True} if derived else None)
        source_index = np.array([-1 if fr.index is None else fr.index for fr in frames], dtype=np.int64)
        calibration = next((fr.calibration for fr in frames if fr.calibration is not None), None)
        get_exam = _guard("save the clip")(self.get_exam)
        exam = get_exam(exam_id)
        return self._clip_job(exam, frames, fps, timestamps, source_index, calibration, source_uri, meta_text,
                              token)

    def _clip_job(self, exam: Exam, frames: list[Frame], fps: float | None, timestamps: np.ndarray,
                  source_index: np.ndarray, calibration: Calibration | None, source_uri: str, meta_text: str,
                  token: CancelToken | None) -> Generator[Progress, None, CapturedItem]:
        first, n = frames[0], len(frames)
        try:
            rel, final = self._new_media_path(exam.uid, "CLIP", ".npz")
            with media.AtomicWriter(final) as aw:
                with media.ClipWriter(aw.file, timestamps, source_index, first.pixels.shape, fps) as cw:
                    for i, fr in enumerate(frames):
                        if token is not None:
                            token.check()
                        cw.add(fr.pixels)
                        yield Progress(f"Saving clip: frame {i + 1}/{n}", (i + 1) / (n + 1))
                if token is not None:
                    token.check()
                sha, size = aw.commit()
            item = self._insert_item(
                exam_id=exam.id, kind="clip", source_uri=source_uri, frame_index=first.index,
                timestamp=first.timestamp, width=first.width, height=first.height,
                channels=3 if first.is_color else 1, n_frames=n, fps=fps, calibration=calibration,
                sha256=sha, media_path=rel, size_bytes=size, meta=meta_text)
        except (sqlite3.Error, OSError) as exc:
            raise StorageError(_describe(exc, "save the clip")) from exc
        yield Progress(f"Clip saved ({n} frames)", 1.0, payload=item)
        return item

    def _insert_item(self, *, exam_id: int, kind: str, source_uri: str, frame_index: int | None,
                     timestamp: float | None, width: int, height: int, channels: int, n_frames: int,
                     fps: float | None, calibration: Calibration | None, sha256: str, media_path: str,
                     size_bytes: int, meta: str) -> CapturedItem:
        """Commit the row for a media file that is already complete and durable.

        If this fails the file stays unreferenced; the next open quarantines it
        (never deleted here: the commit may have failed *after* reaching disk).
        """
        now = _ts(_utcnow())
        cal_text = json.dumps(calibration.to_dict()) if calibration is not None else None
        if timestamp is not None and not math.isfinite(timestamp):
            timestamp = None
        with self._write() as conn:
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
            return self._item_in(conn, item_id)

    # ------------------------------------------------------------------ reading items
    @staticmethod
    def _item_in(conn: sqlite3.Connection, item_id: int) -> CapturedItem:
        row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
        if row is None:
            raise StorageError(f"No captured item #{item_id} in the exam store.")
        return _item(row)

    @_guard("read the item")
    def get_item(self, item_id: int) -> CapturedItem:
        with self._read() as conn:
            return self._item_in(conn, item_id)

    @_guard("list the exam's items")
    def list_items(self, exam_id: int, include_deleted: bool = False) -> list[CapturedItem]:
        """Items of an exam in capture order (deleted ones only when asked)."""
        with self._read() as conn:
            self._exam_in(conn, exam_id)
            rows = conn.execute(
                "SELECT * FROM items WHERE exam_id = ? "
                + ("" if include_deleted else "AND deleted_at IS NULL ") + "ORDER BY created_at, id",
                (exam_id,)).fetchall()
        return [_item(r) for r in rows]

    def media_file(self, item: CapturedItem | int) -> Path:
        """Absolute path of an item's pixel file (read-only use: export, DICOM)."""
        if not isinstance(item, CapturedItem):
            item = self.get_item(item)
        return self.media_root.joinpath(*item.media_path.split("/"))

    def _verified_bytes(self, item: CapturedItem) -> bytes:
        path = self.media_file(item)
        what = f"The media file of item #{item.id} ({item.media_path})"
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise StorageError(f"{what} is missing from {self.media_root}.") from exc
        self._check_sha(item, media.sha256_bytes(data), what)
        return data

    def _verify_file(self, item: CapturedItem) -> Path:
        """sha256-check a (large) media file once per store and file version."""
        path = self.media_file(item)
        what = f"The media file of item #{item.id} ({item.media_path})"
        try:
            st = path.stat()
        except FileNotFoundError as exc:
            raise StorageError(f"{what} is missing from {self.media_root}.") from exc
        key = (st.st_size, st.st_mtime_ns)
        if self._verified.get(item.media_path) != key:
            sha, _ = media.sha256_file(path)
            self._check_sha(item, sha, what)
            self._verified[item.media_path] = key
        return path

    @staticmethod
    def _check_sha(item: CapturedItem, sha: str, what: str) -> None:
        if sha != item.sha256:
            raise StorageError(f"{what} is damaged: its checksum does not match what was saved.")

    def _frame(self, item: CapturedItem, pixels: np.ndarray, index: int, timestamp: float | None,
               source_index: int | None) -> Frame:
        expect = (item.height, item.width) if item.channels == 1 else (item.height, item.width, 3)
        if pixels.shape != expect:
            raise StorageError(f"Item #{item.id} media has pixels {pixels.shape}, expected {expect}.")
        meta = {**item.meta, "store_item_id": item.id, "source_index": source_index}
        return Frame(pixels, index=index, timestamp=timestamp or 0.0, calibration=item.calibration, meta=meta)

    @_guard("load the frame")
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
        what = f"The media file of item #{item.id} ({item.media_path})"
        if item.kind == "image":
            pixels = media.decode_png(self._verified_bytes(item), what)
            return self._frame(item, pixels, 0, item.timestamp, item.frame_index)
        path = self._verify_file(item)
        with media.ClipReader(path, what) as reader:
            self._check_clip(item, reader)
            return self._frame(item, reader.frame(index), index, float(reader.timestamps[index]),
                               self._src(reader, index))

    @staticmethod
    def _src(reader: media.ClipReader, i: int) -> int | None:
        v = int(reader.source_index[i])
        return None if v < 0 else v

    @staticmethod
    def _check_clip(item: CapturedItem, reader: media.ClipReader) -> None:
        if reader.n_frames != item.n_frames or len(reader.timestamps) != item.n_frames:
            raise StorageError(f"Item #{item.id} clip has {reader.n_frames} frames, "
                               f"the store says {item.n_frames}.")

    @_guard("read the clip")
    def iter_clip(self, item_id: int) -> Iterator[Frame]:
        """All frames of an item in order (a still yields its one frame).

        The file is verified before this returns, so a damaged clip fails here,
        not halfway through playback.
        """
        item = self.get_item(item_id)
        if item.kind == "image":
            return iter([self.load_frame(item_id)])
        what = f"The media file of item #{item.id} ({item.media_path})"
        reader = media.ClipReader(self._verify_file(item), what)
        try:
            self._check_clip(item, reader)
        except BaseException:
            reader.close()
            raise
        return self._iter_reader(item, reader)

    def _iter_reader(self, item: CapturedItem, reader: media.ClipReader) -> Iterator[Frame]:
        with reader:
            for i in range(reader.n_frames):
                try:
                    pixels = reader.frame(i)
                except OSError as exc:
                    raise StorageError(_describe(exc, "read the clip")) from exc
                yield self._frame(item, pixels, i, float(reader.timestamps[i]), self._src(reader, i))

    # ------------------------------------------------------------------ changing items
    @_guard("save the calibration")
    def set_calibration(self, item_id: int, calibration: Calibration | None) -> CapturedItem:
        """Make ``calibration`` current for the item (None removes it); the old one stays in the history."""
        if calibration is not None and not isinstance(calibration, Calibration):
            raise StorageError(f"Not a calibration: {type(calibration).__name__}.")
        cal_text = json.dumps(calibration.to_dict()) if calibration is not None else None
        now = _ts(_utcnow())
        with self._write() as conn:
            item = self._item_in(conn, item_id)
            version = item.calibration_version + 1
            conn.execute("INSERT INTO item_calibrations (item_id, version, calibration, source, created_at) "
                         "VALUES (?, ?, ?, ?, ?)",
                         (item_id, version, cal_text, calibration.source if calibration else "", now))
            conn.execute("UPDATE items SET calibration = ?, calibration_version = ? WHERE id = ?",
                         (cal_text, version, item_id))
            return self._item_in(conn, item_id)

    @_guard("read the calibration history")
    def calibration_history(self, item_id: int) -> list[CalibrationRecord]:
        """Every calibration the item has had, oldest first."""
        with self._read() as conn:
            self._item_in(conn, item_id)
            rows = conn.execute("SELECT * FROM item_calibrations WHERE item_id = ? ORDER BY version",
                                (item_id,)).fetchall()
        return [CalibrationRecord(r["item_id"], r["version"], _calibration(r["calibration"]), r["source"],
                                  _parse_ts(r["created_at"])) for r in rows]  # type: ignore[arg-type]

    @_guard("delete the item")
    def delete_item(self, item_id: int) -> CapturedItem:
        """Hide the item (soft delete). Its file and row are kept; :meth:`restore_item` undoes it."""
        with self._write() as conn:
            item = self._item_in(conn, item_id)
            if item.deleted_at is None:
                conn.execute("UPDATE items SET deleted_at = ? WHERE id = ?", (_ts(_utcnow()), item_id))
            return self._item_in(conn, item_id)

    @_guard("restore the item")
    def restore_item(self, item_id: int) -> CapturedItem:
        with self._write() as conn:
            self._item_in(conn, item_id)
            conn.execute("UPDATE items SET deleted_at = NULL WHERE id = ?", (item_id,))
            return self._item_in(conn, item_id)

    # ------------------------------------------------------------------ maintenance
    @_guard("check the exam store")
    def check(self, verify_media: bool = True) -> list[str]:
        """Problems found (empty = healthy): SQLite integrity, foreign keys, missing/damaged media."""
        problems: list[str] = []
        with self._read() as conn:
            problems += [f"database: {r[0]}" for r in conn.execute("PRAGMA integrity_check") if r[0] != "ok"]
            problems += [f"foreign key: {tuple(r)}" for r in conn.execute("PRAGMA foreign_key_check")]
            rows = conn.execute("SELECT * FROM items ORDER BY id").fetchall()
        if verify_media:
            for row in rows:
                item = _item(row)
                path = self.media_file(item)
                if not path.is_file():
                    problems.append(f"item #{item.id}: media file {item.media_path} is missing")
                elif media.sha256_file(path)[0] != item.sha256:
                    problems.append(f"item #{item.id}: media file {item.media_path} is damaged (checksum)")
        return problems

    def _sweep(self) -> list[Path]:
        """Quarantine files left by writers that died: temp files, and complete files
        whose row was never committed. Live writers' files (other processes or stores
        on the same data dir) are recognised by their owner token and left alone."""
        lock_dir = self.media_root / LOCKS_DIR
        candidates: list[tuple[Path, str]] = []
        alive: dict[str, bool] = {self._owner.token: True}
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
        with self._read() as conn:
            referenced = {r[0] for r in conn.execute("SELECT media_path FROM items")}
        stamp = _utcnow().strftime("%Y%m%dT%H%M%S%fZ")
        moved: list[Path] = []
        for path, rel in candidates:
            if rel in referenced:
                continue
            dest = self.media_root / QUARANTINE_DIR / stamp / path.parent.name / path.name
            media.make_dirs_durable(dest.parent, self.media_root)
            os.replace(path, dest)
            media.fsync_dir(path.parent)
            media.fsync_dir(dest.parent)
            moved.append(dest)
            log.warning("exam store: moved unfinished media %s to %s", rel, dest)
        return moved
