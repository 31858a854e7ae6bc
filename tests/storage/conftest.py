"""Fixtures for the exam store tests: an open store, a patient + exam, random frames."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from store_helpers import STORE_TODAY

from fada_desk.storage import Exam, ExamStore, records


@pytest.fixture
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture
def today(monkeypatch: pytest.MonkeyPatch) -> dt.date:
    """Pin the store's calendar to STORE_TODAY: date rules and defaults no longer depend on when
    (or across which midnight) the tests run."""
    monkeypatch.setattr(records, "local_today", lambda: STORE_TODAY)
    return STORE_TODAY


@pytest.fixture
def exam(store: ExamStore, today: dt.date) -> Exam:
    store.upsert_patient("MRN-001", name="DOE^JANE", dob=dt.date(1990, 4, 2), sex="F")
    lmp = today - dt.timedelta(days=20 * 7 + 3)
    return store.create_exam("MRN-001", lmp=lmp, operator="A. Sono")


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)

