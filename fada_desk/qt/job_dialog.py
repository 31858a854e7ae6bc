"""What every dialog that runs one job on a worker shares (export, model install).

:class:`JobDialogMixin` is mixed into a ``QDialog`` that has ``handle`` (the
:class:`~fada_desk.qt.workers.JobHandle` in flight or None), a ``progress`` bar with
range 0..1000 and a ``status`` label. It gives the one implementation of: "is a job
running", Cancel-or-Close, the progress bar and status line, error text in red, and a
non-blocking folder chooser.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import QFileDialog, QLineEdit

from fada_desk.core.cancel import Progress

ERROR_STYLE = "color: #c81e1e;"


class JobDialogMixin:
    """Subclasses implement ``_on_progress``, ``_on_result``, ``_on_error``, ``_on_cancelled``
    and ``_set_running(bool)``, and have ``runner`` (a JobRunner)."""

    handle: Any
    runner: Any
    progress: Any
    status: Any
    file_dialog: QFileDialog | None

    def run_job(self, fn: Callable[[Any], Any], name: str) -> Any:
        """Submit ``fn(token)`` on the dialog's runner, wired to its handlers; the handle."""
        self._set_running(True)  # type: ignore[attr-defined]
        h = self.runner.submit(fn, name=name)
        h.progress.connect(self._on_progress)  # type: ignore[attr-defined]
        h.result.connect(self._on_result)  # type: ignore[attr-defined]
        h.error.connect(self._on_error)  # type: ignore[attr-defined]
        h.cancelled.connect(self._on_cancelled)  # type: ignore[attr-defined]
        h.finished.connect(lambda: self._set_running(False))  # type: ignore[attr-defined]
        self.handle = h
        return h

    @property
    def running(self) -> bool:
        return self.handle is not None and not self.handle.outcome

    def cancel_running(self) -> bool:
        """Cancel the job in flight; True when there was one."""
        if self.running and self.handle is not None:
            self.handle.cancel()
            return True
        return False

    def cancel_or_close(self) -> None:
        if self.cancel_running():
            self.say("Cancelling…")
        else:
            self.reject()  # type: ignore[attr-defined]

    def show_progress(self, p: Progress) -> None:
        """Move the bar to ``p.fraction`` (when known)."""
        if p.fraction is not None:
            self.progress.setValue(round(max(0.0, min(1.0, p.fraction)) * 1000))

    def say(self, text: str, error: bool = False) -> None:
        self.status.setText(text)
        self.status.setStyleSheet(ERROR_STYLE if error else "")

    def fail(self, text: str) -> None:
        self.say(text, error=True)

    def choose_folder(self, title: str, edit: QLineEdit) -> QFileDialog:
        """A non-blocking folder chooser that fills ``edit`` when accepted."""
        dlg = QFileDialog(self, title, edit.text() or str(Path.home()))  # type: ignore[call-overload]
        dlg.setFileMode(QFileDialog.FileMode.Directory)
        dlg.setOption(QFileDialog.Option.ShowDirsOnly, True)
        dlg.fileSelected.connect(edit.setText)
        self.file_dialog = dlg
        dlg.open()
        return dlg
