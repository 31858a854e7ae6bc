"""The AI panel's model box: the process model's status and device, "Check again", "Settings…".

Shows a :class:`~fada_desk.app.model_service.ModelService` (status line in red
when no model can run, the device it runs on) and runs its slow work on the
panel's worker: verifying the files (:meth:`ModelBox.check_model`) and
switching to other files or device options (:meth:`ModelBox.apply_config`,
which frees a loaded model off the GUI thread). ``changed`` fires when the
service may have changed state. :func:`close_shared_on_quit` frees the
process-wide model when the application quits.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, Signal
from PySide6.QtWidgets import QGroupBox, QHBoxLayout, QVBoxLayout, QWidget

from fada_desk.app.model_service import ModelConfig, ModelService, ModelState, reset_shared_service
from fada_desk.core.errors import error_text
from fada_desk.qt.ai.run_views import named_button, named_label, style_error
from fada_desk.qt.ai.settings_dialog import AISettingsDialog, save_config
from fada_desk.qt.workers import JobHandle, JobRunner


class ModelBox(QGroupBox):
    """Model status + the model jobs of the AI panel (check, switch files / options)."""

    changed = Signal()  # the service may have a new state / message
    failed = Signal(str)  # one line: a switch of model failed

    def __init__(self, service: ModelService, runner: JobRunner, settings: Any = None,
                 parent: QWidget | None = None) -> None:
        super().__init__("Model", parent)
        self.service, self.runner, self.settings = service, runner, settings
        self.check_job: JobHandle | None = None
        self.settings_dialog: AISettingsDialog | None = None
        self.closed = False
        self.model_label = named_label("aiModelStatus")
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_label = named_label("aiDevice")
        self.settings_button = named_button("Settings…", "aiSettings")
        self.recheck_button = named_button("Check again", "aiRecheck")
        row = QHBoxLayout()
        row.addWidget(self.device_label, 1)
        row.addWidget(self.recheck_button)
        row.addWidget(self.settings_button)
        lay = QVBoxLayout(self)
        lay.addWidget(self.model_label)
        lay.addLayout(row)

    def show_service(self, busy: bool) -> None:
        """Show the service's state (``busy``: a run is going on, no model changes meanwhile)."""
        svc = self.service
        self.model_label.setText(svc.message)
        style_error(self.model_label, svc.state.bad)
        self.device_label.setText(svc.device_text())
        self.settings_button.setEnabled(not busy)
        self.recheck_button.setEnabled(not busy and svc.state not in (ModelState.LOADED, ModelState.LOADING))

    def check_model(self) -> JobHandle | None:
        """Locate and verify the model files in the worker (no load)."""
        if self.check_job is not None or self.closed:
            return self.check_job
        h = self.runner.submit(self.service.check, "ai-check-model")
        self.check_job = h
        h.finished.connect(self._check_finished)
        self.changed.emit()
        return h

    def _check_finished(self) -> None:
        self.check_job = None
        self.changed.emit()

    def open_settings(self, on_config: Callable[[ModelConfig], Any]) -> AISettingsDialog:
        """The settings dialog (non-blocking); ``on_config`` gets the accepted configuration."""
        dlg = AISettingsDialog(self.service.config, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.accepted.connect(lambda: on_config(dlg.config()))
        dlg.open()
        self.settings_dialog = dlg
        return dlg

    def apply_config(self, config: ModelConfig) -> JobHandle | None:
        """Save ``config`` and switch to it in the worker (then check again); None when nothing changes."""
        if self.settings is not None:
            save_config(self.settings, config)
        if config == self.service.config:
            return None
        service = self.service
        h = self.runner.submit(lambda _token: service.configure(config), "ai-configure", cancellable=False)
        h.result.connect(self._configured)
        h.error.connect(self._configure_failed)
        self.changed.emit()
        return h

    def _configured(self, changed: object) -> None:
        if changed and not self.closed:
            self.check_model()
        self.changed.emit()

    def _configure_failed(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self.failed.emit(f"Cannot switch the model: {text}")
        self.changed.emit()


_QUIT_HOOKED = False


def close_shared_on_quit() -> None:
    """Free the process's model when the application quits (hooked once)."""
    global _QUIT_HOOKED
    app = QCoreApplication.instance()
    if _QUIT_HOOKED or app is None:
        return
    app.aboutToQuit.connect(reset_shared_service)
    _QUIT_HOOKED = True
