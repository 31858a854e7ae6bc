"""The chat pane on the AI dock: typed requests on the frame, streamed answers, cancel, kept with the exam."""

from __future__ import annotations

from typing import Any

import pytest
from app.fakes import BRAIN, GatedBackend, dark_frame
from helpers_ai import new_exam, review_capture
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QPushButton

from fada_desk.app.analysis import RunMode, RunState
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus

pytestmark = pytest.mark.gui


def _type(qtbot: Any, panel: Any, text: str) -> None:
    panel.tabs.setCurrentWidget(panel.chat)
    qtbot.keyClicks(panel.chat.input, text)
    qtbot.keyClick(panel.chat.input, Qt.Key.Key_Return)


def test_a_typed_request_streams_its_answer_into_the_chat_and_can_be_cancelled(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    backend = GatedBackend(answers=dict(BRAIN), hold_phase="detect")
    panel, _view, _host = make_panel(backend)
    chat = panel.chat
    assert "Not kept" in chat.note.text()  # no exam: the conversation is not kept
    _type(qtbot, panel, "detect the brain")
    wait_for(backend.streaming.is_set)  # the model holds mid-answer
    assert panel.running and panel.model.run.mode is RunMode.CHAT and chat.input.text() == ""
    assert not chat.send_button.isEnabled() and chat.cancel_button.isEnabled()
    wait_for(lambda: chat.live.isVisible() and chat.live.toPlainText())
    partial = chat.live.toPlainText()
    assert partial and partial in BRAIN["detect"] and partial != BRAIN["detect"]  # streamed, not finished
    assert "You · Capture" not in chat.text() and "detect the brain" in chat.transcript.toPlainText()
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        backend.gate.set()
    wait_for(lambda: not chat.live.isVisible())
    text = chat.transcript.toPlainText()
    assert "Detection results (3 detections: Brain, CSP, LV)" in text
    assert sorted(panel.overlay.labels()) == ["Brain", "CSP", "LV"] and panel.overlay.visible
    assert panel.state == RunState.DONE and panel.phase_state("detect") == "done"

    # the next request holds too: Cancel in the chat stops it, the answer says so
    backend.gate.clear()
    backend.streaming.clear()
    backend.hold_phase = "segment"
    _type(qtbot, panel, "segment the heart")
    wait_for(backend.streaming.is_set)
    assert backend.phases()[-1] == "segment" and panel.model.run.session is not None
    with qtbot.waitSignal(panel.stateChanged, timeout=20000, check_params_cb=lambda s: s == "cancelled"):
        qtbot.mouseClick(chat.cancel_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: "FADA (cancelled)" in chat.transcript.toPlainText())
    assert [m.role for m in panel.conversation.messages] == ["user", "fada", "user", "fada"]
    assert chat.send_button.isEnabled()
    assert panel.run_chat("   ") is None  # an empty request runs nothing


def test_chat_results_are_pending_review_ask_about_duplicates_and_survive_reopening_the_exam(
        qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    exam = new_exam(qtbot, window)
    dock = window.review_dock
    item = review_capture(qtbot, window, wait_for, dark_frame(400, 300, index=0))
    ref = FrameRef(item.id, 0)
    assert panel.chat.note.text() == "Kept with the exam."
    with qtbot.waitSignal(panel.storedInExam, timeout=30000) as stored:
        _type(qtbot, panel, "detect the brain")
    run = panel.model.run
    anns = dock.session.doc.for_frame(ref)
    assert [a.id for a in anns] == stored.args[0] and sorted(a.label for a in anns) == ["Brain", "CSP", "LV"]
    assert all(a.provenance is Provenance.AI and a.status is ReviewStatus.PENDING
               and a.analysis_id == run.analysis_id for a in anns)
    wait_for(lambda: len(dock.editor.items) == 3)
    wait_for(lambda: "Detection results" in panel.chat.transcript.toPlainText())

    # the same request again: the duplicate question of any AI run; replace keeps one set
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        _type(qtbot, panel, "detect the brain")
    wait_for(lambda: panel.questions.box is not None and panel.questions.box.isVisible())
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        panel.questions.box.findChild(QPushButton, "aiReplaceRun").click()
    anns = dock.session.doc.for_frame(ref)
    assert len(anns) == 3 and {a.analysis_id for a in anns} == {panel.model.run.analysis_id}
    assert panel.model.run.session is run.session  # the second request continued the first's session
    wait_for(lambda: "FADA" in panel.chat.transcript.toPlainText())
    before = [(m.role, m.text) for m in panel.conversation.messages]
    assert [r for r, _ in before] == ["user", "fada", "user", "fada"]

    # reopening the exam (another window, as after a restart) shows the conversation
    exam_id = exam.id
    window.close()
    from fada_desk.qt.main_window import MainWindow

    win2 = MainWindow()
    qtbot.addWidget(win2)
    win2.resize(1200, 800)
    win2.show()
    panel2 = win2.ai_dock.panel
    assert len(panel2.conversation) == 0
    with qtbot.waitSignal(win2.examChanged, timeout=30000):
        win2.open_exam(exam_id)
    wait_for(lambda: len(panel2.conversation) == 4)
    assert [(m.role, m.text) for m in panel2.conversation.messages] == before
    shown = panel2.chat.transcript.toPlainText()
    assert shown.count("detect the brain") == 2 and f"Capture #{item.id}" in shown
    assert shown.count("Detection results") == 2
    win2.close()
