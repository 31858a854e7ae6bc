"""The File menu's ways to pick a source: a file, a folder, a capture device, a stream URL.

Each ends in ``open_uri(uri, options)`` (:meth:`AcquisitionController.open_uri
<fada_desk.qt.acquisition.AcquisitionController.open_uri>`), which opens the
source in a worker. The last folder and stream address are remembered in the
settings. Listing capture devices can take seconds (Windows probes each
driver), so it runs as a job and the device dialog opens when it answers.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtWidgets import QFileDialog, QMainWindow

from fada_desk.core.cancel import CancelToken
from fada_desk.core.errors import error_text
from fada_desk.qt.dialogs import DeviceDialog, StreamUrlDialog
from fada_desk.qt.util import open_dialog
from fada_desk.qt.workers import JobHandle, JobRunner

FILE_FILTER = ("Ultrasound media (*.dcm *.DCM *.dicom *.mp4 *.avi *.mov *.mkv *.m4v *.png *.jpg *.jpeg "
               "*.bmp *.tif *.tiff);;DICOM (*.dcm *.dicom);;Video (*.mp4 *.avi *.mov *.mkv *.m4v);;"
               "Images (*.png *.jpg *.jpeg *.bmp *.tif *.tiff);;All files (*)")

OpenUri = Callable[..., Any]  # open_uri(uri, options=None)


class SourcePicker(QObject):
    """File / folder / device / stream pickers; the open dialogs stay reachable for tests."""

    def __init__(self, window: QMainWindow, settings: QSettings, jobs: JobRunner, open_uri: OpenUri,
                 show_error: Callable[[str, str], Any]) -> None:
        super().__init__(window)
        self._window = window
        self._settings = settings
        self._jobs = jobs
        self._open_uri = open_uri
        self._show_error = show_error
        self.device_dialog: DeviceDialog | None = None
        self.stream_dialog: StreamUrlDialog | None = None

    def choose_file(self) -> None:
        start = str(self._settings.value("paths/last_dir", str(Path.home())))
        path, _ = QFileDialog.getOpenFileName(self._window, "Open image, video or DICOM", start, FILE_FILTER)
        if path:
            self._settings.setValue("paths/last_dir", str(Path(path).parent))
            self._open_uri(path)

    def choose_folder(self) -> None:
        start = str(self._settings.value("paths/last_dir", str(Path.home())))
        path = QFileDialog.getExistingDirectory(self._window, "Open a folder of images", start)
        if path:
            self._settings.setValue("paths/last_dir", path)
            self._open_uri(path)

    def choose_device(self) -> JobHandle:
        """List devices in a worker (probing can be slow on Windows), then show the dialog."""
        def job(token: CancelToken) -> list[Any]:
            from fada_desk.sources.capture import list_devices

            return list(list_devices())

        h = self._jobs.submit(job, "list-devices")
        h.result.connect(self._show_device_dialog)
        h.error.connect(lambda e: self._show_error("Cannot list capture devices", error_text(e)))
        return h

    def _show_device_dialog(self, devices: list[Any]) -> DeviceDialog:
        dlg = DeviceDialog(devices, self._window)

        def accepted() -> None:
            choice = dlg.selection()
            if choice is not None:
                self._open_uri(choice.uri, choice.options)

        self.device_dialog = open_dialog(dlg, accepted)
        return dlg

    def choose_stream(self) -> StreamUrlDialog:
        dlg = StreamUrlDialog(str(self._settings.value("paths/last_stream", "")), self._window)

        def accepted() -> None:
            self._settings.setValue("paths/last_stream", dlg.value())
            self._open_uri(dlg.value())

        self.stream_dialog = open_dialog(dlg, accepted)
        return dlg
