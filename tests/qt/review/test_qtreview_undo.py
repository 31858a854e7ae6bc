"""The Qt undo adapter over the core stack, and the workspace's keyboard focus rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from helpers_review import FRAME, ai_box, ai_polygon, grey_frame
from PySide6.QtCore import Qt

from fada_desk.core.annotations import Box
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.annotation_commands import Relabel, SetStatus
from fada_desk.core.frame import Frame
from fada_desk.qt.review.undo import LocalReview, UndoAdapter
from fada_desk.qt.review.workspace import ReviewWorkspace
from fada_desk.storage import ExamStore
from fada_desk.app.review_session import ReviewSession

pytestmark = pytest.mark.gui


def test_adapter_mirrors_the_core_stack(qtbot: Any) -> None:
    target = LocalReview(AnnotationSet([ai_box()]))
    undo = UndoAdapter(target)
    seen: list[tuple[str, object]] = []
    undo.canUndoChanged.connect(lambda v: seen.append(("can_undo", v)))
    undo.undoTextChanged.connect(lambda v: seen.append(("undo_text", v)))
    undo.cleanChanged.connect(lambda v: seen.append(("clean", v)))
    act_undo, act_redo = undo.create_undo_action(undo), undo.create_redo_action(undo)
    assert not act_undo.isEnabled() and not act_redo.isEnabled()
    assert undo.run(lambda: Relabel(target.doc, "box", "abdomen"))
    assert ("can_undo", True) in seen and ("undo_text", "Relabel head as abdomen") in seen
    assert ("clean", False) in seen
    assert act_undo.isEnabled() and act_undo.text() == "Undo Relabel head as abdomen"
    act_undo.trigger()
    assert target.doc.get("box") == ai_box()
    assert act_redo.isEnabled() and act_redo.text() == "Redo Relabel head as abdomen"
    # pushing directly on the core stack (another panel, a script) updates the actions too
    target.stack.push(SetStatus(target.doc, ["box"], ReviewStatus.ACCEPTED))
    assert act_undo.text() == "Undo Accept head" and not act_redo.isEnabled()


def test_invalid_edits_are_reported_not_raised(qtbot: Any) -> None:
    target = LocalReview(AnnotationSet([ai_box()]))
    undo = UndoAdapter(target)
    with qtbot.waitSignal(undo.error) as sig:
        assert not undo.run(lambda: Relabel(target.doc, "box", "   "))
    assert sig.args == ["A label cannot be empty."]
    assert target.doc.get("box") == ai_box() and len(target.stack) == 0
    # a macro whose second step fails leaves nothing behind
    assert not undo.run_macro("two", [lambda: Relabel(target.doc, "box", "x"),
                                      lambda: Relabel(target.doc, "nope", "y")])
    assert target.doc.get("box") == ai_box() and len(target.stack) == 0
    assert undo.last_error == "No annotation with id 'nope'."


def test_a_failed_save_is_shown_and_the_edit_kept(qtbot: Any, tmp_path: Path) -> None:
    store = ExamStore.open(tmp_path / "store")
    store.upsert_patient("P1")
    exam = store.create_exam("P1", operator="op")
    item = store.add_image(exam.id, Frame(np.zeros((150, 200), np.uint8)))
    session = ReviewSession(store, exam.id, "op")
    frame = FrameRef(item.id, 0)
    box = Box(id="b", frame=frame, label="head", provenance=Provenance.AI, x0=1, y0=1, x1=9, y1=9)
    session.doc.insert(box)  # as if imported earlier
    undo = UndoAdapter(session)
    store.close()  # e.g. the USB disk holding the store was unplugged
    with qtbot.waitSignal(undo.error) as sig:
        assert not undo.run(lambda: SetStatus(session.doc, ["b"], ReviewStatus.ACCEPTED))
    assert "closed" in sig.args[0]
    assert session.doc.get("b").status is ReviewStatus.ACCEPTED  # nothing lost on screen
    assert undo.can_undo


def test_typing_in_the_panels_never_triggers_review_shortcuts(qtbot: Any) -> None:
    target = LocalReview(AnnotationSet([ai_box(), ai_polygon()]))
    ws = ReviewWorkspace(target, lambda f: None)
    qtbot.addWidget(ws)
    ws.resize(1200, 700)
    ws.show()
    qtbot.waitExposed(ws)
    ws.activateWindow()
    qtbot.waitUntil(ws.isActiveWindow)
    ws.show_frame(FRAME, grey_frame())
    ws.editor.select("box")
    line = ws.panel.annotations.label_box.lineEdit()
    assert line.text() == "head"  # the selection's label is offered for editing
    line.setFocus()
    line.clear()
    qtbot.keyClicks(line, "area")  # 'a' and 'r' are accept/reject on the image
    qtbot.keyClick(line, Qt.Key.Key_Backspace)  # Backspace deletes on the image
    assert line.text() == "are"
    assert target.doc.get("box").status is ReviewStatus.PENDING and "box" in target.doc
    # the same keys on the image act on the selection
    ws.view.graphics.setFocus()
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_R)
    assert target.doc.get("box").status is ReviewStatus.REJECTED
    assert ws.status.text() == ""
    # without a selection, accept/reject are disabled (nothing happens); errors reach the status line
    ws.editor.select(None)
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_A)
    assert target.doc.get("poly").status is ReviewStatus.PENDING and ws.status.text() == ""
    ctrl_shift = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_A, ctrl_shift)
    assert target.doc.get("poly").status is ReviewStatus.ACCEPTED
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_A, ctrl_shift)
    assert ws.status.text() == "Nothing is pending review."
    assert "c81e1e" in ws.status.styleSheet()  # shown as an error
