"""The main window keeps its keyboard, window manager or not.

Every action of the window has a window shortcut, which Qt fires only while the
window is the *active* one. Without a window manager (a kiosk session, a bare X
server) nobody activates it, and after one of its dialogs closes nobody hands the
keyboard back. :class:`WindowKeys`, an event filter on the window, closes both gaps:

- when the window is first shown it asks for activation;
- when one of its dialogs closes and no window is active, it takes the keyboard again;
- a key press that reached the window without firing a shortcut (the window not
  active) triggers the window action carrying that key (:func:`action_for_key`).

Text fields are untouched: a line edit takes its typing keys before any of this.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject, Qt, QTimer
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QDialog, QWidget

MODIFIER_KEYS = (Qt.Key.Key_unknown, Qt.Key.Key_Shift, Qt.Key.Key_Control, Qt.Key.Key_Alt, Qt.Key.Key_Meta,
                 Qt.Key.Key_AltGr)
TRACKED = "fadaKeysBack"  # property set on a dialog once its closing is watched


def action_for_key(actions: Iterable[QAction], event: QKeyEvent) -> QAction | None:
    """The action among ``actions`` whose shortcut is this key press (None: none)."""
    if event.key() in MODIFIER_KEYS:
        return None
    mods = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    pressed = QKeySequence(event.key() | mods.value)
    for a in actions:
        if any(k.matches(pressed) == QKeySequence.SequenceMatch.ExactMatch for k in a.shortcuts()):
            return a
    return None


class WindowKeys(QObject):
    """Event filter on ``window`` (see the module docstring); set ``closing`` to stop it."""

    def __init__(self, window: QWidget) -> None:
        super().__init__(window)
        self.window_ = window
        self.closing = False
        self._shown = False
        window.installEventFilter(self)

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if obj is not self.window_ or self.closing:
            return False
        et = event.type()
        if et == QEvent.Type.Show and not self._shown:
            self._shown = True
            QTimer.singleShot(0, self, self.window_.activateWindow)
        elif et == QEvent.Type.ChildPolished:
            child = event.child()  # type: ignore[attr-defined]
            if isinstance(child, QDialog) and not child.property(TRACKED):
                child.setProperty(TRACKED, True)
                child.finished.connect(self._dialog_closed)
        elif et == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            action = action_for_key(self.window_.actions(), event)
            if action is not None:
                if action.isEnabled():
                    action.trigger()
                event.accept()
                return True
        return False

    def _dialog_closed(self, *_: object) -> None:
        QTimer.singleShot(0, self, self.take_keyboard)

    def take_keyboard(self) -> None:
        """Activate the window if it is shown and no window has the keyboard."""
        w = self.window_
        if not self.closing and w.isVisible() and QApplication.activeWindow() is None:
            w.activateWindow()
