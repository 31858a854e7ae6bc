"""Fixtures for application-layer tests: an exam store with one exam and one captured frame."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.fakes import OPERATOR, dark_frame
from fada_desk.storage import CapturedItem, Exam, ExamStore


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture()
def exam(store: ExamStore) -> Exam:
    store.upsert_patient("MRN-APP", name="DOE^JANE", dob=dt.date(1990, 5, 17), sex="F")
    return store.create_exam("MRN-APP", lmp=dt.date.today() - dt.timedelta(days=140), operator=OPERATOR)


@pytest.fixture()
def item(store: ExamStore, exam: Exam) -> CapturedItem:
    """An 800 x 540 grey frame (the size of the analysis fixture's image)."""
    return store.add_image(exam.id, dark_frame(800, 540, index=0), source_uri="memory:test")
