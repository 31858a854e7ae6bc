"""AI settings: which model folder, CPU/GPU layers, threads. Stored in the app settings (ini)."""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QWidget,
)

from fada_desk.app.model_service import ModelConfig

KEY_DIR, KEY_GPU, KEY_THREADS = "ai/model_dir", "ai/n_gpu_layers", "ai/n_threads"


def _int_or_none(value: Any) -> int | None:
    if value in (None, ""):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def load_config(settings: Any) -> ModelConfig:
    """The model configuration saved in ``settings`` (a QSettings)."""
    return ModelConfig(str(settings.value(KEY_DIR, "") or ""), _int_or_none(settings.value(KEY_GPU, "")),
                       _int_or_none(settings.value(KEY_THREADS, "")))


def save_config(settings: Any, config: ModelConfig) -> None:
    settings.setValue(KEY_DIR, config.model_dir)
    settings.setValue(KEY_GPU, "" if config.n_gpu_layers is None else config.n_gpu_layers)
    settings.setValue(KEY_THREADS, "" if config.n_threads is None else config.n_threads)
    settings.sync()


class AISettingsDialog(QDialog):
    """Edit a :class:`ModelConfig`. "Automatic" leaves the choice to the model manager / backend."""

    def __init__(self, config: ModelConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aiSettingsDialog")
        self.setWindowTitle("AI model settings")
        self.folder = QLineEdit(config.model_dir)
        self.folder.setObjectName("aiModelFolder")
        self.folder.setPlaceholderText("automatic: the installed FADA model set")
        browse = QPushButton("Browse…")
        browse.clicked.connect(self.browse)
        row = QHBoxLayout()
        row.addWidget(self.folder, 1)
        row.addWidget(browse)

        self.gpu_auto = QCheckBox("Automatic (all layers on the GPU when one is usable)")
        self.gpu_auto.setChecked(config.n_gpu_layers is None)
        self.gpu_layers = QSpinBox()
        self.gpu_layers.setObjectName("aiGpuLayers")
        self.gpu_layers.setRange(-1, 999)
        self.gpu_layers.setSpecialValueText("all (-1)")
        self.gpu_layers.setToolTip("Layers offloaded to the GPU: 0 = CPU only, -1 = all")
        self.gpu_layers.setValue(config.n_gpu_layers if config.n_gpu_layers is not None else -1)
        self.gpu_layers.setEnabled(config.n_gpu_layers is not None)
        self.gpu_auto.toggled.connect(lambda on: self.gpu_layers.setEnabled(not on))

        self.threads = QSpinBox()
        self.threads.setObjectName("aiThreads")
        self.threads.setRange(0, 256)
        self.threads.setSpecialValueText("automatic (physical cores)")
        self.threads.setValue(config.n_threads or 0)

        form = QFormLayout(self)
        form.addRow("Model folder", row)
        form.addRow(QLabel("Install a model set with: fada-desk models install PATH"))
        form.addRow("GPU", self.gpu_auto)
        form.addRow("GPU layers", self.gpu_layers)
        form.addRow("CPU threads", self.threads)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def browse(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder with the model and mmproj GGUF files",
                                                self.folder.text())
        if path:
            self.folder.setText(path)

    def config(self) -> ModelConfig:
        return ModelConfig(self.folder.text().strip(),
                           None if self.gpu_auto.isChecked() else int(self.gpu_layers.value()),
                           int(self.threads.value()) or None)
