"""Small Qt helpers: isolated settings, tracked timers, non-blocking dialogs, box layouts."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from PySide6.QtCore import QObject, QSettings, Qt, QTimer
from PySide6.QtWidgets import (
    QBoxLayout,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QMessageBox,
    QVBoxLayout,
    QWidget,
)

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


OK_CANCEL = QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel

DialogT = TypeVar("DialogT", bound=QDialog)
BoxItem = QWidget | tuple[QWidget, int]  # a widget, or (widget, stretch)
Margins = int | tuple[int, int, int, int]  # all four sides, or (left, top, right, bottom)


def dialog_buttons(dialog: QDialog,
                   buttons: QDialogButtonBox.StandardButton = OK_CANCEL) -> QDialogButtonBox:
    """A button box wired to ``dialog.accept`` / ``dialog.reject`` (overrides validate first)."""
    box = QDialogButtonBox(buttons)
    box.accepted.connect(dialog.accept)
    box.rejected.connect(dialog.reject)
    return box


def open_dialog(dialog: DialogT, on_accepted: Callable[[], Any],
                on_rejected: Callable[[], Any] | None = None) -> DialogT:
    """Open ``dialog`` window-modal without a nested event loop; it deletes itself when closed."""
    dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
    dialog.accepted.connect(on_accepted)
    if on_rejected is not None:
        dialog.rejected.connect(on_rejected)
    dialog.open()
    return dialog


def _fill(layout: QBoxLayout, items: tuple[BoxItem, ...], margins: Margins) -> None:
    m = (margins,) * 4 if isinstance(margins, int) else margins
    layout.setContentsMargins(*m)
    for item in items:
        if isinstance(item, tuple):
            layout.addWidget(item[0], item[1])
        else:
            layout.addWidget(item)


def hbox(*items: BoxItem, margins: Margins = 0, parent: QWidget | None = None) -> QWidget:
    """A widget laying ``items`` out left to right (``(widget, stretch)`` to stretch one)."""
    w = QWidget(parent)
    _fill(QHBoxLayout(w), items, margins)
    return w


def vbox(*items: BoxItem, margins: Margins = 0, parent: QWidget | None = None) -> QWidget:
    """A widget laying ``items`` out top to bottom (``(widget, stretch)`` to stretch one)."""
    w = QWidget(parent)
    _fill(QVBoxLayout(w), items, margins)
    return w
