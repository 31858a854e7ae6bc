"""SQLite rows -> store records, and the query pieces every part of the store shares.

The functions taking a connection run inside the caller's transaction
(:meth:`~fada_desk.storage.database.StoreBase.read_tx` or ``write_tx``) and
raise :class:`StorageError` for a record that does not exist.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence

from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import StorageError
from fada_desk.storage.models import CapturedItem, Exam, ExamStatus, ItemKind, Patient
from fada_desk.storage.values import like_pattern, parse_date, parse_ts

EXAM_COLS = """e.id AS e_id, e.uid AS e_uid, e.created_at AS e_created_at, e.exam_date AS e_exam_date,
    e.lmp AS e_lmp, e.edd AS e_edd, e.operator AS e_operator, e.referring AS e_referring, e.notes AS e_notes,
    e.status AS e_status, p.id AS p_id, p.patient_id AS p_patient_id, p.name AS p_name, p.dob AS p_dob,
    p.sex AS p_sex"""
EXAM_FROM = "exams e JOIN patients p ON p.id = e.patient_ref"
MAX_LIST_LIMIT = 100_000


def patient_from(row: sqlite3.Row, prefix: str = "") -> Patient:
    return Patient(id=row[f"{prefix}id"], patient_id=row[f"{prefix}patient_id"], name=row[f"{prefix}name"],
                   dob=parse_date(row[f"{prefix}dob"]), sex=row[f"{prefix}sex"])


def exam_from(row: sqlite3.Row) -> Exam:
    """An :class:`Exam` from a row selected with :data:`EXAM_COLS` from :data:`EXAM_FROM`."""
    return Exam(id=row["e_id"], uid=row["e_uid"], patient=patient_from(row, "p_"),
                created_at=parse_ts(row["e_created_at"]),  # type: ignore[arg-type]
                exam_date=parse_date(row["e_exam_date"]),  # type: ignore[arg-type]
                lmp=parse_date(row["e_lmp"]), edd=parse_date(row["e_edd"]), operator=row["e_operator"],
                referring=row["e_referring"], notes=row["e_notes"], status=ExamStatus(row["e_status"]))


def calibration_from(text: str | None) -> Calibration | None:
    return Calibration.from_dict(json.loads(text)) if text else None


def calibration_text(calibration: Calibration | None) -> str | None:
    """The ``calibration`` column for a calibration (None stays NULL)."""
    return json.dumps(calibration.to_dict()) if calibration is not None else None


def item_from(row: sqlite3.Row) -> CapturedItem:
    return CapturedItem(
        id=row["id"], exam_id=row["exam_id"], kind=ItemKind(row["kind"]),
        created_at=parse_ts(row["created_at"]),  # type: ignore[arg-type]
        width=row["width"], height=row["height"], channels=row["channels"], n_frames=row["n_frames"],
        sha256=row["sha256"], media_path=row["media_path"], size_bytes=row["size_bytes"],
        source_uri=row["source_uri"], frame_index=row["frame_index"], timestamp=row["timestamp"],
        fps=row["fps"],
        calibration=calibration_from(row["calibration"]), calibration_version=row["calibration_version"],
        meta=json.loads(row["meta"]), deleted_at=parse_ts(row["deleted_at"]),
    )


def exam_in(conn: sqlite3.Connection, exam_id: int) -> Exam:
    row = conn.execute(f"SELECT {EXAM_COLS} FROM {EXAM_FROM} WHERE e.id = ?", (exam_id,)).fetchone()
    if row is None:
        raise StorageError(f"No exam #{exam_id} in the exam store.")
    return exam_from(row)


def item_in(conn: sqlite3.Connection, item_id: int) -> CapturedItem:
    row = conn.execute("SELECT * FROM items WHERE id = ?", (item_id,)).fetchone()
    if row is None:
        raise StorageError(f"No captured item #{item_id} in the exam store.")
    return item_from(row)


def search_clause(search: str, columns: list[str], prefix: Sequence[str] = (),
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
        params += [like_pattern(t)] * len(columns) + [like_pattern(t)[1:]] * len(prefix) + [t] * len(exact)
    return "WHERE " + " AND ".join([any_col] * len(terms)), params


def check_limit(limit: int) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_LIST_LIMIT:
        raise StorageError(f"List limit must be between 1 and 100000, got {limit!r}.")
    return limit
