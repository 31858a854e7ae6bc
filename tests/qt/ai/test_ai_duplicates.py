"""Running the AI again on a capture under review: the duplicate question, replace / keep both / cancel, undo."""

from __future__ import annotations

from typing import Any

import pytest
from app.fakes import dark_frame
from helpers_ai import new_exam, review_capture
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from fada_desk.core.review_types import FrameRef, ReviewStatus

pytestmark = pytest.mark.gui


def _shapes(anns: Any) -> list[tuple[Any, ...]]:
    return [(a.kind, a.label, str(a.geometry())) for a in anns]


def _ask(qtbot: Any, panel: Any, wait_for: Any, mode: str = "autonomous") -> QMessageBox:
    """Run the AI again; the duplicate question comes up when it finishes."""
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_autonomous() if mode == "autonomous" else panel.run_chat(mode)
    wait_for(lambda: panel.questions.box is not None and panel.questions.box.isVisible())
    box = panel.questions.box
    assert box.objectName() == "aiDuplicateQuestion"
    return box


def _click(qtbot: Any, box: QMessageBox, name: str) -> None:
    button = box.findChild(QPushButton, name)
    assert button is not None and button.isVisible(), name
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


def test_three_runs_do_not_stack_three_equal_boxes_and_replace_is_one_undo(
        qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    new_exam(qtbot, window)
    dock = window.review_dock
    item = review_capture(qtbot, window, wait_for, dark_frame(400, 300, index=0))
    ref = FrameRef(item.id, 0)
    doc = dock.session.doc
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        panel.run_autonomous()
    wait_for(lambda: len(dock.editor.items) == 4)
    first = {a.id for a in doc.for_frame(ref)}
    # the sonographer accepts the LV box: it is theirs now, never replaced
    lv = next(a for a in doc.for_frame(ref) if a.label == "LV")
    dock.editor.select(lv.id)
    assert dock.editor.accept_selected()

    box = _ask(qtbot, panel, wait_for)
    assert "already has AI items" in box.text() and "3 pending, 1 accepted or edited" in box.text()
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        _click(qtbot, box, "aiReplaceRun")
    second = {a.id for a in doc.for_frame(ref)}
    second_interp = doc.interpretation(ref).analysis_id
    assert lv.id in second and not (second - {lv.id}) & first
    assert doc.get(lv.id).status is ReviewStatus.ACCEPTED
    assert len(second) == 4 and len(set(_shapes(doc.for_frame(ref)))) == 4  # no equal boxes

    box = _ask(qtbot, panel, wait_for)  # a third run: still one set of items
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        _click(qtbot, box, "aiReplaceRun")
    third = {a.id for a in doc.for_frame(ref)}
    assert len(third) == 4 and len(set(_shapes(doc.for_frame(ref)))) == 4 and lv.id in third
    assert third != second and len(doc.pending(ref)) == 3
    wait_for(lambda: set(dock.editor.items) == third)

    # one undo brings the second run's pending items (and interpretation) back, the third's go
    undo = dock.editor.act_undo
    assert undo.isEnabled() and undo.text() == "Undo Replace 3 pending AI item(s) with a new run"
    undo.trigger()
    assert {a.id for a in doc.for_frame(ref)} == second
    assert doc.interpretation(ref).analysis_id == second_interp
    wait_for(lambda: set(dock.editor.items) == second)


def test_keep_both_shows_two_hideable_runs_and_cancel_stores_nothing(
        qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    new_exam(qtbot, window)
    dock = window.review_dock
    item = review_capture(qtbot, window, wait_for, dark_frame(400, 300, index=0))
    ref = FrameRef(item.id, 0)
    doc = dock.session.doc
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        panel.run_autonomous()
    first_run = panel.model.run.analysis_id
    assert not panel.runs_bar.isVisible()  # one run: nothing to choose

    box = _ask(qtbot, panel, wait_for)
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        _click(qtbot, box, "aiKeepBoth")
    assert len(doc.for_frame(ref)) == 8
    wait_for(lambda: len(dock.editor.items) == 8)
    wait_for(lambda: panel.runs_bar.isVisible())
    assert panel.runs_bar.summary() == [("Run 1: 4 item(s) (4 pending)", True),
                                        ("Run 2: 4 item(s) (4 pending)", True)]

    # hide the first run: its items leave the image and the review list, the other run stays
    qtbot.mouseClick(panel.runs_bar.buttons[first_run], Qt.MouseButton.LeftButton)
    wait_for(lambda: len(dock.editor.items) == 4)
    assert all(doc.get(i).analysis_id != first_run for i in dock.editor.items)
    assert len(dock.panel.annotations.row_ids()) == 4
    assert not dock.editor.accept_all()  # a hidden run is never accepted unseen
    assert len(doc.pending(ref)) == 8
    qtbot.mouseClick(panel.runs_bar.buttons[first_run], Qt.MouseButton.LeftButton)
    wait_for(lambda: len(dock.editor.items) == 8)

    # a third run, cancelled: nothing stored, the earlier items kept, its boxes not left on the image
    box = _ask(qtbot, panel, wait_for)
    _click(qtbot, box, "aiCancelStore")
    wait_for(lambda: "was not stored" in panel.state_label.text())
    assert len(doc.for_frame(ref)) == 8 and not panel.model.run.stored
    wait_for(lambda: not panel.overlay.visible)
    assert len(panel.runs_bar.buttons) == 2
