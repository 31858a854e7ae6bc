"""Generic job worker: progress/result/error/cancel delivered on the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Generator

import pytest

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import SourceError, error_text
from fada_desk.qt.workers import JobRunner

pytestmark = pytest.mark.gui


@pytest.fixture
def runner(qtbot):  # noqa: ANN001, ANN201
    r = JobRunner(max_threads=2)
    yield r
    assert r.shutdown(timeout=5)
    r.deleteLater()


def test_generator_job_progress_and_result_on_gui_thread(qtbot, runner) -> None:  # noqa: ANN001
    gui = threading.get_ident()
    worker_threads: list[int] = []
    seen: list[tuple[str, object, int]] = []

    def job(token: CancelToken) -> Generator[Progress, None, int]:
        worker_threads.append(threading.get_ident())
        total = 0
        for i in range(5):
            total += i
            yield Progress(f"step {i}", (i + 1) / 5)
        return total

    h = runner.submit(job, "sum")
    h.progress.connect(lambda p: seen.append(("progress", p.fraction, threading.get_ident())))
    h.result.connect(lambda v: seen.append(("result", v, threading.get_ident())))
    with qtbot.waitSignal(h.finished, timeout=5000):
        pass
    assert worker_threads and worker_threads[0] != gui
    assert [s[1] for s in seen] == [0.2, 0.4, 0.6, 0.8, 1.0, 10]
    assert {s[2] for s in seen} == {gui}  # every callback ran on the GUI thread
    assert h.outcome == "result" and h.value == 10


def test_plain_function_job(qtbot, runner) -> None:  # noqa: ANN001
    h = runner.submit(lambda token: "done", "plain")
    with qtbot.waitSignal(h.result, timeout=5000) as blocker:
        pass
    assert blocker.args == ["done"]


@pytest.mark.parametrize("exc, text", [
    (SourceError("scan.dcm: truncated file"), "scan.dcm: truncated file"),
    (ZeroDivisionError("division by zero"), "Unexpected error: ZeroDivisionError: division by zero"),
])
def test_errors_are_delivered_not_raised(qtbot, runner, exc, text) -> None:  # noqa: ANN001
    def job(token: CancelToken) -> Generator[Progress, None, None]:
        yield Progress("about to fail")
        raise exc

    h = runner.submit(job, "failing")
    with qtbot.waitSignal(h.error, timeout=5000) as blocker:
        pass
    assert blocker.args[0] is exc
    assert error_text(blocker.args[0]) == text
    assert h.outcome == "error"


def test_cancel_stops_a_running_job(qtbot, runner) -> None:  # noqa: ANN001
    started = threading.Event()
    steps: list[int] = []
    closed: list[bool] = []

    def job(token: CancelToken) -> Generator[Progress, None, str]:
        started.set()
        try:
            for i in range(10_000):
                steps.append(i)
                token.wait(0.01)
                yield Progress(f"{i}")
        finally:
            closed.append(True)  # the generator is closed, its cleanup runs
        return "finished anyway"

    h = runner.submit(job, "long")
    results: list[object] = []
    h.result.connect(results.append)
    assert started.wait(5)
    with qtbot.waitSignal(h.cancelled, timeout=5000):
        h.cancel()
    assert not results
    assert closed == [True]
    assert len(steps) < 10_000
    assert h.outcome == "cancelled"


def test_serial_runner_keeps_submission_order(qtbot) -> None:  # noqa: ANN001
    r = JobRunner(max_threads=1)
    order: list[int] = []
    handles = [r.submit(lambda token, i=i: order.append(i) or i, f"j{i}") for i in range(20)]
    with qtbot.waitSignal(handles[-1].finished, timeout=5000):
        pass
    assert order == list(range(20))
    assert r.shutdown(5)
    with pytest.raises(RuntimeError):
        r.submit(lambda token: None)
    r.deleteLater()


def test_shutdown_waits_for_running_jobs(qtbot) -> None:  # noqa: ANN001
    r = JobRunner(max_threads=1)
    release = threading.Event()
    done: list[bool] = []

    def job(token: CancelToken) -> None:
        release.wait(5)
        done.append(True)

    r.submit(job, "blocking")
    threading.Timer(0.1, release.set).start()
    assert r.shutdown(timeout=5, cancel=False)
    assert done == [True]
    r.deleteLater()
