"""Review ▸ Finalize report / Amend report in the real window: refused while AI is pending,
then signed and locked, then amended with a reason."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from fada_analysis import analysis_dict
from PySide6.QtWidgets import QMessageBox

from fada_desk.core.frame import Frame
from fada_desk.core.interpretation_commands import AcceptAll
from fada_desk.qt.exam_dialogs import ExamRequest
from fada_desk.sources.memory import FrameListSource

pytestmark = pytest.mark.gui


def test_finalize_is_refused_while_ai_is_pending_then_signs_locks_and_amends(
    qtbot: Any, window: Any, wait_for: Any
) -> None:
    dock = window.review_dock
    report = dock.report
    assert not report.act_finalize.isEnabled()  # no exam
    req = ExamRequest("MRN-R", name="DOE^JANE", lmp=dt.date.today() - dt.timedelta(days=140),
                      operator="A. Sonographer")
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(req)
    assert report.act_finalize.isEnabled() and report.act_finalize in window.menuBar().actions()[2].menu().actions()
    window.open_source(FrameListSource([Frame(np.full((540, 800), 40, np.uint8), index=0)], uri="memory:r"))
    wait_for(lambda: window.shown_frame is not None)
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        assert window.capture_still()
    item = saved.args[0]
    dock.session.import_analysis(item.id, analysis_dict(), analysis_id="run-1")

    # pending AI: refused, with the counts, nothing signed
    with qtbot.waitSignal(report.refused, timeout=30000) as refused:
        report.act_finalize.trigger()
    assert "pending review" in refused.args[0] and "before finalizing" in refused.args[0]
    assert isinstance(report.box, QMessageBox) and report.box.text() == refused.args[0]
    report.box.close()
    assert not dock.session.report_state().versions

    # everything reviewed: the statement dialog, then version 1, locked
    dock.session.push(AcceptAll(dock.session.doc))
    report.act_finalize.trigger()
    wait_for(lambda: report.dialog is not None and report.dialog.isVisible())
    report.dialog.setTextValue("Head and abdomen measured.")
    with qtbot.waitSignal(report.finalized, timeout=30000):
        report.dialog.accept()
    state = dock.session.report_state()
    assert [v.version for v in state.versions] == [1] and state.locked
    assert "finalized" in window.statusBar().currentMessage().lower()

    # a second finalize is refused; an amendment needs a reason, then reopens the report
    with qtbot.waitSignal(report.refused, timeout=30000) as again:
        report.act_finalize.trigger()
    assert "already final" in again.args[0]
    report.box.close()
    report.act_amend.trigger()
    wait_for(lambda: report.dialog.isVisible())
    report.dialog.setTextValue("   ")
    with qtbot.waitSignal(report.refused, timeout=5000) as no_reason:
        report.dialog.accept()
    assert "needs a reason" in no_reason.args[0]
    report.box.close()
    report.act_amend.trigger()
    wait_for(lambda: report.dialog.isVisible())
    report.dialog.setTextValue("Wrong LMP typed")
    with qtbot.waitSignal(report.amended, timeout=30000) as amended:
        report.dialog.accept()
    assert amended.args[0].reason == "Wrong LMP typed" and amended.args[0].amends == 1
    assert not dock.session.report_state().locked
