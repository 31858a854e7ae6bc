"""The export dialog warns before exporting while AI items are pending review (issue 15, item 1):
how many, what happens to them, in the report's own words; "Review them" goes back to the
first one; "Export anyway" exports, and the export counts the same."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from helpers_review import exam_with_ai_capture
from PySide6.QtCore import Qt

from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.qt.review.export_dialog import ExportDialog

pytestmark = pytest.mark.gui


def open_dialog(window: Any, wait_for: Any) -> ExportDialog:
    dlg = window.review_dock.open_export_dialog()
    assert dlg is not None
    wait_for(lambda: dlg.tally is not None)
    return dlg


def test_pending_ai_items_are_announced_before_the_export(qtbot: Any, window: Any, wait_for: Any,
                                                          tmp_path: Path) -> None:
    item = exam_with_ai_capture(qtbot, window, wait_for)
    dock = window.review_dock
    dlg = open_dialog(window, wait_for)
    # a head box and the plane label: 2 AI proposals, none reviewed
    assert dlg.pending == 2 and dlg.review_box.isVisible() and dlg.review_button.isVisible()
    text = dlg.review_label.text()
    assert "2 AI proposals are still pending review: they will be left out of the export." in text
    assert "2 AI proposals not reviewed and not included." in text  # what the report will say
    assert dlg.export_button.text() == "Export anyway" and dlg.export_button.isEnabled()
    qtbot.mouseClick(dlg.pending_box, Qt.MouseButton.LeftButton)
    assert "they will be included and marked &quot;pending review&quot;" in dlg.review_label.text()
    qtbot.mouseClick(dlg.pending_box, Qt.MouseButton.LeftButton)
    assert "left out of the export" in dlg.review_label.text()

    # "Export anyway": the JSON counts exactly what the dialog announced
    dlg.set_format("json")
    dlg.dir_edit.setText(str(tmp_path))
    with qtbot.waitSignal(dlg.exported, timeout=30000) as sig:
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    doc = json.loads(Path(sig.args[0][0]).read_text())
    assert doc["pending_count"] == dlg.pending == 2 and doc["pending_included"] == 0
    assert doc["review"]["ai_proposals"]["all"] == dlg.tally.to_dict()
    assert dlg.tally.statement(False) in doc["review"]["statement"]
    dlg.close()

    # "Review them": back on the capture, its pending box selected, ready for A / R
    dock.editor.select(None)
    window.leave_review()
    wait_for(lambda: dock.frame is None)
    dlg = open_dialog(window, wait_for)
    qtbot.mouseClick(dlg.review_button, Qt.MouseButton.LeftButton)
    assert not dlg.isVisible()
    wait_for(lambda: dock.frame == FrameRef(item.id, 0))
    ed = dock.editor
    wait_for(lambda: ed.selected_id is not None)
    assert ed.selected.status is ReviewStatus.PENDING and ed.selected.label == "head"
    window.thumbs.setFocus()  # the keys work with the focus anywhere in the window
    qtbot.keyClick(window.thumbs, Qt.Key.Key_A)
    assert ed.selected.status is ReviewStatus.ACCEPTED
    dlg = open_dialog(window, wait_for)
    assert dlg.pending == 1 and "1 AI proposal is still pending review: it will be" in dlg.review_label.text()
    dlg.close()

    # everything reviewed: no warning, a plain Export
    qtbot.keyClick(window.thumbs, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier
                   | Qt.KeyboardModifier.ShiftModifier)
    dlg = open_dialog(window, wait_for)
    assert dlg.pending == 0 and not dlg.review_box.isVisible()
    assert dlg.export_button.text() == "Export" and dlg.export_button.isEnabled()
    dlg.close()


def test_the_count_follows_the_document_while_the_dialog_is_open(qtbot: Any, window: Any,
                                                                 wait_for: Any) -> None:
    item = exam_with_ai_capture(qtbot, window, wait_for)
    dlg = open_dialog(window, wait_for)
    assert dlg.pending == 2
    # an AI run finishing meanwhile (the AI panel imports through the same session)
    from helpers_review import ai_analysis

    window.review_dock.session.import_analysis(item.id, ai_analysis(), replace_reviewed=True)
    wait_for(lambda: dlg.pending == 3)
    assert "3 AI proposals are still pending review" in dlg.review_label.text()
    dlg.close()
