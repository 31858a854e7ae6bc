"""Small dialogs of the live view: capture device, stream URL, calibration distance.

All are opened with ``open()`` (window-modal, no nested event loop) and report
through ``accepted``; values are read with ``selection()`` / ``value()``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from fada_desk.qt.util import dialog_buttons

RESOLUTIONS: tuple[tuple[str, tuple[int, int] | None], ...] = (
    ("Device default", None),
    ("640 × 480 (VGA)", (640, 480)),
    ("720 × 576 (PAL)", (720, 576)),
    ("800 × 600", (800, 600)),
    ("1024 × 768", (1024, 768)),
    ("1280 × 720 (720p)", (1280, 720)),
    ("1280 × 1024", (1280, 1024)),
    ("1920 × 1080 (1080p)", (1920, 1080)),
)
FPS_CHOICES: tuple[tuple[str, float | None], ...] = (
    ("Device default", None), ("25", 25.0), ("30", 30.0), ("50", 50.0), ("60", 60.0),
)
FOURCC_CHOICES: tuple[tuple[str, str | None], ...] = (
    ("Device default", None), ("MJPG (compressed, high resolutions)", "MJPG"),
    ("YUYV (uncompressed)", "YUYV"), ("NV12", "NV12"), ("H264", "H264"),
)
STREAM_SCHEMES = ("udp", "rtp", "rtsp", "rtmp", "http", "https", "srt", "tcp")


@dataclass(frozen=True)
class DeviceChoice:
    uri: str
    options: dict[str, Any]
    label: str


class DeviceDialog(QDialog):
    """Pick a capture device and its mode. ``devices`` as returned by ``list_devices()``."""

    def __init__(self, devices: Sequence[Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open capture device")
        self._devices = list(devices)
        form = QFormLayout()
        self.device_combo = QComboBox()
        for d in self._devices:
            name = getattr(d, "name", "") or f"Device {getattr(d, 'index', '?')}"
            path = getattr(d, "path", "")
            self.device_combo.addItem(f"{name}" + (f" ({path})" if path else ""))
        self.resolution_combo = QComboBox()
        for text, _ in RESOLUTIONS:
            self.resolution_combo.addItem(text)
        self.fps_combo = QComboBox()
        for text, _ in FPS_CHOICES:
            self.fps_combo.addItem(text)
        self.fourcc_combo = QComboBox()
        for text, _ in FOURCC_CHOICES:
            self.fourcc_combo.addItem(text)
        form.addRow("Device", self.device_combo)
        form.addRow("Resolution", self.resolution_combo)
        form.addRow("Frame rate", self.fps_combo)
        form.addRow("Pixel format", self.fourcc_combo)
        self.buttons = dialog_buttons(self)
        lay = QVBoxLayout(self)
        if not self._devices:
            note = QLabel("No capture device found. Connect the scanner's video output "
                          "(HDMI/SDI/S-Video grabber) and try again.")
            note.setWordWrap(True)
            lay.addWidget(note)
            self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(False)
        lay.addLayout(form)
        lay.addWidget(self.buttons)

    def selection(self) -> DeviceChoice | None:
        i = self.device_combo.currentIndex()
        if i < 0 or i >= len(self._devices):
            return None
        dev = self._devices[i]
        options: dict[str, Any] = {}
        res = RESOLUTIONS[self.resolution_combo.currentIndex()][1]
        if res is not None:
            options["width"], options["height"] = res
        fps = FPS_CHOICES[self.fps_combo.currentIndex()][1]
        if fps is not None:
            options["fps"] = fps
        fourcc = FOURCC_CHOICES[self.fourcc_combo.currentIndex()][1]
        if fourcc is not None:
            options["fourcc"] = fourcc
        backend = getattr(dev, "backend", "")
        if backend:  # open it through the driver API that enumerated it (DirectShow vs Media Foundation)
            options["backend"] = backend
        return DeviceChoice(f"device:{getattr(dev, 'index', i)}", options, self.device_combo.currentText())


def validate_stream_url(text: str) -> str:
    """The cleaned URL, or raise ValueError with a one-line reason."""
    url = text.strip()
    if not url:
        raise ValueError("Enter a stream address, e.g. udp://0.0.0.0:5000 or rtsp://scanner/live.")
    parsed = urlparse(url)
    if parsed.scheme.lower() not in STREAM_SCHEMES:
        raise ValueError(f"Unsupported stream type {parsed.scheme or '(none)'!r}; "
                         f"use one of {', '.join(STREAM_SCHEMES)}.")
    if not parsed.netloc:
        raise ValueError("The stream address has no host (e.g. udp://127.0.0.1:5000).")
    return url


class StreamUrlDialog(QDialog):
    """Enter a network stream address; validated before accepting."""

    def __init__(self, last_url: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open stream")
        self.url_edit = QLineEdit(last_url)
        self.url_edit.setPlaceholderText("udp://0.0.0.0:5000  ·  rtsp://host/stream  ·  http://host/video")
        self.error_label = QLabel()
        self.error_label.setStyleSheet("color: #c62828")
        self.buttons = dialog_buttons(self)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("Stream address:"))
        lay.addWidget(self.url_edit)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)
        self._url = ""

    def accept(self) -> None:
        try:
            self._url = validate_stream_url(self.url_edit.text())
        except ValueError as err:
            self.error_label.setText(str(err))
            return
        super().accept()

    def value(self) -> str:
        return self._url


class CalibrationDialog(QDialog):
    """Ask the known distance between the two points picked on the depth scale."""

    def __init__(self, pixel_length: float, default_mm: float = 10.0, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Calibrate")
        self.distance = QDoubleSpinBox()
        self.distance.setDecimals(2)
        self.distance.setRange(0.01, 1000.0)
        self.distance.setSuffix(" mm")
        self.distance.setValue(default_mm)
        self.pixel_length = pixel_length
        self.preview = QLabel()
        self.distance.valueChanged.connect(self._update_preview)
        form = QFormLayout()
        form.addRow("Distance between the points", self.distance)
        form.addRow("Length on screen", QLabel(f"{pixel_length:.1f} px"))
        form.addRow("Scale", self.preview)
        self.buttons = dialog_buttons(self)
        lay = QVBoxLayout(self)
        hint = QLabel("Type the known distance between the two marks you clicked on the depth scale.")
        hint.setWordWrap(True)
        lay.addWidget(hint)
        lay.addLayout(form)
        lay.addWidget(self.buttons)
        self._update_preview()

    def _update_preview(self) -> None:
        if self.pixel_length > 0:
            self.preview.setText(f"{self.distance.value() / self.pixel_length:.4f} mm/px")

    def value(self) -> float:
        return float(self.distance.value())
