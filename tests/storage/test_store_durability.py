"""Crash safety: kill -9 at random moments loses nothing that was reported saved;
leftovers of dead writers are quarantined, live writers' files are left alone."""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from store_helpers import random_frame

from fada_desk.core.errors import StorageError
from fada_desk.storage import Exam, ExamStore
from fada_desk.storage import media as media_mod

WRITER = Path(__file__).with_name("crash_writer.py")
ROUNDS = 8


def _loose_files(root: Path) -> list[Path]:
    """Media files outside quarantine/locks."""
    return sorted(p for p in root.rglob("*") if p.is_file() and not {".quarantine", ".locks"} & set(p.parts))


@pytest.mark.skipif(sys.platform == "win32", reason="SIGKILL is POSIX")
def test_kill_minus_nine_loses_nothing_reported(tmp_path: Path) -> None:
    store_dir = tmp_path / "store"
    rnd = random.Random(20240531)
    reported: dict[int, tuple[str, str, str]] = {}
    killed_at: list[float] = []
    for round_no in range(ROUNDS):
        proc = subprocess.Popen([sys.executable, str(WRITER), str(store_dir), str(round_no)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stderr is not None
        try:
            first = proc.stdout.readline()
            assert first == "ready\n", f"writer failed to start: {first!r} {proc.stderr.read()}"
            delay = rnd.uniform(0.01, 0.35)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=delay)
            assert proc.poll() is None, f"writer died on its own: {proc.stderr.read()}"
            os.kill(proc.pid, signal.SIGKILL)
            killed_at.append(delay)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            rest = proc.stdout.read()
            proc.stdout.close()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        for line in rest.splitlines(keepends=True):
            if line.endswith("\n"):  # a line cut by the kill is not a report
                _, item_id, kind, sha, pixel_digest = line.split()
                reported[int(item_id)] = (kind, sha, pixel_digest)

    assert len(killed_at) == ROUNDS
    assert len(reported) >= ROUNDS, "the writer saved too little for the test to mean anything"

    # reopen after the last crash (each writer also reopened the store after the previous one)
    with ExamStore.open(store_dir) as store:
        assert store.check() == []  # integrity_check, foreign keys, every media file's sha256
        for item_id, (kind, sha, pixel_digest) in reported.items():
            item = store.get_item(item_id)
            assert (item.kind, item.sha256) == (kind, sha)
            pixels = b"".join(f.pixels.tobytes() for f in store.iter_clip(item_id))
            assert hashlib.sha256(pixels).hexdigest() == pixel_digest
        (exam,) = store.list_exams()
        all_items = store.list_items(exam.id)
        # each kill can hide at most one saved-but-not-yet-printed item
        assert len(reported) <= len(all_items) <= len(reported) + ROUNDS
        referenced = {store.media_file(i) for i in all_items}
        assert set(_loose_files(store.media_root)) == referenced  # no temp files, no orphans left in place
        print(f"kill test: {len(reported)} reported, {len(all_items)} in store, "
              f"{len(list((store.media_root / '.quarantine').rglob('*.*')))} quarantined")
    conn = sqlite3.connect(store_dir / "exams.sqlite3")
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        conn.close()


def _leftover(store: ExamStore, exam: Exam, token: str, temp: bool) -> Path:
    name = media_mod.media_name("IMG", "20240101T000000000000Z", token, os.urandom(4).hex(), ".png")
    path = store.media_root / exam.uid / (media_mod.temp_name(name) if temp else name)
    path.parent.mkdir(exist_ok=True)
    path.write_bytes(b"\x89PNG partial")
    return path


def test_dead_writers_leftovers_are_quarantined_on_open(tmp_path: Path, rng: np.random.Generator) -> None:
    with ExamStore.open(tmp_path) as s1:
        s1.upsert_patient("P")
        exam = s1.create_exam("P")
        kept = s1.add_image(exam.id, random_frame(rng, (8, 8)))  # referenced; its writer (s1) closes
        dead = "0123456789abcdef"
        temp = _leftover(s1, exam, dead, temp=True)
        uncommitted = _leftover(s1, exam, dead, temp=False)
        foreign = s1.media_root / exam.uid / "notes.txt"
        foreign.write_text("not ours")
    with ExamStore.open(tmp_path) as s2:
        assert sorted(p.name for p in s2.quarantined) == sorted([temp.name, uncommitted.name])
        assert all(p.is_file() and ".quarantine" in p.parts for p in s2.quarantined)
        assert not temp.exists() and not uncommitted.exists()
        assert foreign.exists() and s2.media_file(kept).exists()
        assert s2.load_frame(kept.id).pixels.shape == (8, 8)
    with ExamStore.open(tmp_path) as s3:
        assert s3.quarantined == ()


def test_a_clip_being_written_is_a_temp_file_named_for_its_writer(tmp_path: Path, exam: Exam,
                                                                  store: ExamStore,
                                                                  rng: np.random.Generator) -> None:
    """The sweep's view of a real in-flight write: the writer's temp file carries its owner token."""
    job = store.add_clip_job(exam.id, [random_frame(rng, (8, 8)) for _ in range(3)], fps=10.0)
    next(job)  # the clip file is open and partly written
    (in_flight,) = _loose_files(store.media_root)
    assert media_mod.is_temp(in_flight.name) and media_mod.owner_of(in_flight.name) == store.owner_token
    with ExamStore.open(store.path) as other:  # its writer is alive: left alone
        assert other.quarantined == () and in_flight.exists()
    job.close()  # abandoned: the temp file goes, nothing else appears
    assert _loose_files(store.media_root) == []


def test_live_writers_files_are_left_alone(tmp_path: Path) -> None:
    writer = ExamStore.open(tmp_path)
    writer.upsert_patient("P")
    exam = writer.create_exam("P")
    in_flight = _leftover(writer, exam, writer.owner_token, temp=True)
    renamed_not_committed = _leftover(writer, exam, writer.owner_token, temp=False)
    with ExamStore.open(tmp_path) as other:  # e.g. the CLI while the GUI is capturing
        assert other.quarantined == ()
        assert in_flight.exists() and renamed_not_committed.exists()
    writer.close()  # ... and then the GUI is killed / closes
    with ExamStore.open(tmp_path) as later:
        assert {p.name for p in later.quarantined} == {in_flight.name, renamed_not_committed.name}


def test_failed_commit_leaves_complete_file_for_quarantine(tmp_path: Path, rng: np.random.Generator,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    store = ExamStore.open(tmp_path)
    store.upsert_patient("P")
    exam = store.create_exam("P")

    def failing_insert(**kwargs: object) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(store, "_insert_item", failing_insert)
    with pytest.raises(StorageError, match="Could not save the image: disk I/O error"):
        store.add_image(exam.id, random_frame(rng, (8, 8)))
    (orphan,) = _loose_files(store.media_root)
    assert orphan.suffix == ".png"  # complete (renamed) but unreferenced
    monkeypatch.undo()
    store.close()
    with ExamStore.open(tmp_path) as again:
        assert [p.name for p in again.quarantined] == [orphan.name]
        assert again.list_items(exam.id) == []
