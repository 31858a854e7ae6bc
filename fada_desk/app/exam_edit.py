"""Edit an exam after it was created: patient details, operator, LMP/EDD, referring, notes.

Shared by the GUI (Exam ▸ Edit exam) and any CLI. Every change is audited
(``exam.edit`` with the changed fields before and after, by the person who made
it), so a report that changes later can always be explained. The patient ID is
not editable: a wrong ID means a different patient (open or create that exam).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fada_desk.core.dating import validate_dating
from fada_desk.core.errors import StorageError
from fada_desk.storage import UNSET
from fada_desk.storage.review import AuditRecord, ReviewStore

PATIENT_FIELDS = ("name", "dob", "sex")
EXAM_FIELDS = ("operator", "lmp", "edd", "referring", "notes")


@dataclass(frozen=True)
class ExamChanges:
    """What to change; fields left as ``UNSET`` keep their value. ``lmp``/``edd`` may be None
    (clear); the patient fields cannot be cleared (the store never erases patient data)."""

    name: Any = UNSET
    dob: Any = UNSET
    sex: Any = UNSET
    operator: Any = UNSET
    lmp: Any = UNSET
    edd: Any = UNSET
    referring: Any = UNSET
    notes: Any = UNSET


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, (dt.date, dt.datetime)) else value


def diff(exam: Any, changes: ExamChanges) -> tuple[dict[str, Any], dict[str, Any]]:
    """(before, after) of the fields ``changes`` really changes, JSON-ready."""
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for name in (*PATIENT_FIELDS, *EXAM_FIELDS):
        new = getattr(changes, name)
        if new is UNSET:
            continue
        old = getattr(exam.patient if name in PATIENT_FIELDS else exam, name)
        if isinstance(new, str):
            new = new.strip()
        if name in PATIENT_FIELDS and new in ("", None):
            continue  # cannot erase: nothing to change
        if _plain(new) != _plain(old):
            before[name], after[name] = _plain(old), _plain(new)
    return before, after


def edit_exam(store: Any, exam_id: int, changes: ExamChanges, *, by: str) -> Any:
    """Apply ``changes`` to exam ``exam_id`` and audit them; returns the updated Exam.

    Raises :class:`StorageError` with a one-line message for bad input (impossible
    dates, no operator, nobody named as the editor); nothing is changed then.
    """
    by = (by or "").strip()
    if not by:
        raise StorageError("Say who makes the change (operator name) before editing an exam.")
    exam = store.get_exam(exam_id)
    before, after = diff(exam, changes)
    if not after:
        return exam
    ReviewStore(store).check_editable(exam_id)  # a final report's patient and dates are signed: amend first
    if "operator" in after and not after["operator"]:
        raise StorageError("An exam needs an operator; the operator cannot be removed.")
    lmp = exam.lmp if changes.lmp is UNSET else changes.lmp
    edd = exam.edd if changes.edd is UNSET else changes.edd
    validate_dating(lmp, edd, exam.exam_date)  # fail before anything is written
    patient = {k: getattr(changes, k) for k in PATIENT_FIELDS if k in after}
    if patient:
        store.upsert_patient(exam.patient_id, **patient)
    exam_kw = {k: getattr(changes, k) for k in EXAM_FIELDS if k in after}
    if exam_kw:
        store.update_exam(exam_id, **exam_kw)
    ReviewStore(store).append_audit(
        by, [AuditRecord("exam.edit", f"exam:{exam.uid}", before, after)], exam_id=exam_id)
    return store.get_exam(exam_id)
