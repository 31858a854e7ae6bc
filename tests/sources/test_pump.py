"""FramePump: pacing, looping, freeze/seek/step, live path, errors, device loss, close."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from fada_desk.core.cancel import CancelToken
from fada_desk.core.cine import CineBuffer
from fada_desk.core.errors import Cancelled, SourceError
from fada_desk.core.frame import Frame
from fada_desk.sources.base import FrameSource, SourceInfo
from fada_desk.sources.memory import FrameListSource
from fada_desk.sources.pump import FramePump
from fada_desk.sources.pump_stats import PumpState
from fada_desk.sources.synthetic import SyntheticLiveSource, decode_stamp


def wait_until(pred: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.005)


def frames(n: int, shape: tuple[int, ...] = (6, 8)) -> list[Frame]:
    return [Frame(np.full(shape, i * 10 % 256, np.uint8), index=i, timestamp=i / 50) for i in range(n)]


def take_until(p: FramePump, pred: Callable[[Frame], bool], timeout: float = 10.0) -> Frame:
    got: list[Frame] = []

    def check() -> bool:
        f = p.take()
        if f is not None and pred(f):
            got.append(f)
            return True
        return False

    wait_until(check, timeout)
    return got[0]


@pytest.fixture
def pumps() -> Iterator[list[FramePump]]:
    made: list[FramePump] = []
    yield made
    for p in made:
        assert p.close(), "pump thread did not stop within 1 s"
        assert not p.thread.is_alive()


def test_file_source_plays_all_frames_in_order_at_its_fps(pumps: list[FramePump]) -> None:
    src = FrameListSource(frames(10), fps=50.0)
    p = FramePump(src, loop=False)
    pumps.append(p)
    t0 = time.monotonic()
    p.start()
    wait_until(lambda: p.state == PumpState.ENDED)
    elapsed = time.monotonic() - t0
    assert elapsed >= 9 / 50 - 0.005  # paced by the clock, never faster than the source fps
    assert [f.index for f in p.cine.export()] == list(range(10))
    st = p.stats()
    assert st.produced == 10 and st.published == 10 and st.position == 9
    assert st.latency_p99 is not None and st.latency_p99 >= 0
    assert p.take() is not None and p.current() is not None and p.current().index == 9  # type: ignore[union-attr]


def test_file_source_loops(pumps: list[FramePump]) -> None:
    p = FramePump(FrameListSource(frames(4), fps=200.0), loop=True).start()
    pumps.append(p)
    wait_until(lambda: p.stats().produced >= 10)
    p.freeze()
    idx = [f.index for f in p.cine.export()]
    assert idx[:10] == [0, 1, 2, 3, 0, 1, 2, 3, 0, 1]
    assert p.state == PumpState.FROZEN


def test_still_image_source_shows_one_frame_and_waits(pumps: list[FramePump]) -> None:
    p = FramePump(FrameListSource(frames(1), fps=None)).start()
    pumps.append(p)
    f = take_until(p, lambda f: True)
    assert f.index == 0
    wait_until(lambda: p.state == PumpState.PAUSED)
    assert p.stats().produced == 1


def test_freeze_seek_step_and_resume(pumps: list[FramePump]) -> None:
    p = FramePump(FrameListSource(frames(20), fps=100.0), loop=True).start()
    pumps.append(p)
    wait_until(lambda: p.stats().produced >= 3)
    p.freeze()
    assert p.frozen and not p.playing
    produced, in_cine = p.stats().produced, len(p.cine)
    p.seek(7)
    assert take_until(p, lambda f: f.index == 7).index == 7
    assert p.position == 7
    p.step(2)
    take_until(p, lambda f: f.index == 9)
    p.step(-100)  # clamped, no wrap
    take_until(p, lambda f: f.index == 0)
    p.seek(10**6)
    take_until(p, lambda f: f.index == 19)
    # scrubbing while frozen never feeds the cine buffer nor counts as produced
    assert p.stats().produced == produced and len(p.cine) == in_cine
    p.seek(4)
    take_until(p, lambda f: f.index == 4)
    p.unfreeze()
    take_until(p, lambda f: f.index == 6)  # resumes after the scrubbed position


def test_coalesced_seeks_show_the_newest(pumps: list[FramePump]) -> None:
    src = FrameListSource(frames(50), fps=None)
    p = FramePump(src).start()
    pumps.append(p)
    take_until(p, lambda f: f.index == 0)
    for i in range(1, 40):
        p.seek(i)
    take_until(p, lambda f: f.index == 39)


def test_seek_on_live_source_is_refused(pumps: list[FramePump]) -> None:
    p = FramePump(SyntheticLiveSource(64, 32, fps=100)).start()
    pumps.append(p)
    with pytest.raises(SourceError, match="cannot seek"):
        p.seek(3)
    with pytest.raises(SourceError, match="Freeze"):
        p.show_cine(0)


def test_live_source_flows_to_cine_and_display_and_freezes(pumps: list[FramePump]) -> None:
    src = SyntheticLiveSource(64, 32, fps=200, color=False)
    p = FramePump(src, cine=CineBuffer(max_seconds=60)).start()
    pumps.append(p)
    f = take_until(p, lambda f: True)
    stamp = decode_stamp(f.pixels)
    assert stamp is not None and stamp[1] == pytest.approx(f.timestamp)
    wait_until(lambda: p.stats().produced >= 30)
    assert p.state == PumpState.PLAYING
    p.freeze()
    frozen_at = src.slot.produced
    wait_until(lambda: src.slot.produced >= frozen_at + 3)  # a frame in flight at freeze() has landed
    n, taken = len(p.cine), p.stats().produced
    # The device keeps producing (its own counter advances); the frozen pump must not take it in.
    wait_until(lambda: src.slot.produced >= frozen_at + 20)
    assert len(p.cine) == n and p.stats().produced == taken
    oldest = p.show_cine(0)
    assert take_until(p, lambda f: True) is oldest
    numbers = [decode_stamp(e.frame.pixels)[0] for e in p.cine.snapshot()]  # type: ignore[index]
    assert numbers == sorted(numbers)
    st = p.stats()
    assert st.source_fps is not None and st.source_fps > 0
    assert st.display_latency_p50 is not None and st.display_latency_p50 >= 0
    p.unfreeze()
    wait_until(lambda: len(p.cine) > n)


def test_display_gets_latest_frame_and_counts_drops(pumps: list[FramePump]) -> None:
    p = FramePump(FrameListSource(frames(30), fps=1000.0), loop=False).start()
    pumps.append(p)
    wait_until(lambda: p.state == PumpState.ENDED)
    f = p.take()
    assert f is not None and f.index == 29  # latest wins
    assert p.take() is None  # nothing new, returns at once
    st = p.stats()
    assert st.displayed == 1
    assert st.dropped_display == 29


class FailingSource(FrameSource):
    kind = "failing"

    def __init__(self, n: int, bad: int, exc: BaseException) -> None:
        self._frames = frames(n)
        self._bad, self._exc = bad, exc

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("failing", "bad.avi", 8, 6, len(self._frames), 200.0)

    def read(self, index: int) -> Frame:
        if index == self._bad:
            raise self._exc
        return self._frames[index]


@pytest.mark.parametrize("exc", [SourceError("bad.avi: frame 5 is corrupt"),
                                 RuntimeError("decoder exploded")])
def test_read_error_becomes_state_and_message_not_a_crash(pumps: list[FramePump],
                                                          exc: BaseException) -> None:
    p = FramePump(FailingSource(10, 5, exc)).start()
    pumps.append(p)
    wait_until(lambda: p.state == PumpState.ERROR)
    assert ("corrupt" in p.message) if isinstance(exc, SourceError) else ("decoder exploded" in p.message)
    assert p.position == 4
    assert p.thread.is_alive()  # still serving seeks
    p.seek(2)
    wait_until(lambda: p.position == 2)
    assert p.state != PumpState.ERROR and p.message == ""


def test_first_frame_error(pumps: list[FramePump]) -> None:
    p = FramePump(FailingSource(3, 0, SourceError("bad.avi: cannot decode"))).start()
    pumps.append(p)
    wait_until(lambda: p.state == PumpState.ERROR)
    assert p.message == "bad.avi: cannot decode"


def test_device_reconnecting_and_lost(pumps: list[FramePump]) -> None:
    src = SyntheticLiveSource(32, 16, fps=200)
    p = FramePump(src).start()
    pumps.append(p)
    wait_until(lambda: p.stats().produced > 3)
    src.interrupt()
    assert p.state == PumpState.RECONNECTING
    src.restore()
    produced = p.stats().produced
    wait_until(lambda: p.stats().produced > produced)
    assert p.state == PumpState.PLAYING
    assert p.stats().reconnects == 1
    src.give_up()
    wait_until(lambda: p.state == PumpState.LOST)
    assert "device lost" in p.message
    p.play()  # cannot play a lost device; stays lost, no exception
    assert p.state == PumpState.LOST


class IterOnlyLive(FrameSource):
    """A live source without a slot: frames() blocks until closed (the worst case for close())."""

    kind = "iter"

    def __init__(self) -> None:
        self._closed = threading.Event()
        self.closed_by: str | None = None

    @classmethod
    def probe(cls, uri: str) -> int:
        return 0

    @property
    def info(self) -> SourceInfo:
        return SourceInfo("iter", "udp://x", 8, 6, None, 30.0, live=True)

    def frames(self, start: int = 0) -> Iterator[Frame]:
        yield frames(1)[0]
        self._closed.wait()  # blocked in the driver
        if False:  # pragma: no cover
            yield

    def close(self) -> None:
        self.closed_by = threading.current_thread().name
        self._closed.set()


def test_close_unblocks_a_live_source_stuck_in_frames() -> None:
    src = IterOnlyLive()
    p = FramePump(src).start()
    take_until(p, lambda f: True)
    t0 = time.monotonic()
    assert p.close(timeout=1.0)
    assert time.monotonic() - t0 < 1.5
    assert src.closed_by == threading.current_thread().name  # closed under the blocked pump thread
    assert p.state == PumpState.CLOSED


def test_stream_end_of_iter_only_live_is_lost(pumps: list[FramePump]) -> None:
    class Ending(IterOnlyLive):
        def frames(self, start: int = 0) -> Iterator[Frame]:
            yield frames(1)[0]

    p = FramePump(Ending()).start()
    pumps.append(p)
    wait_until(lambda: p.state == PumpState.LOST)
    assert "ended" in p.message


def test_close_joins_within_a_second_and_closes_the_source() -> None:
    src = SyntheticLiveSource(64, 32, fps=500)
    p = FramePump(src).start()
    wait_until(lambda: p.stats().produced > 5)
    t0 = time.monotonic()
    assert p.close(timeout=1.0)
    assert time.monotonic() - t0 < 1.2
    assert src.stats.state == "stopped"
    assert p.close()  # idempotent
    with pytest.raises(SourceError):
        p.submit(lambda s: 1).result(1)


def test_read_frames_runs_on_pump_thread(pumps: list[FramePump]) -> None:
    seen: list[str] = []

    class Recording(FrameListSource):
        def read(self, index: int) -> Frame:
            seen.append(threading.current_thread().name)
            return super().read(index)

    p = FramePump(Recording(frames(12), fps=None), name="pump-under-test").start()
    pumps.append(p)
    got = p.read_frames(3, 7)
    assert [f.index for f in got] == [3, 4, 5, 6]
    assert set(seen) == {"pump-under-test"}
    with pytest.raises(SourceError, match="too large"):
        p.read_frames(0, 12, max_bytes=5 * 48)
    with pytest.raises(SourceError, match="Empty"):
        p.read_frames(5, 5)
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        p.read_frames(0, 12, token=token)


def test_real_video_file_plays_every_frame_in_order(pumps: list[FramePump]) -> None:
    """The pump over the real OpenCV video source: all 30 frames, bit-equal to random access reads."""
    from pathlib import Path

    from fada_desk.sources import open_source

    tests = Path(__file__).resolve().parents[1]
    path = tests / "data" / "video" / "us_cine_sonosite_30f.mp4"
    if not path.exists():
        path = tests.parent.parent / "shared" / "data" / "video" / "us_cine_sonosite_30f.mp4"
    p = FramePump(open_source(path), loop=False).start()
    pumps.append(p)
    assert p.seekable and p.frame_count == 30 and p.fps is not None
    wait_until(lambda: p.state == PumpState.ENDED, timeout=30)
    played = p.cine.export()
    assert [f.index for f in played] == list(range(30))
    with open_source(path) as ref:
        for i in (0, 13, 29):
            assert np.array_equal(played[i].pixels, ref.read(i).pixels)
    p.seek(3)
    wait_until(lambda: p.position == 3)
    assert np.array_equal(p.current().pixels, played[3].pixels)  # type: ignore[union-attr]


def test_on_publish_wakes_the_consumer_and_a_broken_listener_does_not_stop_the_stream(
        pumps: list[FramePump], caplog: pytest.LogCaptureFixture) -> None:
    calls: list[str] = []

    def listener() -> None:
        calls.append(threading.current_thread().name)
        if len(calls) == 2:
            raise RuntimeError("listener bug")

    p = FramePump(FrameListSource(frames(6), fps=500.0), loop=False, on_publish=listener,
                  name="pump-wake").start()
    pumps.append(p)
    wait_until(lambda: p.state == PumpState.ENDED)
    assert len(calls) == 6 and set(calls) == {"pump-wake"}  # every frame, from the pump thread
    assert "on_publish callback failed" in caplog.text
