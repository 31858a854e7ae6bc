"""An exam store with one exam and the HC18 001_HC frame: fixtures for export, CLI and review-store tests.

A plain module (not a conftest): the conftest.py of tests/export, tests/cli and
tests/storage/review import its fixtures, so one definition serves them all.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.storage import CapturedItem, Exam, ExamStore

from testdata import shared_or_local

#: HC18 image 001_HC: 800 x 540, 0.0896585200514 mm/px (the challenge CSV).
HC18_IMAGE = "001_HC.png"
HC18_MM_PER_PX = 0.0896585200514


def hc18_frame() -> Frame:
    pixels = np.asarray(Image.open(shared_or_local("hc18", "images", HC18_IMAGE)).convert("L"))
    s = HC18_MM_PER_PX / 10.0  # cm per pixel, as a DICOM region would say
    cal = Calibration(regions=(Region(0, 0, pixels.shape[1] - 1, pixels.shape[0] - 1, s, s),), source="dicom")
    return Frame(np.ascontiguousarray(pixels), index=0, calibration=cal)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[ExamStore]:
    with ExamStore.open(tmp_path / "store") as s:
        yield s


@pytest.fixture()
def exam(store: ExamStore) -> Exam:
    store.upsert_patient("MRN-001", name="DOE^JANE", dob=dt.date(1990, 5, 17), sex="F")
    lmp = dt.date.today() - dt.timedelta(days=20 * 7)
    return store.create_exam("MRN-001", lmp=lmp, operator="A. Sonographer", referring="Dr Who")


@pytest.fixture()
def item(store: ExamStore, exam: Exam) -> CapturedItem:
    return store.add_image(exam.id, hc18_frame(), source_uri="hc18/001_HC.png")


@pytest.fixture()
def plain_item(store: ExamStore, exam: Exam) -> CapturedItem:
    """An uncalibrated RGB frame."""
    px = np.zeros((120, 160, 3), np.uint8)
    px[:, :, 1] = 40
    return store.add_image(exam.id, Frame(px))
