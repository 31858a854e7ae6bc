"""Patients and exams: the records part of :class:`~fada_desk.storage.ExamStore`."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from fada_desk.core.dating import EARLIEST_DATE, validate_dating
from fada_desk.core.errors import StorageError
from fada_desk.storage.database import StoreBase
from fada_desk.storage.models import EXAM_STATUSES, Exam, ExamSummary, Patient
from fada_desk.storage.rows import (
    EXAM_COLS,
    EXAM_FROM,
    check_limit,
    exam_from,
    exam_in,
    items_of,
    patient_from,
    search_clause,
    with_item_damage,
    writable_exam_in,
)
from fada_desk.storage.checks import DamagedRecord
from fada_desk.storage.values import UNSET, as_date, clean_sex, clean_text, guard, ts_text, utcnow

_NAME_SEARCH = ["p.patient_id", "replace(p.name, '^', ' ')"]


def local_today() -> dt.date:
    """Today on this machine's calendar: the default exam date and the latest plausible date."""
    return dt.date.today()


def clean_patient_id(patient_id: object) -> str:
    """The MRN of a :class:`Patient` or the text given, checked."""
    if isinstance(patient_id, Patient):
        patient_id = patient_id.patient_id
    pid = clean_text(patient_id, "Patient ID", 64)
    if not pid:
        raise StorageError("Patient ID is empty: enter the patient's hospital ID (MRN).")
    if "\\" in pid:
        raise StorageError("Patient ID must not contain a backslash.")
    return pid


class PatientExamRecords(StoreBase):
    """Create, change, read and search patients and exams."""

    # ------------------------------------------------------------------ patients
    @guard("save the patient")
    def upsert_patient(self, patient_id: str, name: str = "", dob: dt.date | str | None = None,
                       sex: str = "") -> Patient:
        """Create the patient or update it. Empty values never erase what is stored."""
        pid = clean_patient_id(patient_id)
        name = clean_text(name, "Patient name", 256)
        dob_d = as_date(dob, "Date of birth")
        if dob_d is not None and not EARLIEST_DATE <= dob_d <= local_today():
            raise StorageError(f"Date of birth {dob_d.isoformat()} is not plausible.")
        sex = clean_sex(sex)
        now = ts_text(utcnow())
        with self.write_tx() as conn:
            row = conn.execute("SELECT * FROM patients WHERE patient_id = ?", (pid,)).fetchone()
            if row is not None and (damage := patient_from(row).damage):
                raise DamagedRecord(f"Patient {pid} is damaged in the exam store ({damage[0]}) and cannot "
                                    "be changed: restore the exam store from a backup.")
            if row is None:
                conn.execute("INSERT INTO patients (patient_id, name, dob, sex, created_at, updated_at) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (pid, name, dob_d.isoformat() if dob_d else None, sex, now, now))
            else:
                conn.execute(
                    "UPDATE patients SET name = ?, dob = ?, sex = ?, updated_at = ? WHERE id = ?",
                    (name or row["name"], dob_d.isoformat() if dob_d else row["dob"], sex or row["sex"], now,
                     row["id"]))
            row = conn.execute("SELECT * FROM patients WHERE patient_id = ?", (pid,)).fetchone()
            return patient_from(row)

    @guard("read the patient")
    def get_patient(self, key: str | int) -> Patient:
        """By MRN (``str``) or internal id (``int``)."""
        with self.read_tx() as conn:
            if isinstance(key, int) and not isinstance(key, bool):
                row = conn.execute("SELECT * FROM patients WHERE id = ?", (key,)).fetchone()
            else:
                row = conn.execute("SELECT * FROM patients WHERE patient_id = ?",
                                   (clean_patient_id(key),)).fetchone()
        if row is None:
            raise StorageError(f"No patient with ID {key!r} in the exam store.")
        return patient_from(row)

    @guard("search patients")
    def list_patients(self, search: str = "", limit: int = 200) -> list[Patient]:
        """Patients whose ID or name contains every word of ``search``; newest changes first."""
        where, params = search_clause(search, _NAME_SEARCH)
        with self.read_tx() as conn:
            rows = conn.execute(f"SELECT p.* FROM patients p {where} ORDER BY p.updated_at DESC, p.id DESC "
                                f"LIMIT ?", (*params, check_limit(limit))).fetchall()
        return [patient_from(r) for r in rows]

    # ------------------------------------------------------------------ exams
    @guard("create the exam")
    def create_exam(self, patient_id: str | Patient, *, lmp: dt.date | str | None = None,
                    edd: dt.date | str | None = None, operator: str = "", referring: str = "",
                    notes: str = "", exam_date: dt.date | str | None = None) -> Exam:
        """New open exam for an existing patient (add the patient first with :meth:`upsert_patient`).

        ``exam_date`` defaults to today (local); LMP/EDD are stored as given.
        """
        pid = clean_patient_id(patient_id)
        today = local_today()
        on = as_date(exam_date, "Exam date") or today
        if not EARLIEST_DATE <= on <= today:
            raise StorageError(f"Exam date {on.isoformat()} is in the future or not plausible.")
        lmp_d, edd_d = as_date(lmp, "LMP"), as_date(edd, "EDD")
        validate_dating(lmp_d, edd_d, on)
        operator = clean_text(operator, "Operator", 128)
        referring = clean_text(referring, "Referring physician", 128)
        notes = clean_text(notes, "Notes", 20000, multiline=True)
        uid = f"2.25.{uuid.uuid4().int}"
        now = ts_text(utcnow())
        with self.write_tx() as conn:
            prow = conn.execute("SELECT id FROM patients WHERE patient_id = ?", (pid,)).fetchone()
            if prow is None:
                raise StorageError(f"No patient with ID {pid!r}: save the patient before creating the exam.")
            cur = conn.execute(
                "INSERT INTO exams (uid, patient_ref, created_at, exam_date, lmp, edd, operator, referring, "
                "notes, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'open', ?)",
                (uid, prow["id"], now, on.isoformat(), lmp_d.isoformat() if lmp_d else None,
                 edd_d.isoformat() if edd_d else None, operator, referring, notes, now))
            return exam_in(conn, int(cur.lastrowid))  # type: ignore[arg-type]

    @guard("update the exam")
    def update_exam(self, exam_id: int, *, lmp: Any = UNSET, edd: Any = UNSET, operator: Any = UNSET,
                    referring: Any = UNSET, notes: Any = UNSET, status: Any = UNSET) -> Exam:
        """Change the given fields (others keep their value; ``lmp=None`` clears the LMP)."""
        with self.write_tx() as conn:
            exam = writable_exam_in(conn, exam_id)
            new_lmp = exam.lmp if lmp is UNSET else as_date(lmp, "LMP")
            new_edd = exam.edd if edd is UNSET else as_date(edd, "EDD")
            validate_dating(new_lmp, new_edd, exam.exam_date)
            values = {
                "lmp": new_lmp.isoformat() if new_lmp else None,
                "edd": new_edd.isoformat() if new_edd else None,
                "operator": exam.operator if operator is UNSET else clean_text(operator, "Operator", 128),
                "referring": (exam.referring if referring is UNSET
                              else clean_text(referring, "Referring physician", 128)),
                "notes": exam.notes if notes is UNSET else clean_text(notes, "Notes", 20000, multiline=True),
                "status": str(exam.status) if status is UNSET else str(status),
            }
            if values["status"] not in EXAM_STATUSES:
                raise StorageError(f"Exam status must be one of {', '.join(EXAM_STATUSES)}, got {status!r}.")
            conn.execute("UPDATE exams SET lmp = :lmp, edd = :edd, operator = :operator, "
                         "referring = :referring, notes = :notes, status = :status, updated_at = :now "
                         "WHERE id = :id",
                         {**values, "now": ts_text(utcnow()), "id": exam_id})
            return exam_in(conn, exam_id)

    @guard("read the exam")
    def get_exam(self, exam_id: int) -> Exam:
        with self.read_tx() as conn:
            return exam_in(conn, exam_id)

    @guard("read the exam")
    def get_exam_by_uid(self, uid: str) -> Exam:
        with self.read_tx() as conn:
            row = conn.execute(f"SELECT {EXAM_COLS} FROM {EXAM_FROM} WHERE e.uid = ?", (uid,)).fetchone()
            if row is None:
                raise StorageError(f"No exam with UID {uid} in the exam store.")
            exam = exam_from(row)
            return with_item_damage(exam, items_of(conn, [exam.id])[1][exam.id])

    @guard("search exams")
    def list_exams(self, search: str = "", limit: int = 200) -> list[ExamSummary]:
        """Exams newest first (by exam date, then creation); ``n_items`` counts items not deleted.

        Every word of ``search`` must be found in the patient ID, patient name,
        operator or referring physician, or start the exam date (``2024``,
        ``2024-05``, ``2024-05-31``), or equal the exam UID. (Dates and UIDs are
        not substring-matched: "123" would hit half of all timestamps.)

        A damaged exam is listed like the others; its ``damage`` says why
        (unreadable values of its rows, item rows left out)."""
        where, params = search_clause(search, [*_NAME_SEARCH, "e.operator", "e.referring"],
                                      prefix=["e.exam_date"], exact=["e.uid"])
        sql = (f"SELECT {EXAM_COLS}, (SELECT count(*) FROM items i WHERE i.exam_id = e.id "
               f"AND i.deleted_at IS NULL) AS n_items FROM {EXAM_FROM} {where} "
               f"ORDER BY e.exam_date DESC, e.created_at DESC, e.id DESC LIMIT ?")
        with self.read_tx() as conn:
            rows = conn.execute(sql, (*params, check_limit(limit))).fetchall()
            exams = [exam_from(r) for r in rows]
            _items, bad = items_of(conn, [e.id for e in exams], checked=self.checked_rows)
        return [ExamSummary(with_item_damage(e, bad[e.id]), r["n_items"]) for e, r in zip(exams, rows)]
