"""CineBuffer: bounded by seconds and bytes, thread-safe, scrubbable, exportable."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from fada_desk.core.cine import CineBuffer
from fada_desk.core.frame import Frame


def _frame(value: int, shape: tuple[int, ...] = (4, 5)) -> Frame:
    return Frame(np.full(shape, value % 256, np.uint8), index=value, timestamp=float(value))


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_time_bound_keeps_last_seconds() -> None:
    clock = FakeClock()
    cine = CineBuffer(max_seconds=1.0, max_bytes=10**9, clock=clock)
    for i in range(50):  # 50 frames at 20 fps = 2.45 s
        cine.append(_frame(i))
        clock.t += 0.05
    # newest arrival 102.45: entries with arrival >= 101.45 remain -> frames 29..49
    assert len(cine) == 21
    assert cine.get(0).index == 29
    assert cine.get(-1).index == 49
    assert cine.duration == pytest.approx(1.0)
    assert cine.fps() == pytest.approx(20.0)
    assert cine.evicted == 29


def test_byte_bound() -> None:
    cine = CineBuffer(max_seconds=1000, max_bytes=3 * 20)  # three 4x5 grey frames
    for i in range(10):
        cine.append(_frame(i), arrival=float(i))
    assert len(cine) == 3
    assert cine.nbytes == 60
    assert [f.index for f in cine.export()] == [7, 8, 9]


def test_newest_frame_kept_even_when_larger_than_budget() -> None:
    cine = CineBuffer(max_seconds=10, max_bytes=10)
    cine.append(_frame(1, (10, 10)), arrival=0.0)
    cine.append(_frame(2, (10, 10)), arrival=0.1)
    assert len(cine) == 1 and cine.get(0).index == 2


def test_index_access_seq_and_export_range() -> None:
    cine = CineBuffer(max_seconds=1000, max_bytes=5 * 20)
    seqs = [cine.append(_frame(i), arrival=float(i)) for i in range(8)]
    assert seqs == list(range(8))
    assert cine.first_seq == 3
    assert cine.index_of_seq(5) == 2
    assert cine.index_of_seq(1) is None  # evicted
    assert [f.index for f in cine.export(1, 4)] == [4, 5, 6]
    assert [f.index for f in cine.export(-2)] == [6, 7]
    assert cine.entry(0).seq == 3
    with pytest.raises(IndexError):
        cine.get(5)
    with pytest.raises(ValueError, match="empty cine range"):
        cine.export(4, 4)
    # frames are shared, not copied (no hidden memory blow-up)
    assert cine.get(0).pixels is cine.export(0, 1)[0].pixels


def test_set_limits_evicts_and_validates() -> None:
    cine = CineBuffer(max_seconds=100, max_bytes=10**6)
    for i in range(10):
        cine.append(_frame(i), arrival=float(i))
    cine.set_limits(max_seconds=2.0)
    assert [f.index for f in cine.export()] == [7, 8, 9]
    with pytest.raises(ValueError):
        cine.set_limits(max_bytes=0)
    with pytest.raises(ValueError):
        CineBuffer(max_seconds=0)
    cine.clear()
    assert len(cine) == 0 and cine.nbytes == 0 and cine.fps() is None


def test_concurrent_writer_and_readers_stay_consistent() -> None:
    cine = CineBuffer(max_seconds=1000, max_bytes=50 * 20)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        for i in range(5000):
            cine.append(_frame(i), arrival=float(i))
        stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                entries = cine.snapshot()
                # consistent snapshot: consecutive sequence numbers, bytes within budget
                seqs = [e.seq for e in entries]
                assert seqs == list(range(seqs[0], seqs[0] + len(seqs))) if seqs else True
                assert sum(e.nbytes for e in entries) <= 50 * 20
                if entries:
                    frames = cine.export()
                    assert len(frames) >= 1
        except BaseException as err:  # noqa: BLE001
            errors.append(err)

    threads = [threading.Thread(target=reader) for _ in range(2)] + [threading.Thread(target=writer)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(cine) == 50
    assert cine.get(-1).index == 4999
