"""Editing an exam after creation: applied, audited with before/after, refused cleanly."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from fada_desk.app.exam_edit import ExamChanges, edit_exam
from fada_desk.core.errors import StorageError
from fada_desk.storage import ExamStore
from fada_desk.storage.review import ReviewStore


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture()
def exam(store: ExamStore):  # noqa: ANN201
    store.upsert_patient("MRN-9", name="DOE^JANE", dob=dt.date(1990, 1, 2), sex="F")
    return store.create_exam("MRN-9", operator="")  # an exam saved without operator (older versions)


def edits(store: ExamStore, exam_id: int) -> list:
    return [e for e in ReviewStore(store).audit_entries(exam_id) if e.action == "exam.edit"]


def test_operator_lmp_and_name_are_changed_and_audited(store: ExamStore, exam) -> None:  # noqa: ANN001
    lmp = exam.exam_date - dt.timedelta(days=150)
    out = edit_exam(store, exam.id, ExamChanges(operator="B. Sono", lmp=lmp, name="DOE^JANET"), by="B. Sono")
    assert out.operator == "B. Sono" and out.lmp == lmp and out.ga_days == 150
    assert out.patient.name == "DOE^JANET" and store.get_exam(exam.id).patient.name == "DOE^JANET"
    (entry,) = edits(store, exam.id)
    assert entry.operator == "B. Sono" and entry.target == f"exam:{exam.uid}"
    assert entry.before == {"name": "DOE^JANE", "operator": "", "lmp": None}
    assert entry.after == {"name": "DOE^JANET", "operator": "B. Sono", "lmp": lmp.isoformat()}


def test_nothing_changed_writes_no_audit(store: ExamStore, exam) -> None:  # noqa: ANN001
    edit_exam(store, exam.id, ExamChanges(name="DOE^JANE", sex="F"), by="B. Sono")
    assert edits(store, exam.id) == []


@pytest.mark.parametrize(("changes", "by", "msg"), [
    (ExamChanges(operator="X"), "", "who makes the change"),
    (ExamChanges(lmp=dt.date(2999, 1, 1)), "B", "after the exam date"),
])
def test_bad_edits_are_refused_and_change_nothing(store: ExamStore, exam, changes, by, msg) -> None:  # noqa: ANN001
    with pytest.raises(StorageError, match=msg):
        edit_exam(store, exam.id, changes, by=by)
    assert store.get_exam(exam.id) == exam and edits(store, exam.id) == []


def test_the_operator_cannot_be_removed(store: ExamStore, exam) -> None:  # noqa: ANN001
    edit_exam(store, exam.id, ExamChanges(operator="B. Sono"), by="B. Sono")
    with pytest.raises(StorageError, match="cannot be removed"):
        edit_exam(store, exam.id, ExamChanges(operator="  "), by="B. Sono")
    assert store.get_exam(exam.id).operator == "B. Sono"
