"""Fixtures for the exam store tests: an open store, a patient + exam, random frames."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from fada_desk.storage import Exam, ExamStore


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture
def exam(store: ExamStore) -> Exam:
    store.upsert_patient("MRN-001", name="DOE^JANE", dob=dt.date(1990, 4, 2), sex="F")
    lmp = dt.date.today() - dt.timedelta(days=20 * 7 + 3)
    return store.create_exam("MRN-001", lmp=lmp, operator="A. Sono")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

