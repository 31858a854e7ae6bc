"""GUI test fixtures: a real main window, data files, and a leak check on every test.

The leak check fails a test that leaves behind a Python thread it started
(pump, source reader), a Qt worker still running, or an active timer created
through ``fada_desk.qt.util.tracked_timer``: a window that does not clean up
would otherwise keep a capture device busy or grab frames after closing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SHARED = TESTS.parent.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    """tests/data/<parts>, falling back to the shared data dir (same layout)."""
    local = TESTS.joinpath("data", *parts)
    return local if local.exists() else SHARED.joinpath(*parts)


def _threads() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if not isinstance(t, threading._DummyThread)}  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _no_leaked_threads_or_timers(request: pytest.FixtureRequest) -> Iterator[None]:
    before = _threads()
    yield
    from fada_desk.qt.util import active_tracked_timers
    from fada_desk.qt.workers import live_runners

    deadline = time.monotonic() + 3.0
    while True:
        leaked = [t for t in _threads() - before if t.is_alive()]
        busy = [r for r in live_runners() if _runner_busy(r)]
        timers = active_tracked_timers()
        if not (leaked or busy or timers) or time.monotonic() > deadline:
            break
        _process_events()
        time.sleep(0.02)
    assert not leaked, f"threads left running after the test: {[t.name for t in leaked]}"
    assert not busy, "Qt worker jobs still running after the test"
    assert not timers, f"{len(timers)} tracked QTimer(s) still active after the test"


def _runner_busy(runner: object) -> bool:
    try:
        return bool(runner.busy) or runner.pool.activeThreadCount() > 0  # type: ignore[attr-defined]
    except RuntimeError:  # C++ side already deleted
        return False


def _process_events() -> None:
    from PySide6.QtWidgets import QApplication

    if QApplication.instance() is not None:
        QApplication.processEvents()


@pytest.fixture
def window(qtbot):  # noqa: ANN001, ANN201 - pytest-qt types
    from fada_desk.qt.main_window import MainWindow

    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1000, 760)
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


@pytest.fixture
def wait_for(qtbot) -> Callable[..., None]:  # noqa: ANN001
    """``wait_for(pred, timeout_s)``: process events until pred() is true (fails otherwise)."""
    def _wait(pred: Callable[[], object], timeout: float = 30.0) -> None:
        qtbot.waitUntil(lambda: bool(pred()), timeout=int(timeout * 1000))

    return _wait


@pytest.fixture
def data_path() -> Callable[..., Path]:
    return data_file
