"""One writer thread and several reader threads on one store (the GUI's worker pattern)."""

from __future__ import annotations

import threading

import numpy as np

from fada_desk.core.frame import Frame
from fada_desk.storage import Exam, ExamStore

N_ITEMS = 40


def test_readers_see_consistent_data_while_writing(store: ExamStore, exam: Exam) -> None:
    errors: list[BaseException] = []
    done = threading.Event()
    seen_counts: list[list[int]] = [[] for _ in range(3)]

    def writer() -> None:
        try:
            for i in range(N_ITEMS):
                px = np.full((16, 16, 3) if i % 2 else (16, 16), i, np.uint8)
                if i % 5 == 4:
                    store.add_clip(exam.id, [Frame(px), Frame(px)], 10.0, meta={"value": i})
                else:
                    store.add_image(exam.id, Frame(px), meta={"value": i})
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            done.set()

    def reader(slot: int) -> None:
        try:
            while True:
                finished = done.is_set()
                items = store.list_items(exam.id)
                (summary,) = store.list_exams()
                assert summary.n_items >= len(items)  # later snapshot never sees fewer
                seen_counts[slot].append(len(items))
                for item in items[-3:]:
                    for f in store.iter_clip(item.id):
                        assert (f.pixels == item.meta["value"]).all()
                if finished:
                    return
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    readers = [threading.Thread(target=reader, args=(k,)) for k in range(3)]
    threads = [threading.Thread(target=writer), *readers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    for counts in seen_counts:
        assert counts == sorted(counts) and counts[-1] == N_ITEMS
    assert [i.meta["value"] for i in store.list_items(exam.id)] == list(range(N_ITEMS))
    assert store.check() == []
