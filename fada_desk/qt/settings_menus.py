"""The main window's Settings and Help menus and the dialogs they open.

- Settings ▸ Clinic… (:mod:`fada_desk.qt.settings_dialog`): the clinic header every
  report prints (the PDF's "Settings > Clinic" hint leads here);
- Settings ▸ Install model from folder / USB stick… (:mod:`fada_desk.qt.model_install_dialog`):
  after a successful install the AI panel checks its model again
  (``window.ai_dock.panel.check_model()``, the AI dock's public refresh);
- Help ▸ Keyboard shortcuts (F1, :mod:`fada_desk.qt.shortcuts_dialog`): regenerated from
  the window's actions each time it opens.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtGui import QAction

from fada_desk.qt.model_install_dialog import ModelInstallDialog
from fada_desk.qt.settings_dialog import ClinicDialog, open_clinic_dialog
from fada_desk.qt.shortcuts_dialog import ShortcutsDialog

#: ``make(text, slot, shortcut, tip)``: a window action (the main window's ``add_action``)
MakeAction = Callable[..., QAction]


class SettingsMenus:
    """Builds the two menus on ``window`` (after the AI menu) and keeps their dialogs."""

    def __init__(self, window: Any, make: MakeAction) -> None:
        self.window = window
        self.clinic_dialog: ClinicDialog | None = None
        self.model_install_dialog: ModelInstallDialog | None = None
        self.shortcuts_dialog: ShortcutsDialog | None = None
        self.act_clinic = make("&Clinic…", self.open_clinic, None,
                               "Clinic name, address, phone and e-mail printed on the reports")
        self.act_install_model = make("&Install model from folder / USB stick…", self.install_model, None,
                                      "Copy and verify a FADA model set from a folder")
        self.act_shortcuts = make("&Keyboard shortcuts", self.show_shortcuts, "F1", "Every action and its keys")
        m = window.menuBar().addMenu("&Settings")
        m.addAction(self.act_clinic)
        m.addAction(self.act_install_model)
        m = window.menuBar().addMenu("&Help")
        m.addAction(self.act_shortcuts)

    def open_clinic(self) -> ClinicDialog:
        self.clinic_dialog = open_clinic_dialog(self.window)
        return self.clinic_dialog

    def install_model(self) -> ModelInstallDialog:
        """The install dialog (one at a time: reopening shows a running install)."""
        dlg = self.model_install_dialog
        if dlg is None:
            dlg = self.model_install_dialog = ModelInstallDialog(parent=self.window)
            dlg.installed.connect(self._installed)
        dlg.open()
        dlg.raise_()
        return dlg

    def _installed(self, status: Any) -> None:
        self.window.statusBar().showMessage(status.message, 10000)
        self.window.ai_dock.panel.check_model()  # the AI panel shows the new set's state

    def show_shortcuts(self) -> ShortcutsDialog:
        if self.shortcuts_dialog is None:
            self.shortcuts_dialog = ShortcutsDialog(self.window)
        self.shortcuts_dialog.refresh()
        self.shortcuts_dialog.show()
        self.shortcuts_dialog.raise_()
        return self.shortcuts_dialog

    def shutdown(self) -> None:
        """Cancel an install in flight (nothing is left half-installed)."""
        if self.model_install_dialog is not None:
            self.model_install_dialog.shutdown()
