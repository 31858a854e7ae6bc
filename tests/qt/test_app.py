"""Application start: sample choice, run_app event loop, light startup, isolated settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from fada_desk.qt import app as app_mod
from fada_desk.qt.main_window import MainWindow
from fada_desk.qt.util import app_settings, settings_path

pytestmark = pytest.mark.gui
ROOT = Path(__file__).resolve().parents[2]


def test_bundled_sample_prefers_a_cine(tmp_path: Path) -> None:
    assert app_mod.bundled_sample(tmp_path / "nope") is None
    (tmp_path / "LICENSE.pydicom-data").write_text("MIT")
    (tmp_path / "README.md").write_text("x")
    assert app_mod.bundled_sample(tmp_path) is None
    (tmp_path / "b.dcm").write_bytes(b"x")
    assert app_mod.bundled_sample(tmp_path) == tmp_path / "b.dcm"
    (tmp_path / "a.mp4").write_bytes(b"x")
    assert app_mod.bundled_sample(tmp_path) == tmp_path / "a.mp4"


def test_the_shipped_sample_exists_and_is_a_video() -> None:
    sample = app_mod.bundled_sample()
    assert sample is not None and sample.suffix == ".mp4" and sample.is_file()


def test_startup_uri_prefers_device_then_sample(monkeypatch: pytest.MonkeyPatch) -> None:
    import fada_desk.sources.capture as capture
    from fada_desk.sources.capture import CaptureDevice

    assert app_mod.startup_uri("scan.dcm", sample=True) == "scan.dcm"
    assert app_mod.startup_uri(None, sample=False) is None
    monkeypatch.setattr(capture, "list_devices", lambda: [CaptureDevice(4, "Grabber", "/dev/video4", "v4l2")])
    assert app_mod.startup_uri(None, sample=True) == "device:4"
    monkeypatch.setattr(capture, "list_devices", lambda: [])
    assert app_mod.startup_uri(None, sample=True) == str(app_mod.bundled_sample())

    def broken() -> list[object]:
        raise OSError("v4l2 exploded")

    monkeypatch.setattr(capture, "list_devices", broken)  # no capture support must not stop the app
    assert app_mod.startup_uri(None, sample=True) == str(app_mod.bundled_sample())


def test_run_app_shows_window_opens_sample_and_exits(qtbot, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                                     _isolated_user_dir: Path) -> None:
    import threading

    import fada_desk.sources.capture as capture
    from fada_desk.core.logging_setup import current_log_file

    monkeypatch.setattr(capture, "list_devices", lambda: [])
    qapp = QApplication.instance()
    # Quit exactly once, from inside exec(): a second quit() would leave a Quit event behind that
    # stops every later event loop (qtbot.wait) in this process.
    qapp.setQuitOnLastWindowClosed(False)
    seen: dict[str, object] = {}

    def check() -> None:
        wins = [w for w in QApplication.topLevelWidgets() if isinstance(w, MainWindow) and w.isVisible()]
        if wins and wins[0].shown_frame is not None:
            w = wins[0]
            seen["window"] = w
            seen["reporting"] = w.error_reporter.is_installed()
            seen["log"] = current_log_file()
            seen["uri"] = w.pump.info.uri if w.pump else None
            seen["shape"] = w.shown_frame.pixels.shape
            qapp.quit()
        elif time.monotonic() > deadline:
            qapp.quit()
        else:
            QTimer.singleShot(20, check)

    deadline = time.monotonic() + 30
    hooks = (sys.excepthook, threading.excepthook)
    QTimer.singleShot(0, check)
    try:
        code = app_mod.run_app(path=None, sample=True)
    finally:
        qapp.setQuitOnLastWindowClosed(True)
    win = seen.get("window")
    assert isinstance(win, MainWindow)
    assert win.pump is None  # run_app shut the window down after the loop ended
    win.close()
    assert code == 0
    assert str(seen.get("uri", "")).endswith("us_cine_sonosite_30f.mp4")
    assert seen["shape"][:2] == (240, 320)
    # While it ran, unhandled errors went to the error reporter and the log in the data dir; then both left.
    assert seen["reporting"] is True
    assert seen["log"] == _isolated_user_dir / "logs" / "fada_desk.log"
    assert "fada_desk started" in (_isolated_user_dir / "logs" / "fada_desk.log").read_text(encoding="utf-8")
    assert (sys.excepthook, threading.excepthook) == hooks and current_log_file() is None


def test_window_startup_imports_nothing_heavy() -> None:
    """The window must appear fast: no OpenCV / pydicom / llama.cpp / torch until a source is opened."""
    code = (
        "import sys\n"
        "from PySide6.QtWidgets import QApplication\n"
        "app = QApplication([])\n"
        "from fada_desk.qt.app import create_window\n"
        "w = create_window(None, sample=False)\n"
        "app.processEvents()\n"
        "heavy = [m for m in ('cv2', 'pydicom', 'llama_cpp', 'torch', 'reportlab', 'transformers')"
        " if m in sys.modules]\n"
        "assert w.isVisible()\n"
        "w.close()\n"
        "assert not heavy, heavy\n"
    )
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr


def test_settings_live_in_the_isolated_data_dir(_isolated_user_dir: Path) -> None:
    assert settings_path() == _isolated_user_dir / "settings.ini"
    s = app_settings()
    s.setValue("paths/last_dir", "/somewhere")
    s.sync()
    assert (_isolated_user_dir / "settings.ini").read_text().count("/somewhere") == 1
