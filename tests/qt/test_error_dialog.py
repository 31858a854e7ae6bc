"""Unhandled errors in the GUI: a dialog with copyable details, a log without patient data, the app goes on."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QPushButton

from fada_desk.core.logging_setup import REDACTOR, shutdown_logging
from fada_desk.qt.app import create_window
from fada_desk.qt.main_window import MainWindow

# pytest-qt would turn the slot's exception into a test failure: here it is what is tested.
pytestmark = [pytest.mark.gui, pytest.mark.qt_no_exception_capture]

PHI = ("DOE", "Jane", "MRN-4711", "WHO^JOHN", "John")


@pytest.fixture()
def window(qtbot) -> Iterator[MainWindow]:  # noqa: ANN001
    hooks = (sys.excepthook, threading.excepthook)
    win = create_window(None, sample=False)
    qtbot.addWidget(win)
    try:
        yield win
    finally:
        win.error_reporter.uninstall()
        shutdown_logging()
        REDACTOR.clear()
        assert (sys.excepthook, threading.excepthook) == hooks  # uninstall put the previous hooks back


def _boom() -> None:
    raise RuntimeError("cannot draw the exam of Jane Doe (MRN-4711), referred by WHO^JOHN")


def _open_patient(win: MainWindow) -> None:
    win.examChanged.emit(SimpleNamespace(patient=SimpleNamespace(name="DOE^JANE", patient_id="MRN-4711")))


def test_an_error_in_a_slot_shows_copyable_details_and_logs_no_phi(qtbot, window: MainWindow,  # noqa: ANN001
                                                                    _isolated_user_dir: Path) -> None:
    _open_patient(window)
    button = QPushButton("boom", window)
    button.clicked.connect(_boom)
    reporter = window.error_reporter
    with qtbot.waitSignal(reporter.reported, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    dialog = reporter.dialog
    assert dialog is not None and dialog.isVisible()
    summary, details = dialog.summary.text(), dialog.details()
    assert summary.startswith("Unexpected error: RuntimeError: cannot draw the exam of <redacted>")
    assert "Traceback (most recent call last)" in details and "in _boom" in details
    assert "fada_desk" in details.splitlines()[0]  # versions for support
    assert dialog.text.isReadOnly() and dialog.text.toPlainText() == details
    dialog.copy_button.click()
    assert QGuiApplication.clipboard().text() == details

    log_file = _isolated_user_dir / "logs" / "fada_desk.log"
    text = log_file.read_text(encoding="utf-8")
    assert "Unhandled error (thread MainThread)" in text and "in _boom" in text
    assert "RuntimeError: cannot draw the exam of <redacted> (<redacted>), referred by <redacted>" in text
    for phi in PHI:
        assert phi.lower() not in text.lower(), phi
        assert phi.lower() not in (summary + details).lower(), phi

    # The app keeps running: the event loop serves the next timer and the window stays up.
    ran: list[bool] = []
    QTimer.singleShot(0, lambda: ran.append(True))
    qtbot.waitUntil(lambda: bool(ran), timeout=2000)
    assert window.isVisible()

    # The same error again: counted in the open dialog, one line in the log, no second dialog.
    with qtbot.waitSignal(reporter.reported, timeout=5000):
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert reporter.dialog is dialog and reporter.count == 2
    assert dialog.repeats.isVisible() and "1 time(s) the same error" in dialog.repeats.text()
    assert "Unhandled error again (thread MainThread)" in log_file.read_text(encoding="utf-8")


def test_an_error_in_a_python_thread_is_shown_on_the_gui_thread(qtbot, window: MainWindow,  # noqa: ANN001
                                                                _isolated_user_dir: Path) -> None:
    _open_patient(window)
    worker = threading.Thread(target=_boom, name="pump-test")
    with qtbot.waitSignal(window.error_reporter.reported, timeout=5000):
        worker.start()
        worker.join()
    dialog = window.error_reporter.dialog
    assert dialog is not None and dialog.isVisible() and "thread pump-test" in dialog.details()
    text = (_isolated_user_dir / "logs" / "fada_desk.log").read_text(encoding="utf-8")
    assert "Unhandled error (thread pump-test)" in text and "MRN-4711" not in text
