"""Small Qt helpers: isolated settings, tracked timers, non-blocking message boxes."""

from __future__ import annotations

import weakref
from pathlib import Path

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import QMessageBox, QWidget

from fada_desk.core.paths import user_data_dir

_TIMERS: weakref.WeakSet[QTimer] = weakref.WeakSet()


def settings_path() -> Path:
    """The ini file under the user data dir (FADA_DESK_DATA_DIR isolates tests and USB installs)."""
    return user_data_dir() / "settings.ini"


def app_settings() -> QSettings:
    """Settings in an explicit ini file, never the registry / ~/.config of the real user."""
    return QSettings(str(settings_path()), QSettings.Format.IniFormat)


def tracked_timer(parent: QObject, interval_ms: int, single_shot: bool = False) -> QTimer:
    """A QTimer owned by ``parent`` and registered so tests can detect leaks."""
    t = QTimer(parent)
    t.setInterval(interval_ms)
    t.setSingleShot(single_shot)
    _TIMERS.add(t)
    return t


def active_tracked_timers() -> list[QTimer]:
    out = []
    for t in list(_TIMERS):
        try:
            if t.isActive():
                out.append(t)
        except RuntimeError:  # C++ object already deleted
            continue
    return out


def show_message(parent: QWidget, title: str, text: str,
                 icon: QMessageBox.Icon = QMessageBox.Icon.Warning) -> QMessageBox:
    """A window-modal box that does not block the caller (no nested event loop)."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.Ok, parent)
    box.setObjectName("fadaMessageBox")
    box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    box.open()
    return box
