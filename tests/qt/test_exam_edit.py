"""Exam ▸ Edit exam and the required operator, on the real window and exam store."""

from __future__ import annotations

import datetime as dt

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDialogButtonBox

from fada_desk.qt.exam_dialogs import ExamRequest, NewExamDialog
from fada_desk.storage.review import ReviewStore

pytestmark = pytest.mark.gui


def ok(dlg: NewExamDialog) -> None:
    dlg.buttons.button(QDialogButtonBox.StandardButton.Ok).click()


def test_new_exam_requires_an_operator(qtbot) -> None:  # noqa: ANN001
    dlg = NewExamDialog(today=dt.date(2026, 6, 1))
    qtbot.addWidget(dlg)
    dlg.patient_id.setText("MRN-1")
    dlg.show()
    ok(dlg)
    assert dlg.request() is None and dlg.isVisible()
    assert "Operator is required" in dlg.error_label.text()
    dlg.operator.setText("A. Sono")
    ok(dlg)
    assert dlg.request() is not None and dlg.request().operator == "A. Sono"


def test_edit_exam_changes_operator_and_dating_audited(qtbot, window, wait_for) -> None:  # noqa: ANN001
    assert not window.act_edit_exam.isEnabled()  # no exam yet
    lmp = dt.date.today() - dt.timedelta(days=100)
    window.create_exam(ExamRequest("MRN-ED", name="DOE^JANE", lmp=lmp))  # an old exam without operator
    wait_for(lambda: window.exam is not None)
    wait_for(window.act_edit_exam.isEnabled)
    exam = window.exam
    assert exam.operator == ""

    window.act_edit_exam.trigger()
    dlg = window.exam_dialog
    wait_for(dlg.isVisible)
    assert dlg.windowTitle() == "Edit exam" and dlg.patient_id.isReadOnly()
    assert dlg.patient_id.text() == "MRN-ED" and dlg.name.text() == "DOE^JANE"
    assert dlg.dating_date.value() == lmp and dlg.lmp_radio.isChecked()
    ok(dlg)  # still no operator: refused, nothing saved
    assert dlg.isVisible() and "Operator is required" in dlg.error_label.text()

    dlg.operator.setText("B. Sono")
    dlg.dating_date.set_value(lmp - dt.timedelta(days=7))
    with qtbot.waitSignal(window.exams.examEdited, timeout=30000):
        qtbot.mouseClick(dlg.buttons.button(QDialogButtonBox.StandardButton.Ok), Qt.MouseButton.LeftButton)
    wait_for(lambda: window.exam is not None and window.exam.operator == "B. Sono")
    assert window.exam.lmp == lmp - dt.timedelta(days=7) and window.exam.id == exam.id
    # before the edit the exam could not be reviewed (no operator); now its session signs as B. Sono
    wait_for(lambda: window.review_dock.session is not None
             and window.review_dock.session.operator == "B. Sono")

    h = window.exams.store_call(lambda store: ReviewStore(store).audit_entries(exam.id), "read-audit")
    with qtbot.waitSignal(h.result, timeout=30000) as got:
        pass
    (entry,) = [e for e in got.args[0] if e.action == "exam.edit"]
    assert entry.operator == "B. Sono"
    assert entry.before == {"operator": "", "lmp": lmp.isoformat()}
    assert entry.after == {"operator": "B. Sono", "lmp": (lmp - dt.timedelta(days=7)).isoformat()}
