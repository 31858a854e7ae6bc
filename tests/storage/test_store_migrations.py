"""Schema migrations: fresh creation, upgrade from every older version, failure handling."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pytest

import fada_desk.storage.migrations as mig
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.errors import StorageError
from fada_desk.storage import LATEST_VERSION, ExamStore
from fada_desk.storage import media as media_mod

CAL = Calibration((Region(0, 0, 9, 9, 0.01, 0.02),), source="dicom")
PIXELS = np.arange(100, dtype=np.uint8).reshape(10, 10)
UID = "2.25.1234567890"


def _schema(db: Path) -> list[tuple[str, str, str]]:
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute("SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' "
                            "ORDER BY type, name").fetchall()
        return [(t, n, " ".join((s or "").split())) for t, n, s in rows]
    finally:
        conn.close()


def _seed_v1(conn: sqlite3.Connection, media_root: Path) -> None:
    """Data as schema 1 stored it (schema 1 is frozen forever: migrations are forward-only)."""
    rel = f"{UID}/IMG_20240101T000000000000Z_deadbeefdeadbeef_0001.png"
    final = media_root / UID / rel.split("/")[1]
    final.parent.mkdir(parents=True)
    sha, size = media_mod.write_media(final, lambda f: media_mod.encode_png(PIXELS, f))
    now = "2024-01-01T00:00:00.000000Z"
    conn.execute("BEGIN")
    conn.execute("INSERT INTO patients VALUES (1, 'OLD-1', 'OLD^PATIENT', '1985-02-03', 'F', ?, ?)",
                 (now, now))
    conn.execute("INSERT INTO exams VALUES (1, ?, 1, ?, '2024-01-01', '2023-10-01', NULL, 'op', '', 'n', "
                 "'open', ?)", (UID, now, now))
    rows = ((1, json.dumps(CAL.to_dict()), rel, sha), (2, None, rel + ".x", "0" * 64))
    for item_id, cal, path, digest in rows:
        conn.execute(
            "INSERT INTO items (id, exam_id, kind, created_at, width, height, channels, n_frames, "
            "calibration, sha256, media_path, size_bytes, meta) "
            "VALUES (?, 1, 'image', ?, 10, 10, 1, 1, ?, ?, ?, ?, '{\"k\": 1}')",
            (item_id, now, cal, digest, path, size))
    conn.execute("COMMIT")


def _db_at(version: int, tmp_path: Path) -> Path:
    db = tmp_path / "exams.sqlite3"
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        assert mig.migrate(conn, target=version) == list(range(1, version + 1))
        if version >= 1:
            _seed_v1(conn, tmp_path / "media")
        assert mig.schema_version(conn) == version
    finally:
        conn.close()
    return db


def test_migrations_are_numbered_contiguously() -> None:
    assert [m.version for m in mig.MIGRATIONS] == list(range(1, LATEST_VERSION + 1))
    assert LATEST_VERSION >= 2
    assert all(m.name.startswith(f"m{m.version:04d}_") for m in mig.MIGRATIONS)


def test_split_sql() -> None:
    script = ("CREATE TABLE a (x TEXT DEFAULT 'a;b'); -- note; with semicolon\n"
              "INSERT INTO a VALUES ('c;d');\n-- end\n")
    assert mig.split_sql(script) == ["CREATE TABLE a (x TEXT DEFAULT 'a;b');",
                                     "-- note; with semicolon\nINSERT INTO a VALUES ('c;d');"]
    with pytest.raises(ValueError, match="incomplete"):
        mig.split_sql("CREATE TABLE b (x")


@pytest.mark.parametrize("version", range(0, LATEST_VERSION))
def test_upgrade_from_every_older_version(tmp_path: Path, version: int) -> None:
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    with ExamStore.open(fresh):
        pass
    old = tmp_path / "old"
    old.mkdir()
    db = _db_at(version, old)
    with ExamStore.open(db) as store:
        assert _schema(db) == _schema(fresh / "exams.sqlite3")  # same result as a fresh install
        backups = list(old.glob("exams.sqlite3.schema*.bak"))
        if version == 0:
            assert backups == [] and store.list_exams() == []
            return
        assert len(backups) == 1 and f".schema{version}-" in backups[0].name
        assert _schema(backups[0])[0:1] and sqlite3.connect(backups[0]).execute(
            "PRAGMA user_version").fetchone()[0] == version
        (summary,) = store.list_exams("old")
        assert (summary.patient_id, summary.uid, summary.n_items) == ("OLD-1", UID, 2)
        exam = store.get_exam(summary.id)
        assert exam.patient.dob is not None and exam.lmp is not None and exam.ga_days == 92
        item = store.get_item(1)
        assert item.calibration == CAL and item.meta == {"k": 1}
        if version < 2:  # m0002 backfilled the calibration history
            assert item.calibration_version == 1
            history = store.calibration_history(1)
            assert [(h.version, h.calibration, h.source) for h in history] == [(1, CAL, "dicom")]
            assert store.get_item(2).calibration_version == 0
        assert np.array_equal(store.load_frame(1).pixels, PIXELS)
        # the upgraded store is fully usable
        store.set_calibration(1, None)
        e2 = store.create_exam("OLD-1")
        assert store.add_image(e2.id, store.load_frame(1)).sha256 == item.sha256
    with ExamStore.open(db) as again:  # reopening does not migrate or back up again
        assert len(list(old.glob("exams.sqlite3.schema*.bak"))) == 1
        assert again.get_item(1).calibration_version == item.calibration_version + 1


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "exams.sqlite3"
    with ExamStore.open(db):
        pass
    conn = sqlite3.connect(db)
    conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 1}")
    conn.commit()
    conn.close()
    with pytest.raises(StorageError, match="newer fada_desk"):
        ExamStore.open(db)


def test_failed_migration_rolls_back_completely(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def bad_upgrade(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (x)")
        conn.execute("INSERT INTO no_such_table VALUES (1)")

    broken = (*mig.MIGRATIONS, mig.Migration(LATEST_VERSION + 1, "m9999_broken", bad_upgrade))
    monkeypatch.setattr(mig, "MIGRATIONS", broken)
    monkeypatch.setattr(mig, "LATEST_VERSION", LATEST_VERSION + 1)
    db = tmp_path / "exams.sqlite3"
    with pytest.raises(StorageError, match=r"Could not upgrade the exam store to schema .*m9999_broken"):
        ExamStore.open(db)
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == LATEST_VERSION  # earlier ones committed
        assert conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half_done'").fetchone()[0] == 0
    finally:
        conn.close()


def test_migration_breaking_foreign_keys_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def orphan(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT INTO exams (uid, patient_ref, created_at, exam_date, updated_at) "
                     "VALUES ('1.2.3', 999, 'x', 'x', 'x')")

    extra = mig.Migration(LATEST_VERSION + 1, "m9999_fk", orphan)
    monkeypatch.setattr(mig, "MIGRATIONS", (*mig.MIGRATIONS, extra))
    monkeypatch.setattr(mig, "LATEST_VERSION", LATEST_VERSION + 1)
    with pytest.raises(StorageError, match="broke 1 foreign key"):
        ExamStore.open(tmp_path)
    conn = sqlite3.connect(tmp_path / "exams.sqlite3")
    assert conn.execute("SELECT count(*) FROM exams").fetchone()[0] == 0
    conn.close()


def test_not_a_database(tmp_path: Path) -> None:
    db = tmp_path / "exams.sqlite3"
    db.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StorageError, match="damaged"):
        ExamStore.open(db)


def test_unwritable_location(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StorageError, match="Could not create the exam store folder"):
        ExamStore.open(blocker / "sub" / "exams.sqlite3")
