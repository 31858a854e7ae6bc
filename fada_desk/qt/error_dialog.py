"""Unhandled errors in the GUI: logged without patient data, shown with copyable details, app keeps running.

:class:`ErrorReporter` replaces ``sys.excepthook`` (what PySide6 calls for an
exception escaping a slot, a timer callback or a virtual like ``paintEvent``)
and ``threading.excepthook`` (a Python thread dying). For each error it

1. writes the traceback to the application log (``fada_desk.core.logging_setup``:
   the handler's filter hides patient names / IDs and DICOM person names);
2. shows an :class:`ErrorDialog` on the GUI thread (queued, never from inside
   the failing paint or slot): the one-line message, where the log is, and the
   details - versions, thread, traceback, redacted the same way because they
   are meant to be pasted into a support request - in a read-only box with
   "Copy details".

The same error repeating (a paint event failing 60 times a second) opens no
new dialog: the open one counts the repeats and the log gets one line each.
KeyboardInterrupt goes to the previous hook. The event loop is never left:
the workstation keeps running.
"""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.errors import error_text
from fada_desk.core.logging_setup import REDACTOR, PhiRedactor, current_log_file

log = logging.getLogger("fada_desk.unhandled")
REPEAT_WINDOW_S = 5.0


class ErrorDialog(QDialog):
    """The message, the log's location and the details in a read-only box with "Copy details"."""

    def __init__(self, summary: str, details: str, log_file: Path | None,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Unexpected error")
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, False)
        self._details = details
        self._repeats = 0
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        self.summary = QLabel(summary)
        self.summary.setWordWrap(True)
        self.summary.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        where = f"Details were written to the log: {log_file}" if log_file else "Details are below."
        self.hint = QLabel("fada_desk keeps running; what was saved is safe. If this happens again, "
                           f"send the details to support. {where}")
        self.hint.setWordWrap(True)
        self.repeats = QLabel("")
        self.repeats.setVisible(False)
        self.text = QPlainTextEdit(details)
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.text.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.text.setMinimumSize(560, 220)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = QPushButton("Copy details")
        buttons.addButton(self.copy_button, QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self.copy_details)
        buttons.rejected.connect(self.reject)
        top = QHBoxLayout()
        top.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        top.addWidget(self.summary, 1)
        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.hint)
        layout.addWidget(self.repeats)
        layout.addWidget(self.text, 1)
        layout.addWidget(buttons)

    def details(self) -> str:
        return self._details

    def copy_details(self) -> None:
        QGuiApplication.clipboard().setText(self._details)
        self.copy_button.setText("Copied")

    def add_repeat(self, summary: str) -> None:
        """Another error while this dialog is open: count it instead of opening a new dialog."""
        self._repeats += 1
        same = summary == self.summary.text()
        what = "the same error" if same else "more errors"
        self.repeats.setText(f"{self._repeats} time(s) {what} since (see the log).")
        self.repeats.setVisible(True)


class ErrorReporter(QObject):
    """Installs the hooks; logs each unhandled error and shows it (see the module doc)."""

    _post = Signal(str, str)  # summary, details: queued onto the GUI thread
    reported = Signal(str)  # the summary, after the dialog is up (tests, status bar)

    def __init__(self, window: QWidget | None = None, redactor: PhiRedactor = REDACTOR) -> None:
        super().__init__(window)
        self._window = window
        self._redactor = redactor
        self._prev_sys: Any = None
        self._prev_thread: Any = None
        self._installed = False
        self._last: tuple[Any, float] = (None, 0.0)
        self._lock = threading.Lock()
        self.dialog: ErrorDialog | None = None
        self.count = 0
        self._post.connect(self._show, Qt.ConnectionType.QueuedConnection)

    def install(self) -> ErrorReporter:
        if not self._installed:
            self._prev_sys, self._prev_thread = sys.excepthook, threading.excepthook
            sys.excepthook = self._sys_hook
            threading.excepthook = self._thread_hook
            self._installed = True
        return self

    def is_installed(self) -> bool:
        """Whether both hooks in place right now are this reporter's."""
        return sys.excepthook == self._sys_hook and threading.excepthook == self._thread_hook

    def uninstall(self) -> None:
        """Put the previous hooks back (only if ours are still the ones installed)."""
        if not self._installed:
            return
        if sys.excepthook == self._sys_hook:
            sys.excepthook = self._prev_sys
        if threading.excepthook == self._thread_hook:
            threading.excepthook = self._prev_thread
        self._installed = False

    def _sys_hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt) or not _alive(self):
            (self._prev_sys or sys.__excepthook__)(exc_type, exc, tb)
            return
        self.handle(exc_type, exc, tb, threading.current_thread().name)

    def _thread_hook(self, args: Any) -> None:
        if args.exc_type is SystemExit or not _alive(self):
            (self._prev_thread or threading.__excepthook__)(args)
            return
        name = args.thread.name if args.thread is not None else "?"
        self.handle(args.exc_type, args.exc_value, args.exc_traceback, name)

    def handle(self, exc_type: type[BaseException], exc: BaseException | None, tb: TracebackType | None,
               thread: str = "") -> None:
        """Log and show one unhandled error; callable from any thread, never raises."""
        try:
            if exc is None:
                exc = exc_type()
            summary = self._redactor.redact(error_text(exc))
            frame = traceback.extract_tb(tb)[-1:] if tb is not None else []
            key = (exc_type.__name__, str(exc)[:200], tuple((f.filename, f.lineno) for f in frame))
            with self._lock:
                self.count += 1
                repeat = self._last[0] == key and time.monotonic() - self._last[1] < REPEAT_WINDOW_S
                self._last = (key, time.monotonic())
            if repeat:
                log.error("Unhandled error again (thread %s): %s", thread, summary)
            else:
                log.error("Unhandled error (thread %s)", thread, exc_info=(exc_type, exc, tb))
            details = self._redactor.redact(_details(exc_type, exc, tb, thread))
            self._post.emit(summary, details)
        except Exception:  # noqa: BLE001 - the error handler must not fail in turn
            sys.__excepthook__(exc_type, exc or exc_type(), tb)

    def _show(self, summary: str, details: str) -> None:
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.add_repeat(summary)
        else:
            self.dialog = ErrorDialog(summary, details, current_log_file(), self._window)
            self.dialog.show()
        self.reported.emit(summary)


def _alive(obj: QObject) -> bool:
    try:
        import shiboken6

        return bool(shiboken6.isValid(obj))
    except ImportError:  # pragma: no cover - shiboken ships with PySide6
        return True


def _details(exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None, thread: str) -> str:
    from PySide6 import __version__ as pyside_version

    from fada_desk import __version__

    head = [
        f"fada_desk {__version__}, Python {platform.python_version()}, PySide6 {pyside_version}, "
        f"{platform.system()} {platform.release()}",
        f"time {time.strftime('%Y-%m-%d %H:%M:%S %z')}, thread {thread or '?'}",
        "",
    ]
    return "\n".join(head) + "".join(traceback.format_exception(exc_type, exc, tb))
