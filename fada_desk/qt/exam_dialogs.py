"""Exam dialogs: new exam (patient + dating) and the exam browser.

Neither touches the store on the GUI thread: the new-exam dialog only
validates and returns an :class:`ExamRequest`; the browser asks its ``search``
callback (which runs the store query in a worker) and shows what comes back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QDate, Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDateEdit,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QRadioButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.dating import validate_dating
from fada_desk.core.errors import StorageError
from fada_desk.qt.util import dialog_buttons, hbox


@dataclass(frozen=True)
class ExamRequest:
    patient_id: str
    name: str = ""
    dob: dt.date | None = None
    sex: str = ""
    lmp: dt.date | None = None
    edd: dt.date | None = None
    operator: str = ""
    referring: str = ""
    notes: str = ""


def _qdate(d: dt.date) -> QDate:
    return QDate(d.year, d.month, d.day)


def _pydate(q: QDate) -> dt.date:
    return dt.date(q.year(), q.month(), q.day())


class DateField(QWidget):
    """An optional date: a "known" check box plus a calendar date edit."""

    def __init__(self, default: dt.date, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.known = QCheckBox()
        self.edit = QDateEdit(_qdate(default))
        self.edit.setCalendarPopup(True)
        self.edit.setDisplayFormat("yyyy-MM-dd")
        self.edit.setEnabled(False)
        self.known.toggled.connect(self.edit.setEnabled)
        lay = QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.known)
        lay.addWidget(self.edit, 1)

    def value(self) -> dt.date | None:
        return _pydate(self.edit.date()) if self.known.isChecked() else None

    def set_value(self, d: dt.date | None) -> None:
        self.known.setChecked(d is not None)
        if d is not None:
            self.edit.setDate(_qdate(d))


class NewExamDialog(QDialog):
    """Patient ID, name, DOB, sex, LMP or EDD (GA shown live), operator, referring, notes.

    With ``exam`` it edits that exam instead (Exam ▸ Edit exam): the fields start with
    the exam's values, the patient ID is fixed, GA is computed at the exam's date.
    The operator is required either way: AI output can only be reviewed by someone.
    """

    def __init__(self, parent: QWidget | None = None, today: dt.date | None = None,
                 operator: str = "", exam: Any = None) -> None:
        super().__init__(parent)
        self.editing = exam
        self.setWindowTitle("Edit exam" if exam is not None else "New exam")
        self.setObjectName("editExamDialog" if exam is not None else "newExamDialog")
        self._today = exam.exam_date if exam is not None else (today or dt.date.today())
        self.patient_id = QLineEdit()
        self.patient_id.setPlaceholderText("Hospital / clinic number (required)")
        self.name = QLineEdit()
        self.name.setPlaceholderText("Family^Given or free text")
        self.dob = DateField(self._today.replace(year=max(1900, self._today.year - 30)))
        self.sex = QComboBox()
        self.sex.addItems(["", "F", "M", "O"])
        self.lmp_radio = QRadioButton("LMP")
        self.edd_radio = QRadioButton("EDD")
        self.lmp_radio.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.lmp_radio)
        group.addButton(self.edd_radio)
        self.dating_date = DateField(self._today - dt.timedelta(days=140))
        self.ga_label = QLabel("GA: —")
        self.ga_label.setObjectName("gaLabel")
        self.operator = QLineEdit(operator)
        self.referring = QLineEdit()
        self.notes = QPlainTextEdit()
        self.notes.setFixedHeight(60)
        self.error_label = QLabel()
        self.error_label.setObjectName("examError")
        self.error_label.setStyleSheet("color: #c62828")
        self.error_label.setWordWrap(True)

        dating_row = hbox(self.lmp_radio, self.edd_radio, (self.dating_date, 1))
        form = QFormLayout()
        form.addRow("Patient ID *", self.patient_id)
        form.addRow("Name", self.name)
        form.addRow("Date of birth", self.dob)
        form.addRow("Sex", self.sex)
        form.addRow("Dating", dating_row)
        form.addRow("", self.ga_label)
        form.addRow("Operator *", self.operator)
        form.addRow("Referring", self.referring)
        form.addRow("Notes", self.notes)
        self.buttons = dialog_buttons(self)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.error_label)
        lay.addWidget(self.buttons)

        for sig in (self.lmp_radio.toggled, self.dating_date.known.toggled):
            sig.connect(self._update_ga)
        self.dating_date.edit.dateChanged.connect(self._update_ga)
        if exam is not None:
            self._fill(exam)
        self._update_ga()
        self._request: ExamRequest | None = None

    def _fill(self, exam: Any) -> None:
        patient = exam.patient
        self.patient_id.setText(patient.patient_id)
        self.patient_id.setReadOnly(True)
        self.patient_id.setToolTip("The patient ID cannot change: open or create the right patient's exam.")
        self.name.setText(patient.name)
        self.dob.set_value(patient.dob)
        self.sex.setCurrentText(patient.sex)
        self.edd_radio.setChecked(exam.lmp is None and exam.edd is not None)
        self.lmp_radio.setChecked(not self.edd_radio.isChecked())
        self.dating_date.set_value(exam.lmp if exam.lmp is not None else exam.edd)
        self.operator.setText(exam.operator)
        self.referring.setText(exam.referring)
        self.notes.setPlainText(exam.notes)

    def _dates(self) -> tuple[dt.date | None, dt.date | None]:
        d = self.dating_date.value()
        return (d, None) if self.lmp_radio.isChecked() else (None, d)

    def _update_ga(self) -> None:
        lmp, edd = self._dates()
        try:
            dating = validate_dating(lmp, edd, self._today)
        except StorageError as err:
            self.ga_label.setText(f"GA: — ({err})")
            return
        if dating is None:
            self.ga_label.setText("GA: — (no LMP/EDD)")
        else:
            other = (f"EDD {dating.edd.isoformat()}" if dating.basis == "lmp"
                     else f"LMP {dating.lmp.isoformat()}")
            self.ga_label.setText(f"GA today: {dating.ga_label} · {other}")

    def request(self) -> ExamRequest | None:
        return self._request

    def accept(self) -> None:
        pid = self.patient_id.text().strip()
        if not pid:
            self.error_label.setText("Patient ID is required.")
            self.patient_id.setFocus()
            return
        dob = self.dob.value()
        if dob is not None and dob > self._today:
            self.error_label.setText("Date of birth is in the future.")
            return
        lmp, edd = self._dates()
        try:
            validate_dating(lmp, edd, self._today)
        except StorageError as err:
            self.error_label.setText(str(err))
            return
        if not self.operator.text().strip():
            self.error_label.setText("Operator is required: AI output is reviewed and signed by the operator.")
            self.operator.setFocus()
            return
        self._request = ExamRequest(
            patient_id=pid, name=self.name.text().strip(), dob=dob, sex=self.sex.currentText(),
            lmp=lmp, edd=edd, operator=self.operator.text().strip(), referring=self.referring.text().strip(),
            notes=self.notes.toPlainText().strip())
        super().accept()


def _fmt_when(value: Any) -> str:
    if isinstance(value, dt.datetime):
        local = value.astimezone() if value.tzinfo else value
        return local.strftime("%Y-%m-%d %H:%M")
    if value is None:
        return ""
    text = str(value)
    return text.replace("T", " ")[:16]


def summary_row(s: Any) -> list[str]:
    """Table cells for one ExamSummary (tolerant of optional fields)."""
    ga = getattr(s, "ga_label", "") or ""
    return [
        _fmt_when(getattr(s, "created_at", "")),
        str(getattr(s, "patient_id", "") or ""),
        str(getattr(s, "patient_name", "") or getattr(s, "name", "") or ""),
        str(ga),
        str(getattr(s, "operator", "") or ""),
        str(getattr(s, "n_items", "") if getattr(s, "n_items", None) is not None else ""),
        "damaged" if getattr(s, "damage", ()) else "",
    ]


class ExamBrowserDialog(QDialog):
    """Search exams and pick one to reopen.

    ``search(text, callback)`` must run the query off the GUI thread and call
    ``callback(list_of_summaries)`` on the GUI thread (the main window does this
    through its store runner).
    """

    HEADERS = ("Date", "Patient ID", "Name", "GA", "Operator", "Items", "Damaged")

    def __init__(self, search: Callable[[str, Callable[[Sequence[Any]], None]], None],
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Open exam")
        self.setObjectName("examBrowser")
        self.resize(760, 420)
        self._search = search
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search patient ID, name, operator or date…")
        self.search_edit.setClearButtonEnabled(True)
        self.table = QTableWidget(0, len(self.HEADERS))
        self.table.setHorizontalHeaderLabels(self.HEADERS)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.table.verticalHeader().setVisible(False)
        self.table.doubleClicked.connect(lambda _i: self.accept())
        self.status = QLabel("Searching…")
        self.buttons = dialog_buttons(self, QDialogButtonBox.StandardButton.Open
                                      | QDialogButtonBox.StandardButton.Cancel)
        lay = QVBoxLayout(self)
        lay.addWidget(self.search_edit)
        lay.addWidget(self.table, 1)
        lay.addWidget(self.status)
        lay.addWidget(self.buttons)
        self._summaries: list[Any] = []
        self._query_id = 0
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(250)
        self._debounce.timeout.connect(self.refresh)
        self.search_edit.textChanged.connect(lambda _t: self._debounce.start())
        self.finished.connect(lambda _r: self._debounce.stop())
        self.refresh()

    def refresh(self) -> None:
        self._debounce.stop()
        self._query_id += 1
        qid = self._query_id
        self.status.setText("Searching…")
        self._search(self.search_edit.text().strip(), lambda rows, q=qid: self._show(q, rows))

    def _show(self, qid: int, rows: Sequence[Any]) -> None:
        if qid != self._query_id:
            return  # an older query answered late: ignore
        self._summaries = list(rows)
        self.table.setRowCount(len(self._summaries))
        for r, s in enumerate(self._summaries):
            damage = "\n".join(getattr(s, "damage", ()))  # why the store could not read all of it
            for c, text in enumerate(summary_row(s)):
                cell = QTableWidgetItem(text)
                cell.setData(Qt.ItemDataRole.UserRole, getattr(s, "exam_id", getattr(s, "id", None)))
                if damage:
                    cell.setToolTip(damage)
                self.table.setItem(r, c, cell)
        if self._summaries:
            self.table.selectRow(0)
        n = len(self._summaries)
        self.status.setText(f"{n} exam{'s' if n != 1 else ''}" if n else "No exams found.")

    def show_error(self, text: str) -> None:
        self.status.setText(text)

    def selected_summary(self) -> Any | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows:
            return None
        return self._summaries[rows[0].row()]

    def selected_exam_id(self) -> int | None:
        s = self.selected_summary()
        return None if s is None else getattr(s, "exam_id", getattr(s, "id", None))

    def accept(self) -> None:
        if self.selected_summary() is None:
            self.status.setText("Select an exam first.")
            return
        super().accept()
