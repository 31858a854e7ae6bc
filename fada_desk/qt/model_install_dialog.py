"""Settings ▸ Install model from folder / USB stick…: the model store's install, in the GUI.

The dialog runs :func:`fada_desk.inference.model_store.install.install` (a
generator job: every file's header, size and SHA-256 checked before anything is
copied, each copy hashed again while written and only renamed into place when it
matches) on its own worker, so the window stays usable while gigabytes copy.
The bar and line follow the job's progress; Cancel stops it at the next chunk
(a half-copied file never looks installed); the result shows the set's status
line ("…: ready, checksums verified") and each file's size and SHA-256.
:attr:`ModelInstallDialog.installed` fires with the new set's status, so the
window can have the AI panel check its model again.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.cancel import CancelToken, Job, Progress
from fada_desk.core.errors import error_text
from fada_desk.core.fileio import size_text
from fada_desk.qt.job_dialog import JobDialogMixin
from fada_desk.qt.workers import JobHandle, JobRunner


def install_job(folder: Path, name: str | None, cancel: CancelToken) -> Job[Any]:
    """The model store's install of ``folder`` (imported here: the window opens without it)."""
    from fada_desk.inference.model_store.install import install

    return (yield from install(folder, name or None, None, cancel))


class ModelInstallDialog(JobDialogMixin, QDialog):
    """Choose a folder, install it with progress, cancel, and the checksum result."""

    installed = Signal(object)  # the installed set's SetStatus

    def __init__(self, folder: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("modelInstallDialog")
        self.setWindowTitle("Install model from folder / USB stick")
        self.runner = JobRunner(max_threads=1, parent=self)
        self.handle: JobHandle | None = None
        self.status_result: Any = None
        self.file_dialog: QFileDialog | None = None
        intro = QLabel("Choose the folder holding the FADA model GGUF and its mmproj GGUF (for example on a "
                       "USB stick). Each file is checked (header, size, SHA-256) before it is copied, and the "
                       "copy is verified again.")
        intro.setWordWrap(True)
        self.folder_edit = QLineEdit(folder)
        self.folder_edit.setObjectName("modelFolder")
        self.folder_edit.setPlaceholderText("/media/usb/fada-model")
        self.browse_button = QPushButton("Browse…")
        self.browse_button.setObjectName("modelBrowse")
        self.browse_button.clicked.connect(self.browse)
        self.name_edit = QLineEdit()
        self.name_edit.setObjectName("modelSetName")
        self.name_edit.setPlaceholderText("from the folder's manifest, else the folder's name")
        row = QHBoxLayout()
        row.addWidget(self.folder_edit, 1)
        row.addWidget(self.browse_button)
        form = QFormLayout()
        form.addRow("Folder", row)
        form.addRow("Name", self.name_edit)
        self.progress = QProgressBar()
        self.progress.setObjectName("modelInstallProgress")
        self.progress.setRange(0, 1000)
        self.status = QLabel("")
        self.status.setObjectName("modelInstallStatus")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.files_label = QLabel("")
        self.files_label.setObjectName("modelInstallFiles")
        self.files_label.setWordWrap(True)
        self.files_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.install_button = QPushButton("Install")
        self.install_button.setObjectName("modelInstall")
        self.install_button.setDefault(True)
        self.install_button.clicked.connect(self.start)
        self.close_button = QPushButton("Close")
        self.close_button.setObjectName("modelInstallClose")
        self.close_button.clicked.connect(self.cancel_or_close)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.install_button)
        buttons.addWidget(self.close_button)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        lay.addWidget(self.files_label)
        lay.addLayout(buttons)
        self.resize(560, 300)

    def browse(self) -> QFileDialog:
        """A non-blocking folder chooser (fills the folder box)."""
        return self.choose_folder("Model folder", self.folder_edit)

    def start(self) -> JobHandle | None:
        """Install the chosen folder in the worker; None with a message when refused."""
        if self.running:
            return self.handle
        text = self.folder_edit.text().strip()
        if not text:
            self.fail("Choose the folder with the model files.")
            return None
        folder = Path(text).expanduser()
        if not folder.is_dir():
            self.fail(f"{folder} is not a folder.")
            return None
        name = self.name_edit.text().strip() or None
        self.status_result = None
        self.files_label.setText("")
        self.progress.setValue(0)
        self.say(f"Checking the model files in {folder}…")
        return self.run_job(lambda token: install_job(folder, name, token), "model-install")

    def _set_running(self, running: bool) -> None:
        for w in (self.folder_edit, self.browse_button, self.name_edit, self.install_button):
            w.setEnabled(not running)
        self.close_button.setText("Cancel" if running else "Close")

    def _on_progress(self, p: Progress) -> None:
        self.show_progress(p)
        if p.message:
            self.say(p.message[:1].upper() + p.message[1:] + "…" * (p.message != "installed"))

    def _on_result(self, status: Any) -> None:
        self.status_result = status
        self.progress.setValue(1000)
        ok = bool(getattr(status, "ok", False))
        self.say(f"Installed in {status.directory}. {status.message}.", error=not ok)
        lines = [f"{'✓' if f.ok else '✗'} {html.escape(f.role)}: {html.escape(f.path.name if f.path else '-')}, "
                 f"{size_text(f.size)}, SHA-256 <tt>{html.escape(f.sha256 or 'not computed')}</tt>"
                 for f in status.files]
        self.files_label.setText("<br>".join(lines))
        self.installed.emit(status)

    def _on_error(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self.progress.setValue(0)
        self.fail(f"Not installed: {text}")

    def _on_cancelled(self) -> None:
        self.progress.setValue(0)
        self.say("Install cancelled: the model set was not installed.")

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop an install in flight (the window is closing) and wait for the worker."""
        self.runner.shutdown(timeout, cancel=True)

    def done(self, result: int) -> None:  # noqa: D401 - Qt API
        """Closing while an install runs cancels it (the copy stops at its next chunk)."""
        self.cancel_running()
        super().done(result)
