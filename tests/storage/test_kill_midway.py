"""kill -9 in the middle of a review edit burst and of an export, then reopen: every edit the
child reported saved is there, the store checks clean, exports are complete or absent.
(kill -9 during add_image/add_clip: test_store_durability.py, same writer and helper.)"""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest
from kill_helpers import run_and_kill
from PIL import Image
from store_helpers import random_frame

from fada_desk.app.review_session import ReviewSession
from fada_desk.storage import ExamStore
from fada_desk.storage.review import ReviewStore

WRITER = str(Path(__file__).with_name("crash_writer.py"))
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")


def _store_with_image(store_dir: Path) -> None:
    with ExamStore.open(store_dir) as store:
        store.upsert_patient("KILL-2", name="KILL^EDIT")
        exam = store.create_exam("KILL-2")
        store.add_image(exam.id, random_frame(np.random.default_rng(1), (64, 64)), source_uri="kill:img")


def test_kill_during_review_edits_keeps_every_reported_edit(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    _store_with_image(store_dir)
    rnd = random.Random(7)
    saved: list[str] = []
    for round_no in range(4):
        lines = run_and_kill([WRITER, str(store_dir), str(round_no), "review"], rnd.uniform(0.2, 0.6))
        saved += [line.split()[1] for line in lines]
    assert len(saved) >= 4, "the child saved too little for the test to mean anything"
    with ExamStore.open(store_dir) as store:
        assert store.check() == []
        (exam,) = store.list_exams()
        ids = {a.id for a in ReviewStore(store).load(exam.id)}
        assert set(saved) <= ids
        assert len(ids) <= len(saved) + 4  # each kill hides at most one unreported save
        with ReviewSession(store, exam.id, "K. Nine") as s:  # the exam is still editable
            assert {a.id for a in s.doc} == ids


def _valid_export(path: Path) -> None:
    if path.suffix == ".pdf":
        pdf = pdfium.PdfDocument(path)
        assert len(pdf) >= 1
        pdf.close()
    elif path.suffix == ".png":
        with Image.open(path) as im:
            im.load()
    elif path.suffix == ".json":
        json.loads(path.read_text(encoding="utf-8"))
    else:
        raise AssertionError(f"unexpected file under a final name: {path.name}")


def test_kill_during_export_leaves_complete_files_or_none(tmp_path: Path) -> None:
    store_dir, out = tmp_path / "store", tmp_path / "out"
    _store_with_image(store_dir)
    out.mkdir()
    rnd = random.Random(11)
    reported: set[str] = set()
    for round_no in range(4):
        lines = run_and_kill([WRITER, str(store_dir), str(round_no), "export", str(out)], rnd.uniform(0.3, 1.2))
        reported |= {p for line in lines for p in line.split()[1:]}
    assert reported, "no export finished before the kills: the test would mean nothing"
    finals = sorted(p for p in out.iterdir() if not p.name.startswith("."))
    assert all(p.name.endswith(".part") for p in out.iterdir() if p.name.startswith("."))
    for path in finals:
        _valid_export(path)
    assert {Path(p).name for p in reported} <= {p.name for p in finals}
    with ExamStore.open(store_dir) as store:
        assert store.check() == []
