"""Settings ▸ Clinic: the clinic's name, address, phone and e-mail printed on every report.

The values go into the ``[clinic]`` section of the application's settings file
(``<user data dir>/settings.ini``, QSettings in ini format: :func:`fada_desk.qt.util.app_settings`),
which is where the exports read their header (:func:`fada_desk.export.settings.load_clinic_header`,
without Qt). On OK the file is written and read back with that same reader, so what the
dialog accepted is what the next PDF prints; a file that cannot be written keeps the dialog
open with a one-line message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QDialog, QFormLayout, QLabel, QLineEdit, QPlainTextEdit, QVBoxLayout, QWidget

from fada_desk.export.options import ClinicHeader
from fada_desk.export.settings import SECTION, load_clinic_header
from fada_desk.qt.util import dialog_buttons, open_dialog

FIELDS = ("name", "address", "phone", "email")
MAX_LEN = 200


def save_clinic(settings: QSettings, header: ClinicHeader) -> str:
    """Write ``header`` to the settings file; "" when the exports read it back, else why not."""
    for key in FIELDS:
        settings.setValue(f"{SECTION}/{key}", getattr(header, key))
    settings.sync()
    if settings.status() != QSettings.Status.NoError:
        return f"Cannot write the settings file {settings.fileName()}."
    if load_clinic_header(Path(settings.fileName())) != header:  # the exports' own reader
        return f"The settings file {settings.fileName()} could not be read back; the clinic was not saved."
    return ""


def clinic_from_settings(settings: QSettings) -> ClinicHeader:
    return ClinicHeader(*(str(settings.value(f"{SECTION}/{k}", "") or "") for k in FIELDS))


class ClinicDialog(QDialog):
    """Edit the clinic header (window-modal; see the module docstring)."""

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("clinicDialog")
        self.setWindowTitle("Clinic")
        self.settings = settings
        current = clinic_from_settings(settings)
        self.name_edit = self._line("clinicName", current.name, "e.g. Riverside Women's Clinic")
        self.address_edit = QPlainTextEdit(current.address)
        self.address_edit.setObjectName("clinicAddress")
        self.address_edit.setPlaceholderText("Street, town (one line each)")
        self.address_edit.setTabChangesFocus(True)
        self.address_edit.setFixedHeight(self.address_edit.fontMetrics().lineSpacing() * 4 + 12)
        self.phone_edit = self._line("clinicPhone", current.phone, "")
        self.email_edit = self._line("clinicEmail", current.email, "")
        self.error = QLabel("")
        self.error.setObjectName("clinicError")
        self.error.setWordWrap(True)
        self.error.setStyleSheet("color: #c81e1e;")
        intro = QLabel("Printed at the top of every PDF report and in the JSON export.")
        intro.setWordWrap(True)
        form = QFormLayout()
        form.addRow("Name", self.name_edit)
        form.addRow("Address", self.address_edit)
        form.addRow("Phone", self.phone_edit)
        form.addRow("E-mail", self.email_edit)
        lay = QVBoxLayout(self)
        lay.addWidget(intro)
        lay.addLayout(form)
        lay.addWidget(self.error)
        lay.addWidget(dialog_buttons(self))

    @staticmethod
    def _line(name: str, text: str, placeholder: str) -> QLineEdit:
        e = QLineEdit(text)
        e.setObjectName(name)
        e.setPlaceholderText(placeholder)
        e.setMaxLength(MAX_LEN)
        return e

    def header(self) -> ClinicHeader:
        address = "\n".join(line.strip() for line in self.address_edit.toPlainText().splitlines() if line.strip())
        return ClinicHeader(self.name_edit.text().strip(), address, self.phone_edit.text().strip(),
                            self.email_edit.text().strip())

    def validate(self, header: ClinicHeader) -> str:
        if header.email and ("@" not in header.email or " " in header.email):
            return f"{header.email!r} is not an e-mail address."
        if len(header.address) > 4 * MAX_LEN:
            return "The address is too long for the report header."
        return ""

    def accept(self) -> None:
        header = self.header()
        problem = self.validate(header) or save_clinic(self.settings, header)
        if problem:
            self.error.setText(problem)
            return
        super().accept()


def open_clinic_dialog(window: Any) -> ClinicDialog:
    """Settings ▸ Clinic… on ``window`` (non-blocking; a status-bar note when saved)."""
    return open_dialog(ClinicDialog(window.settings, window),
                       lambda: window.statusBar().showMessage("Clinic saved: the next report prints it.", 6000))
