"""Subprocess for the kill -9 test: saves items forever, reporting each one after its call returns.

Usage: python crash_writer.py STORE_DIR SEED [MODE [OUT_DIR]]
MODE ``store`` (default) prints ``ready`` once the store is open, then per saved item, flushed:
``saved <item id> <kind> <file sha256> <sha256 of all pixel bytes>``.
MODE ``review`` pushes calipers through a ReviewSession, flushing each, and prints ``saved <annotation id>``;
MODE ``export`` exports the exam (pdf, png, json in turn) into OUT_DIR forever, printing ``saved <path>...``.
"""

from __future__ import annotations

import hashlib
import sys

import numpy as np

from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.storage import ExamStore


def review(store_dir: str, seed: int) -> None:
    from fada_desk.app.review_session import ReviewSession
    from fada_desk.core.annotation_commands import AddAnnotation
    from fada_desk.core.annotations import Caliper
    from fada_desk.core.review_types import FrameRef

    rng = np.random.default_rng(seed)
    store = ExamStore.open(store_dir)
    (exam,) = store.list_exams()
    item = store.list_items(exam.id)[0]
    session = ReviewSession(store, exam.id, "K. Nine")  # never closed: we get SIGKILLed
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        p1 = (float(rng.integers(0, 60)), float(rng.integers(0, 60)))
        ann = Caliper(frame=FrameRef(item.id), label=f"c{seed}-{n}", p1=p1, p2=(p1[0] + 3, p1[1] + 2))
        session.push(AddAnnotation(session.doc, ann))
        session.flush()
        print(f"saved {ann.id}", flush=True)


def export(store_dir: str, out_dir: str) -> None:
    from fada_desk.export import export_exam

    store = ExamStore.open(store_dir)
    (exam,) = store.list_exams()
    print("ready", flush=True)
    n = 0
    while True:
        fmt = ("pdf", "png", "json")[n % 3]
        n += 1
        job = export_exam(store, exam.id, fmt, out_dir)
        while True:
            try:
                next(job)
            except StopIteration as stop:
                paths = stop.value
                break
        print("saved", *paths, flush=True)


def main() -> None:
    store_dir, seed = sys.argv[1], int(sys.argv[2])
    mode = sys.argv[3] if len(sys.argv) > 3 else "store"
    if mode == "review":
        review(store_dir, seed)
    elif mode == "export":
        export(store_dir, sys.argv[4])
    else:
        store_writes(store_dir, seed)


def store_writes(store_dir: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    store = ExamStore.open(store_dir)  # deliberately never closed: we get SIGKILLed
    store.upsert_patient("CRASH-1", name="KILL^NINE")
    exams = store.list_exams("CRASH-1", limit=1)
    exam_id = exams[0].id if exams else store.create_exam("CRASH-1").id
    cal = Calibration((Region(0, 0, 63, 63, 0.01, 0.01),), source="dicom")
    print("ready", flush=True)
    n = 0
    while True:
        n += 1
        h, w = int(rng.integers(16, 96)), int(rng.integers(16, 96))
        shape = (h, w, 3) if n % 2 else (h, w)
        if n % 3:
            frame = Frame(rng.integers(0, 256, shape, dtype=np.uint8), calibration=cal if n % 5 else None)
            item = store.add_image(exam_id, frame, source_uri=f"crash:{n}")
            digest = hashlib.sha256(frame.pixels.tobytes()).hexdigest()
        else:
            frames = [Frame(rng.integers(0, 256, shape, dtype=np.uint8), timestamp=i / 20)
                      for i in range(int(rng.integers(2, 6)))]
            item = store.add_clip(exam_id, frames, fps=20.0, source_uri=f"crash:{n}")
            digest = hashlib.sha256(b"".join(f.pixels.tobytes() for f in frames)).hexdigest()
        if n % 7 == 0:
            store.set_calibration(item.id, cal)
        print(f"saved {item.id} {item.kind} {item.sha256} {digest}", flush=True)


if __name__ == "__main__":
    main()
