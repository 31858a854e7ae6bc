"""A damaged exam store stays usable: bad rows mark their exam damaged, the rest works; a store
that cannot be read is refused and left byte for byte as it was."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from fada_desk.app.review_session import ReviewSession
from fada_desk.cli import main
from fada_desk.core.annotation_commands import AddAnnotation
from fada_desk.core.annotations import Box
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.errors import FadaError, StorageError
from fada_desk.core.frame import Frame
from fada_desk.core.review_types import FrameRef
from fada_desk.storage import ExamStore
from fada_desk.storage.checks import DamagedRecord
from fada_desk.storage.review import ReviewStore

CAL = Calibration((Region(0, 0, 31, 23, 0.01, 0.01),), source="dicom")
N_FLIP_TRIALS = 200
SEED = 20240615
NAMES = ("ALPHA", "BRAVO", "CHARLIE")  # exam k's operator is OPERATOR-<name>: a unique marker in the file


def _build(root: Path) -> tuple[Path, dict[str, int]]:
    """A closed store with three exams (one image and one annotation each); {name: exam id}."""
    ids = {}
    with ExamStore.open(root) as store:
        for k, name in enumerate(NAMES):
            store.upsert_patient(f"MRN-{name}", name=f"{name}^PAT", dob=dt.date(1990, 1, k + 1), sex="F")
            exam = store.create_exam(f"MRN-{name}", lmp=dt.date(2024, 1, 10), operator=f"OPERATOR-{name}")
            pixels = np.full((24, 32), 40 * (k + 1), np.uint8)
            item = store.add_image(exam.id, Frame(pixels, calibration=CAL), meta={"probe": f"C5-{name}"})
            with ReviewSession(store, exam.id, "Op") as s:
                s.push(AddAnnotation(s.doc, Box(id=f"box-{name}", frame=FrameRef(item.id), x0=1, y0=2, x1=9,
                                                y1=9, label="head")))
            ids[name] = exam.id
        db = store.path
    return db, ids


@pytest.fixture
def built(tmp_path: Path, today: dt.date) -> tuple[Path, dict[str, int]]:
    return _build(tmp_path / "store")


def _tamper(db: Path, sql: str, *params: object) -> None:
    """Change the file behind the store's back (another program, a bad disk); no checks apply."""
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA ignore_check_constraints=ON")
        conn.execute(sql, params)
    finally:
        conn.close()


def _digest(db: Path) -> str:
    return hashlib.sha256(db.read_bytes()).hexdigest()


def _assert_only_bravo_damaged(store: ExamStore, ids: dict[str, int], reason: str) -> None:
    summaries = {s.patient_id: s for s in store.list_exams()}
    assert sorted(summaries) == [f"MRN-{n}" for n in NAMES]  # all listed
    bad = summaries["MRN-BRAVO"]
    assert bad.damaged and any(reason in d for d in bad.damage), bad.damage
    for name in ("ALPHA", "CHARLIE"):
        good = summaries[f"MRN-{name}"]
        assert not good.damaged and good.ga_label == "22w3d"
        assert len(store.list_items(ids[name])) == 1
        assert store.load_frame(store.list_items(ids[name])[0].id).calibration == CAL
    assert [s.patient_id for s in store.list_exams("bravo")] == ["MRN-BRAVO"]  # search still works
    exam = store.get_exam(ids["BRAVO"])  # the damaged exam opens, with its reasons
    assert exam.damage == bad.damage
    assert any(reason in p for p in store.check(verify_media=False))


ITEM_DAMAGE = [
    ("calibration", '{"regions": [', "calibration: not valid JSON"),
    ("calibration", '{"regions": [{"x0": "a", "y0": 0, "x1": 1, "y1": 1, "delta_x": 0.1, "delta_y": 0.1}]}',
     "calibration: 'a' is not a whole number"),
    ("calibration", '{"manual": {"p1": [0, 0], "p2": [1e999, 0], "distance_mm": 10}}', "non-finite"),
    ("meta", "{broken", "meta: not valid JSON"),
    ("meta", '{"probe": NaN}', "meta: non-finite number NaN"),
    ("meta", "[1, 2]", "meta: JSON list, not an object"),
    ("meta", '{"n": ' + "7" * 5000 + "}", "meta: not valid JSON"),  # beyond int/str conversion
    ("meta", "[" * 5000 + "]" * 5000, "meta: JSON nested too deeply"),
    ("created_at", "yesterday", "created_at: 'yesterday' is not a UTC timestamp"),
    ("width", -3, "width: -3 is not a whole number"),
    ("media_path", "../../etc/passwd", "media_path: '../../etc/passwd' is not a media file name"),
    ("kind", "hologram", "kind: 'hologram' is not one of image, clip"),
    ("fps", "fast", "fps: 'fast' is not a finite number"),
]


@pytest.mark.parametrize(("column", "value", "reason"), ITEM_DAMAGE, ids=[f"{c}-{r[:20]}" for c, _, r in ITEM_DAMAGE])
def test_a_damaged_item_row_is_left_out_with_its_reason(built: tuple[Path, dict[str, int]], column: str,
                                                          value: object, reason: str) -> None:
    db, ids = built
    _tamper(db, f"UPDATE items SET {column} = ? WHERE exam_id = ?", value, ids["BRAVO"])
    with ExamStore.open(db) as store:
        _assert_only_bravo_damaged(store, ids, reason)
        assert store.list_items(ids["BRAVO"]) == []  # the bad item is skipped, not the exam
        item_id = sqlite3.connect(db).execute("SELECT id FROM items WHERE exam_id = ?", (ids["BRAVO"],)).fetchone()[0]
        with pytest.raises(DamagedRecord, match=f"Item #{item_id} is damaged"):
            store.load_frame(item_id)
        doc, problems = ReviewStore(store).load_checked(ids["BRAVO"])  # annotations still load
        assert len(doc) == 1 and problems == []
    # the damaged row's media file is not taken for a dead writer's leftover
    assert not list((db.parent / "media" / ".quarantine").rglob("IMG_*"))


EXAM_DAMAGE = [
    ("exams", "exam_date", "2024-02-30", "exam exam_date: '2024-02-30' is not a date"),
    ("exams", "lmp", "9999-12-31", "exam lmp: 9999-12-31 is not a plausible date"),
    ("exams", "lmp", "2024-06-20", "exam dating: LMP 2024-06-20 is after the exam date"),
    ("exams", "created_at", "2024-13-01T00:00:00.000000Z", "exam created_at"),
    ("exams", "status", "lost", "exam status: 'lost' is not one of open"),
    ("exams", "notes", b"\xff\xfe", "exam notes: bytes instead of text"),
    ("exams", "uid", "../x", "exam uid: not a DICOM UID"),
    ("patients", "dob", "1990-02-31", "patient dob"),
    ("patients", "sex", "Q", "patient sex: 'Q' is not one of"),
]


@pytest.mark.parametrize(("table", "column", "value", "reason"), EXAM_DAMAGE, ids=[r[:24] for *_, r in EXAM_DAMAGE])
def test_a_damaged_exam_or_patient_row_is_listed_marked_damaged(built: tuple[Path, dict[str, int]], table: str,
                                                                column: str, value: object, reason: str) -> None:
    db, ids = built
    where = "id = ?" if table == "exams" else "id = (SELECT patient_ref FROM exams WHERE id = ?)"
    _tamper(db, f"UPDATE {table} SET {column} = ? WHERE {where}", value, ids["BRAVO"])
    with ExamStore.open(db) as store:
        _assert_only_bravo_damaged(store, ids, reason)
        exam = store.get_exam(ids["BRAVO"])
        if column in ("exam_date", "lmp"):
            assert exam.ga_label == "" and exam.dating is None  # no GA from dates that cannot be trusted
        assert len(store.list_items(ids["BRAVO"])) == 1  # readable items stay readable
        # never rewrite what could not be read
        before = store.get_exam(ids["BRAVO"])
        if table == "exams":
            with pytest.raises(DamagedRecord, match="cannot be changed"):
                store.update_exam(ids["BRAVO"], notes="edited")
            with pytest.raises(DamagedRecord, match="cannot be changed"):
                store.add_image(ids["BRAVO"], Frame(np.zeros((4, 4), np.uint8)))
            assert store.get_exam(ids["BRAVO"]) == before
        else:  # the patient row is never rewritten; the exam itself can still be worked on
            with pytest.raises(DamagedRecord, match="cannot be changed"):
                store.upsert_patient("MRN-BRAVO", name="NEW^NAME")
            assert store.get_exam(ids["BRAVO"]).patient == before.patient
            store.add_image(ids["BRAVO"], Frame(np.zeros((4, 4), np.uint8)))
            assert len(store.list_items(ids["BRAVO"])) == 2
        store.update_exam(ids["ALPHA"], notes="fine")  # the healthy exams are writable


def _flip_in_marker(db: Path, marker: bytes, n: int = 4) -> None:
    data = bytearray(db.read_bytes())
    at = data.find(marker)
    assert at != -1 and data.find(marker, at + 1) == -1, "marker must be unique in the file"
    for k in range(n):
        data[at + 2 + k] ^= 0xC0  # 'ER' -> invalid UTF-8 continuation bytes
    db.write_bytes(bytes(data))


def test_four_flipped_bytes_in_a_row_damage_only_that_exam(built: tuple[Path, dict[str, int]]) -> None:
    db, ids = built
    _flip_in_marker(db, b"OPERATOR-BRAVO")
    with ExamStore.open(db) as store:
        _assert_only_bravo_damaged(store, ids, "exam operator: not valid UTF-8 text")
        assert "\ufffd" in store.get_exam(ids["BRAVO"]).operator


def test_damaged_annotation_rows_are_skipped_with_a_reason(built: tuple[Path, dict[str, int]]) -> None:
    db, ids = built
    _tamper(db, "UPDATE annotations SET data = '{\"kind\": \"box\"' WHERE exam_id = ?", ids["BRAVO"])
    with ExamStore.open(db) as store:
        doc, problems = ReviewStore(store).load_checked(ids["BRAVO"])
        assert len(doc) == 0 and len(problems) == 1 and "annotation box-BRAVO is damaged" in problems[0]
        assert len(ReviewStore(store).load(ids["ALPHA"])) == 1


def test_cli_export_of_a_damaged_exam_exports_what_is_readable(built: tuple[Path, dict[str, int]], tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    db, ids = built
    _tamper(db, "UPDATE items SET meta = '{broken' WHERE exam_id = ?", ids["BRAVO"])
    _tamper(db, "UPDATE exams SET referring = X'C3' WHERE id = ?", ids["BRAVO"])
    out = tmp_path / "out"
    assert main(["export", str(ids["BRAVO"]), "--format", "json", "--out", str(out), "--store", str(db)]) == 0
    cap = capsys.readouterr()
    assert "exam #%d is damaged" % ids["BRAVO"] in cap.err
    assert "is damaged (item meta: not valid JSON" in cap.err and "exam referring: bytes instead of text" in cap.err
    doc = json.loads(Path(cap.out.strip()).read_text(encoding="utf-8"))
    assert doc["images"] == []  # the one item could not be read: left out, the exam still exported
    assert main(["export", str(ids["ALPHA"]), "--format", "json", "--out", str(out), "--store", str(db)]) == 0
    cap = capsys.readouterr()
    assert "damaged" not in cap.err
    assert len(json.loads(Path(cap.out.strip()).read_text(encoding="utf-8"))["images"]) == 1


def _corrupt_page_of(db: Path, table: str) -> None:
    conn = sqlite3.connect(db)
    root, page_size = (conn.execute("SELECT rootpage FROM sqlite_master WHERE name = ?", (table,)).fetchone()[0],
                       conn.execute("PRAGMA page_size").fetchone()[0])
    conn.close()
    data = bytearray(db.read_bytes())
    off = (root - 1) * page_size
    data[off + 3:off + 5] = b"\xff\xff"  # the b-tree page's cell count
    db.write_bytes(bytes(data))


@pytest.mark.parametrize("table", ["items", "exams", "audit_log"])
def test_a_store_failing_quick_check_is_refused_and_left_untouched(built: tuple[Path, dict[str, int]],
                                                                   table: str) -> None:
    db, _ids = built
    _corrupt_page_of(db, table)
    digest, names = _digest(db), sorted(p.name for p in db.parent.iterdir())
    with pytest.raises(StorageError) as err:
        ExamStore.open(db)
    msg = str(err.value)
    assert "\n" not in msg and "is damaged" in msg and "left unchanged" in msg and "backup" in msg, msg
    assert _digest(db) == digest and sorted(p.name for p in db.parent.iterdir()) == names
    assert not list(db.parent.glob("*.bak"))  # no migration, no backup copy: nothing ran


def test_other_programs_databases_and_other_files_are_refused_untouched(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE notes (t TEXT)")
    conn.commit()
    conn.close()
    text = tmp_path / "text.sqlite3"
    text.write_bytes(b"not a database at all\n" * 50)
    for path, message in ((other, "not a fada_desk exam store"), (text, "not an SQLite database")):
        digest = _digest(path)
        with pytest.raises(StorageError, match=message):
            ExamStore.open(path)
        assert _digest(path) == digest
    empty = tmp_path / "empty.sqlite3"
    empty.touch()
    with ExamStore.open(empty) as store:  # an empty file holds nothing to lose: it becomes a store
        assert store.list_exams() == []


def test_random_byte_flips_never_escape_as_anything_but_a_storage_error(tmp_path: Path, today: dt.date) -> None:
    """Seeded: 4 flipped bytes anywhere in the file, N_FLIP_TRIALS times. Every operation either works or raises
    a one-line FadaError; a refused file is left as it was."""
    pristine, ids = _build(tmp_path / "pristine")
    original = pristine.read_bytes()
    rng = random.Random(SEED)
    outcomes = {"refused": 0, "opened": 0, "damaged": 0}
    for trial in range(N_FLIP_TRIALS):
        root = tmp_path / f"t{trial}"
        shutil.copytree(pristine.parent, root)
        db = root / pristine.name
        data = bytearray(original)
        for _ in range(4):
            data[rng.randrange(100, len(data))] ^= 1 << rng.randrange(8)  # past the 100-byte header
        db.write_bytes(bytes(data))
        try:
            store = ExamStore.open(db)
        except StorageError as exc:
            assert "\n" not in str(exc) and db.read_bytes() == data
            outcomes["refused"] += 1
            continue
        outcomes["opened"] += 1
        with store:
            for call in (lambda: store.list_exams(), lambda: store.list_exams("alpha"),
                         lambda: store.check(verify_media=False)):
                try:
                    call()
                except FadaError as exc:
                    assert "\n" not in str(exc)
            for exam_id in ids.values():
                try:
                    exam = store.get_exam(exam_id)
                    outcomes["damaged"] += exam.damaged
                    for item in store.list_items(exam_id, include_deleted=True):
                        store.calibration_history(item.id)
                        store.load_frame(item.id)
                    ReviewStore(store).load_checked(exam_id)
                    ReviewStore(store).verify_audit()
                except FadaError as exc:
                    assert "\n" not in str(exc)
    assert outcomes["refused"] and outcomes["opened"]  # both paths were exercised
