"""Patients and exams: create, update, validate, search."""

from __future__ import annotations

import datetime as dt
import sqlite3

import numpy as np
import pytest
from store_helpers import STORE_TODAY

from fada_desk.core.errors import StorageError
from fada_desk.core.frame import Frame
from fada_desk.storage import LATEST_VERSION, Exam, ExamStore

TODAY = STORE_TODAY  # the store's calendar is pinned to it for every test here


@pytest.fixture(autouse=True)
def _pinned_calendar(today: dt.date) -> None:
    """Date rules ("in the future", default exam date) are checked against TODAY, not the wall clock."""


def test_fresh_store_schema_and_pragmas(store: ExamStore) -> None:
    conn = sqlite3.connect(store.path)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert {"patients", "exams", "items", "item_calibrations"} <= tables
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()
    with store.read_tx() as rc:  # the store's own connections enforce foreign keys
        assert rc.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), store.write_tx() as wc:
        wc.execute("INSERT INTO exams (uid, patient_ref, created_at, exam_date, updated_at) "
                   "VALUES ('1.2', 999, 'x', 'x', 'x')")


def test_default_location_is_user_data_dir(_isolated_user_dir) -> None:  # type: ignore[no-untyped-def]
    with ExamStore.open() as s:
        assert s.path == _isolated_user_dir / "exams.sqlite3"
        assert s.media_root == _isolated_user_dir / "media"
        assert s.path.is_file()


def test_upsert_patient_creates_then_updates_without_erasing(store: ExamStore) -> None:
    p = store.upsert_patient("  MRN7 ", name="DOE^JANE", dob="1990-04-02", sex="female")
    assert (p.patient_id, p.name, p.dob, p.sex, p.display_name) == (
        "MRN7", "DOE^JANE", dt.date(1990, 4, 2), "F", "DOE, JANE")
    p2 = store.upsert_patient("MRN7")  # e.g. capture flow knowing only the MRN
    assert p2 == p
    p3 = store.upsert_patient("MRN7", name="Jane Smith", sex="o")
    assert (p3.id, p3.name, p3.dob, p3.sex, p3.display_name) == (p.id, "Jane Smith", dt.date(1990, 4, 2), "O",
                                                                   "Jane Smith")
    assert store.get_patient("MRN7") == p3 == store.get_patient(p.id)
    assert len(store.list_patients()) == 1


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"patient_id": "   "}, "Patient ID is empty"),
    ({"patient_id": ""}, "Patient ID is empty"),
    ({"patient_id": "A\\B"}, "backslash"),
    ({"patient_id": "A\x00B"}, "control characters"),
    ({"patient_id": "X" * 65}, "too long"),
    ({"patient_id": "P", "dob": "31/12/1990"}, "Date of birth must be a date"),
    ({"patient_id": "P", "dob": TODAY + dt.timedelta(days=1)}, "not plausible"),
    ({"patient_id": "P", "sex": "X"}, "Sex must be"),
    ({"patient_id": "P", "name": "a\nb"}, "control characters"),
])
def test_patient_validation(store: ExamStore, kwargs: dict, msg: str) -> None:
    with pytest.raises(StorageError, match=msg):
        store.upsert_patient(**kwargs)
    assert store.list_patients() == []


def test_get_missing_records(store: ExamStore) -> None:
    with pytest.raises(StorageError, match="No patient"):
        store.get_patient("nobody")
    with pytest.raises(StorageError, match="No exam #42"):
        store.get_exam(42)
    with pytest.raises(StorageError, match="No captured item #42"):
        store.get_item(42)
    with pytest.raises(StorageError, match="No exam #42"):
        store.list_items(42)


def test_create_exam(store: ExamStore) -> None:
    store.upsert_patient("MRN1", name="DOE^JANE")
    lmp = TODAY - dt.timedelta(days=150)
    e = store.create_exam("MRN1", lmp=lmp, operator=" op ", referring="Dr. Who", notes="line1\nline2")
    assert e.uid.startswith("2.25.") and len(e.uid) <= 64 and e.uid[5:].isdigit()
    assert (e.patient_id, e.operator, e.referring, e.notes, e.status, e.lmp, e.edd) == (
        "MRN1", "op", "Dr. Who", "line1\nline2", "open", lmp, None)
    assert e.exam_date == TODAY and e.created_at.tzinfo is not None
    assert e.dating is not None and e.ga_days == 150 and e.dating.edd == lmp + dt.timedelta(days=280)
    assert e.ga_label == "21w3d" == store.list_exams()[0].ga_label
    assert store.get_exam(e.id) == e
    assert store.get_exam_by_uid(e.uid) == e
    e2 = store.create_exam("MRN1", edd=TODAY + dt.timedelta(days=100))
    assert e2.uid != e.uid and e2.lmp is None and e2.ga_days == 180 and e2.dating.basis == "edd"  # type: ignore[union-attr]
    undated = store.create_exam("MRN1")
    assert undated.dating is None and undated.ga_days is None and undated.ga_label == ""


@pytest.mark.parametrize(("kwargs", "msg"), [
    ({"patient_id": "  "}, "Patient ID is empty"),
    ({"patient_id": "GHOST"}, "save the patient before"),
    ({"lmp": TODAY + dt.timedelta(days=1)}, "after the exam date"),
    ({"lmp": "2024-13-01"}, "LMP must be a date"),
    ({"edd": "soon"}, "EDD must be a date"),
    ({"lmp": TODAY - dt.timedelta(days=100), "edd": TODAY + dt.timedelta(days=100)}, "disagree by 80 days"),
    ({"exam_date": TODAY + dt.timedelta(days=1)}, "in the future"),
    ({"operator": 5}, "Operator must be text"),
])
def test_exam_validation(store: ExamStore, kwargs: dict, msg: str) -> None:
    store.upsert_patient("MRN1")
    kwargs = {"patient_id": "MRN1", **kwargs}
    with pytest.raises(StorageError, match=msg):
        store.create_exam(kwargs.pop("patient_id"), **kwargs)
    assert store.list_exams() == []


def test_exam_with_past_exam_date_dates_ga_at_that_day(store: ExamStore) -> None:
    store.upsert_patient("MRN1")
    e = store.create_exam("MRN1", lmp="2020-01-01", exam_date="2020-03-01")
    assert e.exam_date == dt.date(2020, 3, 1) and e.ga_days == 60


def test_update_exam(store: ExamStore, exam: Exam) -> None:
    e = store.update_exam(exam.id, notes="fetus active", status="completed")
    assert (e.notes, e.status, e.lmp, e.operator) == ("fetus active", "completed", exam.lmp, exam.operator)
    edd = TODAY + dt.timedelta(days=50)
    e = store.update_exam(exam.id, lmp=None, edd=edd)
    assert e.lmp is None and e.edd == edd and e.ga_days == 230
    with pytest.raises(StorageError, match="status must be one of"):
        store.update_exam(exam.id, status="done")
    with pytest.raises(StorageError, match="disagree"):
        store.update_exam(exam.id, lmp=TODAY - dt.timedelta(days=10))
    assert store.get_exam(exam.id) == e  # failed updates changed nothing


def _frame() -> Frame:
    return Frame(np.zeros((8, 8), np.uint8))


def test_list_exams_search_newest_first_and_counts(store: ExamStore) -> None:
    store.upsert_patient("MRN-100", name="DOE^JANE")
    store.upsert_patient("MRN-200", name="Ngozi Okafor")
    store.upsert_patient("X_9", name="Émilie Ñúñez")
    e1 = store.create_exam("MRN-100", operator="Alice", exam_date="2024-05-01")
    e2 = store.create_exam("MRN-200", operator="Bob", referring="Dr Mensah")
    e3 = store.create_exam("X_9", operator="alice")
    for _ in range(3):
        store.add_image(e1.id, _frame())
    deleted = store.add_image(e1.id, _frame())
    store.delete_item(deleted.id)

    def ids(search: str = "", **kw: int) -> list[int]:
        return [s.id for s in store.list_exams(search, **kw)]

    assert ids() == [e3.id, e2.id, e1.id]  # newest first
    e0 = store.create_exam("MRN-100", exam_date="2023-01-01")  # entered late for an old scan
    assert ids()[-2:] == [e1.id, e0.id]  # ordered by exam date, then creation
    store.update_exam(e0.id, status="cancelled")
    summaries = {s.id: s for s in store.list_exams()}
    assert summaries[e1.id].n_items == 3 and summaries[e2.id].n_items == 0
    s1 = summaries[e1.id]
    assert (s1.patient_id, s1.patient_name, s1.operator, s1.uid, s1.status, s1.exam_date) == (
        "MRN-100", "DOE^JANE", "Alice", e1.uid, "open", dt.date(2024, 5, 1))
    assert ids("mrn-1") == [e1.id, e0.id]
    assert ids("mrn-1 2024-05") == [e1.id]
    assert ids("jane") == ids("DOE JANE") == ids("doe jane") == [e1.id, e0.id]  # '^' searchable as space
    assert ids("ALICE") == [e3.id, e1.id]  # case-insensitive
    assert ids("émilie") == ids("ÉMILIE") == [e3.id]  # non-ASCII case folding
    assert ids("2024-05-01") == ids("2024-05") == [e1.id]
    assert ids("mensah") == [e2.id]
    assert ids("alice mrn") == [e1.id]  # every word must match
    assert ids("x_9") == [e3.id] and ids("_") == [e3.id]  # LIKE wildcards are literal
    assert ids("%") == []
    assert ids(e2.uid) == [e2.id]
    assert ids(e2.uid[5:12]) == [] and ids("05-01") == []  # UIDs exact, dates by prefix only
    assert ids(e2.created_at.strftime("%Y-%m-%dT%H")) == []  # creation timestamps are not searched
    assert ids("nobody") == []
    assert ids(limit=2) == [e3.id, e2.id]
    assert ids("2023-01") == [e0.id]
    with pytest.raises(StorageError, match="limit"):
        store.list_exams(limit=0)
    assert [p.patient_id for p in store.list_patients("okafor")] == ["MRN-200"]
