"""SQLite rows -> store records, and the query pieces every part of the store shares.

The functions taking a connection run inside the caller's transaction
(:meth:`~fada_desk.storage.database.StoreBase.read_tx` or ``write_tx``) and
raise :class:`StorageError` for a record that does not exist.

Every value is checked as it is read (:mod:`.checks`): a damaged patient or
exam row still gives a record, with placeholders for the bad values and the
reasons in its ``damage``; a damaged item row raises
:class:`~fada_desk.storage.checks.DamagedRecord` and is left out of lists, its
reason added to the exam's ``damage``.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Sequence

from fada_desk.core.calibration import Calibration
from fada_desk.core.dating import validate_dating
from fada_desk.core.errors import StorageError
from fada_desk.storage.checks import BadValue, DamagedRecord, RowCheck, calibration_json, checked_uid
from fada_desk.storage.models import SEXES, CapturedItem, Exam, ExamStatus, ItemKind, Patient
from fada_desk.storage.values import like_pattern

EXAM_COLS = """e.id AS e_id, e.uid AS e_uid, e.created_at AS e_created_at, e.exam_date AS e_exam_date,
    e.lmp AS e_lmp, e.edd AS e_edd, e.operator AS e_operator, e.referring AS e_referring, e.notes AS e_notes,
    e.status AS e_status, p.id AS p_id, p.patient_id AS p_patient_id, p.name AS p_name, p.dob AS p_dob,
    p.sex AS p_sex"""
EXAM_FROM = "exams e JOIN patients p ON p.id = e.patient_ref"
MAX_LIST_LIMIT = 100_000
_MAX_PIXELS_SIDE = 1 << 16
_MAX_FRAMES = 1 << 24


def patient_from(row: sqlite3.Row, prefix: str = "") -> Patient:
    """A :class:`Patient`; bad values are placeholders and listed in ``damage``."""
    c = RowCheck(row, "patient", prefix)
    pid = c.text("patient_id")
    if not pid:
        c.bad("patient_id", "empty")
    sex = c.text("sex")
    if sex not in SEXES:
        c.bad("sex", f"{sex!r} is not one of F, M, O or empty")
        sex = ""
    return Patient(id=row[f"{prefix}id"], patient_id=pid, name=c.text("name"), dob=c.date("dob"), sex=sex,
                   damage=tuple(c.problems))


def exam_from(row: sqlite3.Row) -> Exam:
    """An :class:`Exam` from a row selected with :data:`EXAM_COLS` from :data:`EXAM_FROM`.

    ``damage`` lists bad values of the exam row and its patient row (item rows
    are :func:`exam_in`'s). A GA is only derived from dates that are all
    readable and consistent.
    """
    patient = patient_from(row, "p_")
    c = RowCheck(row, "exam", "e_")
    uid = c.text("uid")
    if not checked_uid(uid):
        c.bad("uid", "not a DICOM UID")
    created = c.timestamp("created_at")
    n_bad = len(c.problems)
    exam_date = c.date("exam_date", nullable=False)
    lmp, edd = c.date("lmp"), c.date("edd")
    if exam_date is None:
        exam_date = created.date()  # type: ignore[union-attr]
        lmp = edd = None
    elif len(c.problems) == n_bad:
        try:
            validate_dating(lmp, edd, exam_date)
        except StorageError as exc:
            c.bad("dating", f"{exc} (GA not shown)")
            lmp = edd = None
    else:
        lmp = edd = None  # a GA from half the dates would be a wrong GA
    exam = Exam(id=row["e_id"], uid=uid, patient=patient, created_at=created,  # type: ignore[arg-type]
                exam_date=exam_date, lmp=lmp, edd=edd, operator=c.text("operator"),
                referring=c.text("referring"), notes=c.text("notes"),
                status=c.choice("status", ExamStatus, ExamStatus.OPEN))
    damage = tuple(c.problems) + patient.damage
    return dataclasses.replace(exam, damage=damage) if damage else exam


def calibration_from(text: str | None) -> Calibration | None:
    """A stored ``calibration`` column; :class:`DamagedRecord` when it is not a valid calibration."""
    try:
        return calibration_json(text)
    except BadValue as exc:
        raise DamagedRecord(f"Stored calibration is damaged: {exc}.") from None


def calibration_text(calibration: Calibration | None) -> str | None:
    """The ``calibration`` column for a calibration (None stays NULL)."""
    return json.dumps(calibration.to_dict()) if calibration is not None else None


def item_from(row: sqlite3.Row) -> CapturedItem:
    """A :class:`CapturedItem`; :class:`DamagedRecord` (naming every bad value) when any value is bad."""
    c = RowCheck(row, "item", "")
    side = (1, _MAX_PIXELS_SIDE)
    item = CapturedItem(
        id=row["id"], exam_id=c.integer("exam_id", 1, 2**63 - 1),
        kind=c.choice("kind", ItemKind, ItemKind.IMAGE),
        created_at=c.timestamp("created_at"),  # type: ignore[arg-type]
        width=c.integer("width", *side), height=c.integer("height", *side),
        channels=c.integer("channels", 1, 3), n_frames=c.integer("n_frames", 1, _MAX_FRAMES),
        sha256=c.sha256("sha256"), media_path=c.media_path("media_path"),
        size_bytes=c.integer("size_bytes", 0, 2**63 - 1),
        source_uri=c.text("source_uri"), frame_index=c.integer("frame_index", 0, 2**63 - 1, nullable=True),
        timestamp=c.real("timestamp", -1e15, 1e15), fps=c.real("fps", 1e-9, 1e6),
        calibration=c.calibration("calibration"),
        calibration_version=c.integer("calibration_version", 0, 2**31 - 1),
        meta=c.json_object("meta"), deleted_at=c.timestamp("deleted_at", nullable=True),
    )
    if item.channels == 2:
        c.bad("channels", "2 is not 1 (grey) or 3 (RGB)")
    if c.problems:
        raise DamagedRecord(f"Item #{row['id']} is damaged ({'; '.join(c.problems)}).")
    return item


MAX_CHECKED_ROWS = 500_000


def items_of(conn: sqlite3.Connection, exam_ids: Sequence[int], include_deleted: bool = True,
             checked: dict[int, int] | None = None) -> tuple[dict[int, list[CapturedItem]], dict[int, list[str]]]:
    """The readable items of some exams in capture order, and per exam why others were left out.

    With ``checked`` (item id -> hash of a row found good, kept by the caller)
    rows unchanged since they were last found good are not checked again and
    not returned: the exam list only needs the problems, for many exams at once.
    """
    items: dict[int, list[CapturedItem]] = {e: [] for e in exam_ids}
    problems: dict[int, list[str]] = {e: [] for e in exam_ids}
    ids = list(dict.fromkeys(exam_ids))
    if checked is not None and len(checked) > MAX_CHECKED_ROWS:
        checked.clear()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        marks = ",".join("?" * len(chunk))
        rows = conn.execute(
            f"SELECT * FROM items WHERE exam_id IN ({marks}) "
            + ("" if include_deleted else "AND deleted_at IS NULL ") + "ORDER BY created_at, id",
            chunk).fetchall()
        for r in rows:
            key = hash(tuple(r)) if checked is not None else 0
            if checked is not None and checked.get(r["id"]) == key:
                continue
            try:
                item = item_from(r)
            except DamagedRecord as exc:
                exam = r["exam_id"]
                problems[exam if exam in problems else int(exam)].append(str(exc))  # '3' for 3: affinity
            else:
                items[item.exam_id].append(item)
                if checked is not None:
                    checked[item.id] = key
    return items, problems


def with_item_damage(exam: Exam, problems: Sequence[str]) -> Exam:
    return dataclasses.replace(exam, damage=exam.damage + tuple(problems)) if problems else exam


def exam_in(conn: sqlite3.Connection, exam_id: int, items: bool = True) -> Exam:
    """The exam; with ``items`` its ``damage`` also names the item rows that cannot be read."""
    row = conn.execute(f"SELECT {EXAM_COLS} FROM {EXAM_FROM} WHERE e.id = ?", (exam_id,)).fetchone()
    if row is None:
        raise StorageError(f"No exam #{exam_id} in the exam store.")
    exam = exam_from(row)
    if items:
        exam = with_item_damage(exam, items_of(conn, [exam.id])[1][exam.id])
    return exam


def writable_exam_in(conn: sqlite3.Connection, exam_id: int) -> Exam:
    """The exam, refusing one whose own row is damaged: it is never rewritten from placeholders,
    nor given media under a damaged UID. (A damaged patient row only blocks changing the patient.)"""
    exam = exam_in(conn, exam_id, items=False)
    own = [d for d in exam.damage if d not in exam.patient.damage]
    if own:
        raise DamagedRecord(f"Exam #{exam_id} is damaged ({own[0]}) and cannot be changed: "
                            "export what is readable, or restore the exam store from a backup.")
    return exam


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
    tests = ([f"fold(CAST({c} AS BLOB)) LIKE ? ESCAPE '\\'" for c in columns]
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
