"""Exam-store mutations: a real store (made by ExamStore) with bad values in its rows or damaged bytes.

The seed is one store written through the real API in a child process with a
pinned clock and seeded UUIDs (so the same campaign seed damages the same
bytes): two patients, two exams (one reviewed and signed off with an HC
ellipse, a BPD caliper, a box and an interpretation edit), a calibrated
still, an RGB still and a 3-frame clip. Ops:

* ``sql``: one column of one row set to a bad value (a wrong type, a bad date,
  broken or wrongly shaped JSON, a boundary number, NULL, a blob) with the
  audit triggers lifted for the edit, as a damaged file or another tool
  would leave it;
* ``db``: a byte op on the database file (flipped bytes, a cut-off file);
* ``media``: a byte op on a media file, or the file deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import secrets
import shutil
import sqlite3
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from devtools.fuzz.core import Op, Seed, apply_byte_op, byte_op
from devtools.fuzz.seeds import data_file

NAME = "store"
SEED = "store"
DB = "exams.sqlite3"
_BAD_TEXT = ("", " ", "2024-13-45", "not a date", "0000-00-00", "9999-12-31", "2024-02-30T25:61:00Z",
             "1900-01-01", "\x00", "\ud800", "x" * 100000, "DOE^JANE\nSECOND LINE", "'; DROP TABLE exams; --",
             "closed", "signed", "open", "deleted", "image", "clip", "F", "Q")
_BAD_JSON = ("{", "[]", "null", "1", '"x"', "{}", '{"regions": "x"}', '{"regions": [{"x0": "a"}]}',
             '{"regions": [null]}', '{"regions": [{"x0": 1e999}]}', "[" * 5000 + "]" * 5000, '{"a": NaN}',
             '{"kind": "ellipse"}', '{"kind": "caliper", "p1": [1], "p2": null}', '{"points": [[1e308, -1e308]]}',
             '{"fields": 5}', '{"frames": -1, "fps": "x"}')
_BAD_NUMBERS = (0, -1, 1, 2, 2**31, 2**63 - 1, -(2**63), 1e308, -0.0, 3.5)


def build(root: Path) -> None:
    """Write the seed store into ``root/store`` (run in a child process: it pins the clock and UUIDs)."""
    import numpy as np
    from PIL import Image

    _pin_clock_and_uuids()
    from fada_desk.app.review_session import ReviewSession
    from fada_desk.core.annotation_commands import AddAnnotation
    from fada_desk.core.annotations import Box, Caliper, Ellipse
    from fada_desk.core.calibration import Calibration, Region
    from fada_desk.core.frame import Frame
    from fada_desk.core.review_types import FrameRef
    from fada_desk.storage import ExamStore

    with Image.open(data_file("images", "001_HC.png")) as im:
        grey = np.ascontiguousarray(np.asarray(im.convert("L"))[::4, ::4])  # 200 x 135: exports stay fast
    s = 0.0896585200514 * 4 / 10.0
    cal = Calibration(regions=(Region(0, 0, grey.shape[1] - 1, grey.shape[0] - 1, s, s),), source="dicom")
    with ExamStore.open(root / SEED) as store:
        store.upsert_patient("MRN-001", name="DOE^JANE", dob=dt.date(1990, 5, 17), sex="F")
        store.upsert_patient("MRN-002", name="ROE^RICHARD", dob="1985-02-01", sex="M")
        exam = store.create_exam("MRN-001", lmp=dt.date(2024, 1, 26), operator="A. Sonographer",
                                 referring="Dr Who", notes="fuzz seed", exam_date=dt.date(2024, 6, 15))
        other = store.create_exam("MRN-002", operator="B. Sonographer", exam_date=dt.date(2024, 6, 14))
        item = store.add_image(exam.id, Frame(grey, calibration=cal), source_uri="hc18/001_HC.png")
        rgb = np.stack([grey[:96, :128]] * 3, axis=-1)
        store.add_image(other.id, Frame(np.ascontiguousarray(rgb)))
        clip = [Frame(np.ascontiguousarray(np.roll(grey[:64, :96], i, axis=1)), index=i) for i in range(3)]
        store.add_clip(exam.id, clip, fps=25.0)
        f = FrameRef(item.id)
        with ReviewSession(store, exam.id, "A. Sonographer") as session:
            session.push(AddAnnotation(session.doc, Ellipse(frame=f, label="HC", cx=99, cy=67, rx=22, ry=18,
                                                            measure="HC")))
            session.push(AddAnnotation(session.doc, Caliper(frame=f, label="BPD", p1=(99, 50), p2=(99, 85),
                                                            measure="BPD")))
            session.push(AddAnnotation(session.doc, Box(frame=f, label="Brain", x0=75, y0=45, x1=125, y1=90)))
            session.sign_off("Head measured.", allow_pending=True)
    con = sqlite3.connect(root / SEED / DB)
    con.execute("VACUUM")
    con.close()


def _pin_clock_and_uuids() -> None:
    rng = random.Random(20240615)
    uuid.uuid4 = lambda: uuid.UUID(int=rng.getrandbits(128), version=4)  # type: ignore[assignment]
    time.time = lambda: 1718442000.0  # type: ignore[assignment] - zip entry dates in clip archives
    secrets.token_hex = lambda n=32: rng.getrandbits(8 * n).to_bytes(n, "big").hex()  # type: ignore[assignment]
    import fada_desk.core.audit
    import fada_desk.storage.review  # noqa: F401 - load the modules whose clocks are pinned
    import fada_desk.storage.store  # noqa: F401

    start = dt.datetime(2024, 6, 15, 9, 0, 0, tzinfo=dt.timezone.utc)
    ticks = iter(range(10**9))

    def utcnow() -> dt.datetime:
        return start + dt.timedelta(seconds=next(ticks))

    def utc_now() -> str:
        return utcnow().strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    for name, module in list(sys.modules.items()):
        if name.startswith("fada_desk.") and module is not None:
            if callable(getattr(module, "utcnow", None)):
                module.utcnow = utcnow  # type: ignore[attr-defined]
            if callable(getattr(module, "utc_now", None)):
                module.utc_now = utc_now  # type: ignore[attr-defined]


def prepare(root: Path, build_in_child: Any) -> list[Seed]:
    """Build the seed store (``build_in_child(root)`` runs :func:`build` in a fresh process)."""
    build_in_child(root)
    db = root / SEED / DB
    con = sqlite3.connect(f"file:{db}?mode=ro&immutable=1", uri=True)
    try:
        cells = []
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                            "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for table in tables:
            cols = [r[1] for r in con.execute(f'PRAGMA table_info("{table}")')]
            for rowid, *values in con.execute(f'SELECT rowid, * FROM "{table}" ORDER BY rowid'):
                for col, value in zip(cols, values, strict=True):
                    cells.append((table, col, rowid, _shape(value)))
    finally:
        con.close()
    media = sorted(str(p.relative_to(root / SEED)) for p in (root / SEED / "media").rglob("*") if p.is_file())
    return [Seed(SEED, meta={"cells": cells, "media": media, "size": db.stat().st_size})]


def _shape(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return "date" if len(value) >= 10 and value[4:5] == "-" and value[:4].isdigit() else "text"
        return "json" if isinstance(parsed, (dict, list)) else "text"
    return {int: "int", float: "real", bytes: "blob", type(None): "null"}.get(type(value), "text")


def generate(rng: random.Random, seed: Seed) -> Op:
    r = rng.random()
    if r < 0.6:
        table, col, rowid, shape = rng.choice(seed.meta["cells"])
        return ("sql", table, col, rowid, _bad_value(rng, shape))
    if r < 0.85:
        return ("db", byte_op(rng, seed.meta["size"], [(0, 100), (4096, seed.meta["size"])]))
    media = seed.meta["media"]
    if not media:
        return ("db", byte_op(rng, seed.meta["size"]))
    name = rng.choice(media)
    return ("media_delete", name) if rng.random() < 0.15 else ("media", name, byte_op(rng, 4096, [(0, 64)]))


def _bad_value(rng: random.Random, shape: str) -> Any:
    r = rng.random()
    if r < 0.1:
        return None
    if r < 0.2:
        return rng.choice(_BAD_NUMBERS)
    if r < 0.25:
        return bytes([0xFF, 0xFE, 0, 1])
    if shape == "json" and r < 0.85:
        return rng.choice(_BAD_JSON)
    return rng.choice(_BAD_TEXT + _BAD_JSON[:6])


def materialize(seed_dir: Path, ops: tuple[Op, ...], workdir: Path) -> Path:
    target = workdir / SEED
    shutil.copytree(seed_dir, target)
    for op in ops:
        apply(target, op)
    return target


def apply(store_dir: Path, op: Op) -> None:
    kind = op[0]
    if kind == "sql":
        _set_cell(store_dir / DB, *op[1:])
    elif kind == "db":
        path = store_dir / DB
        path.write_bytes(bytes(apply_byte_op(bytearray(path.read_bytes()), op[1])))
    elif kind == "media":
        path = store_dir / op[1]
        if path.is_file():
            path.write_bytes(bytes(apply_byte_op(bytearray(path.read_bytes()), op[2])))
    elif kind == "media_delete":
        (store_dir / op[1]).unlink(missing_ok=True)
    else:
        raise ValueError(f"unknown store op {kind!r}")


def _set_cell(db: Path, table: str, col: str, rowid: int, value: Any) -> None:
    """``UPDATE table SET col = value WHERE rowid = rowid`` with triggers and constraints lifted."""
    try:
        con = sqlite3.connect(db, isolation_level=None)
    except sqlite3.Error:
        return
    try:
        con.execute("PRAGMA foreign_keys = OFF")
        con.execute("PRAGMA ignore_check_constraints = ON")
        con.execute("BEGIN")
        triggers = con.execute("SELECT name, sql FROM sqlite_master WHERE type='trigger'").fetchall()
        for name, _ in triggers:
            con.execute(f'DROP TRIGGER "{name}"')
        if isinstance(value, str):
            value = value.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        con.execute(f'UPDATE OR IGNORE "{table}" SET "{col}" = ? WHERE rowid = ?', (value, rowid))
        for _, sql in triggers:
            con.execute(sql)
        con.execute("COMMIT")
    except sqlite3.Error:
        pass  # a column type SQLite refuses even so: the op is a no-op
    finally:
        con.close()
