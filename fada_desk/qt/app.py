"""Application entry: QApplication, the main window, the first source.

The window is shown before anything heavy happens: pydicom / OpenCV are
imported only by the worker that opens the first source, after the event loop
runs. ``--sample`` picks the first capture device, else the bundled sample.

Unhandled errors (an exception escaping a slot, a Python thread dying) are
logged to ``<user data dir>/logs/fada_desk.log`` without patient data and
shown in a dialog with copyable details; the app keeps running
(:func:`install_error_reporting`, :mod:`fada_desk.qt.error_dialog`).
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from fada_desk.core.paths import resources_dir

log = logging.getLogger(__name__)

SAMPLE_PREFERENCE = (".mp4", ".avi", ".mov", ".mkv", ".dcm", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")


def bundled_sample(directory: Path | None = None) -> Path | None:
    """The sample cine in resources/sample/: a video first, then DICOM, then any image/other file."""
    d = directory if directory is not None else resources_dir() / "sample"
    if not d.is_dir():
        return None
    files = sorted(p for p in d.iterdir() if p.is_file() and not p.name.startswith(".")
                   and p.suffix.lower() not in (".txt", ".md", ".json") and "licen" not in p.name.lower())
    for suffix in SAMPLE_PREFERENCE:
        for p in files:
            if p.suffix.lower() == suffix:
                return p
    return files[0] if files else None


def first_capture_device() -> str | None:
    """``device:N`` of the first capture device, or None (also when capture support is missing)."""
    try:
        from fada_desk.sources.capture import list_devices

        devices = list(list_devices())
    except Exception as err:  # noqa: BLE001 - no capture support is not fatal at startup
        log.info("no capture devices: %s", err)
        return None
    if not devices:
        return None
    return f"device:{getattr(devices[0], 'index', 0)}"


def startup_uri(path: str | None, sample: bool) -> str | None:
    if path:
        return path
    if not sample:
        return None
    device = first_capture_device()
    if device is not None:
        return device
    p = bundled_sample()
    return str(p) if p is not None else None


def install_error_reporting(win):  # noqa: ANN001, ANN201 - Qt types imported lazily
    """Log to the user data dir and report unhandled errors of ``win``'s process in a dialog.

    The log's PHI filter learns the patient of every exam opened and of every
    DICOM header shown. Returns the :class:`~fada_desk.qt.error_dialog.ErrorReporter`
    (``uninstall()`` it when the window goes away; :func:`run_app` does).
    """
    from fada_desk.core.logging_setup import REDACTOR, setup_logging
    from fada_desk.qt.error_dialog import ErrorReporter

    try:
        path = setup_logging()
        log.info("fada_desk started; log %s", path)
    except OSError as err:  # a read-only data dir: errors are still shown, just not written
        log.warning("no log file: %s", err)
    win.examChanged.connect(REDACTOR.note_exam)
    win.sourceOpened.connect(lambda info: REDACTOR.note_metadata(getattr(info, "metadata", None)))
    return ErrorReporter(win).install()


def create_window(path: str | None = None, sample: bool = False):  # noqa: ANN201 - Qt type imported lazily
    """Build and show the main window (errors reported, see the module doc), then open the start source."""
    from PySide6.QtCore import QTimer

    from fada_desk.qt.main_window import MainWindow

    win = MainWindow()
    win.error_reporter = install_error_reporting(win)
    win.show()
    uri = startup_uri(path, sample) if (path or sample) else None
    if uri is not None:
        QTimer.singleShot(0, lambda: win.open_uri(uri))
    elif sample:
        win.statusBar().showMessage("No capture device and no bundled sample found: use File > Open.", 10000)
    return win


def run_app(path: str | None = None, sample: bool = False) -> int:
    """Start the GUI; returns the exit code of the event loop."""
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("fada_desk")
    app.setOrganizationName("fada_desk")
    app.setApplicationDisplayName("fada_desk")
    win = create_window(path, sample)
    app.aboutToQuit.connect(win.shutdown)
    try:
        code = int(app.exec())
        win.shutdown()
    finally:
        from fada_desk.core.logging_setup import shutdown_logging

        win.error_reporter.uninstall()
        shutdown_logging()
    return code
