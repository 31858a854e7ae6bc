"""Keyboard-first review in the real main window (issue 15, item 8): the review keys are window
shortcuts that work wherever the focus is (here: the capture strip, where the last click put it),
work even when the window was never activated, and Help ▸ Keyboard shortcuts lists every action
with its key, generated from the actions."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_review import exam_with_ai_capture
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget

from fada_desk.core.review_tally import tally_values
from fada_desk.core.review_types import ReviewStatus
from fada_desk.qt.shortcuts_dialog import NO_KEY, OTHER, key_text, plain_text

pytestmark = pytest.mark.gui
CTRL, SHIFT = Qt.KeyboardModifier.ControlModifier, Qt.KeyboardModifier.ShiftModifier


def press(qtbot: Any, widget: QWidget, key: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier
          ) -> None:
    """A key typed while ``widget`` (not the image) has the focus."""
    widget.setFocus()
    assert QApplication.focusWidget() is widget
    qtbot.keyClick(widget, key, mods)


def test_review_keys_work_with_the_focus_in_the_capture_strip(qtbot: Any, window: Any, wait_for: Any) -> None:
    item = exam_with_ai_capture(qtbot, window, wait_for)
    dock, strip = window.review_dock, window.thumbs
    ed = dock.editor
    (box_id,) = ed.items
    ed.select(box_id)

    def status() -> ReviewStatus:
        return dock.session.doc.get(box_id).status

    press(qtbot, strip, Qt.Key.Key_R)
    assert status() is ReviewStatus.REJECTED
    press(qtbot, strip, Qt.Key.Key_Z, CTRL)
    assert status() is ReviewStatus.PENDING
    press(qtbot, strip, Qt.Key.Key_A)
    assert status() is ReviewStatus.ACCEPTED
    press(qtbot, strip, Qt.Key.Key_Delete)
    assert box_id not in dock.session.doc
    press(qtbot, strip, Qt.Key.Key_Z, CTRL)
    assert box_id in dock.session.doc
    press(qtbot, strip, Qt.Key.Key_Y, CTRL)
    assert box_id not in dock.session.doc
    press(qtbot, strip, Qt.Key.Key_Z, CTRL)
    # the drawing tools, and Esc stops the tool without leaving the capture
    for key, tool in ((Qt.Key.Key_B, "box"), (Qt.Key.Key_P, "polygon"), (Qt.Key.Key_E, "ellipse"),
                      (Qt.Key.Key_C, "caliper")):
        press(qtbot, strip, key)
        assert ed.tool == tool and dock.review_actions.tools[tool].isChecked()
    press(qtbot, strip, Qt.Key.Key_C)
    assert ed.tool == ""
    press(qtbot, strip, Qt.Key.Key_E)
    press(qtbot, strip, Qt.Key.Key_Escape)
    assert ed.tool == "" and window.review_item is not None
    # accept all on the frame: the box and the AI plane label
    ed.select(None)
    press(qtbot, strip, Qt.Key.Key_A, CTRL | SHIFT)
    assert dock.review_actions.accept_all.isEnabled()
    interp = dock.session.doc.interpretation(dock.frame)
    assert tally_values(interp.values.values()).pending == 0
    assert status() is ReviewStatus.ACCEPTED
    press(qtbot, strip, Qt.Key.Key_Z, CTRL)  # undo accept-all: the plane label is pending again
    assert tally_values(dock.session.doc.interpretation(dock.frame).values.values()).pending == 1
    # typing in a text field types: 'a', 'r' and Backspace do not review
    ed.select(box_id)
    press(qtbot, strip, Qt.Key.Key_R)
    steps = len(dock.session.stack)
    line = dock.panel.annotations.label_box.lineEdit()
    line.setFocus()
    qtbot.keyClicks(line, "ar")
    qtbot.keyClick(line, Qt.Key.Key_Backspace)
    assert status() is ReviewStatus.REJECTED and len(dock.session.stack) == steps
    # a second Esc (nothing selected, no tool) goes back to live
    ed.select(None)
    press(qtbot, strip, Qt.Key.Key_Escape)
    wait_for(lambda: window.review_item is None)
    assert item.id not in {f.item_id for f in [dock.frame] if f is not None}


def test_keys_work_even_when_the_window_is_not_the_active_one(qtbot: Any, window: Any, wait_for: Any) -> None:
    exam_with_ai_capture(qtbot, window, wait_for)
    other = QWidget()  # e.g. no window manager ever gave the main window the keyboard
    qtbot.addWidget(other)
    other.show()
    other.activateWindow()
    wait_for(lambda: QApplication.activeWindow() is other)
    assert not window.isActiveWindow()
    ed = window.review_dock.editor
    (box_id,) = ed.items
    ed.select(box_id)
    qtbot.keyClick(window.view.graphics, Qt.Key.Key_A)  # the key reaches the image, no shortcut fires
    assert window.review_dock.session.doc.get(box_id).status is ReviewStatus.ACCEPTED
    qtbot.keyClick(window.view.graphics, Qt.Key.Key_Z, CTRL)
    assert window.review_dock.session.doc.get(box_id).status is ReviewStatus.PENDING


def test_no_two_window_actions_share_a_key(window: Any) -> None:
    """Two actions on one key would make Qt fire neither ("ambiguous shortcut")."""
    owners: dict[str, str] = {}
    for a in window.actions():
        for k in a.shortcuts():
            text = k.toString(QKeySequence.SequenceFormat.PortableText)
            assert text not in owners, f"{text} is both {owners[text]!r} and {a.text()!r}"
            owners[text] = a.text()
            assert a.shortcutContext() == Qt.ShortcutContext.WindowShortcut, a.text()
    assert {"A", "R", "Ctrl+Shift+A", "Del", "B", "P", "E", "C", "Ctrl+Z", "Space", "Esc"} <= set(owners)


@pytest.mark.qt_log_ignore("does not support raise")  # the sheet is raised when opened
def test_keyboard_shortcut_sheet_is_generated_from_the_actions(qtbot: Any, window: Any) -> None:
    qtbot.keyClick(window.view.graphics, Qt.Key.Key_F1)  # Help ▸ Keyboard shortcuts
    sheet = window.shortcuts_dialog
    assert sheet is not None and sheet.isVisible()
    help_menu = next(a.menu() for a in window.menuBar().actions() if plain_text(a.text()) == "Help")
    assert window.act_shortcuts in help_menu.actions()
    listed = {(r.action, r.keys) for r in sheet.rows}
    # every window action that has a key is on the sheet, with exactly that key
    for a in window.actions():
        if key_text(a) != NO_KEY:
            assert (plain_text(a.text()), key_text(a)) in listed, a.text()
    for text, key in (("Accept", "A"), ("Reject", "R"), ("Accept all on this frame", "Ctrl+Shift+A"),
                      ("Delete", "Del, Backspace"), ("Box tool", "B"), ("Caliper tool", "C"),
                      ("Freeze", "Space"), ("Run AI (autonomous)", "F5"), ("Capture", "Ctrl+S")):
        assert sheet.keys_for(text) == key, text
    review = {r.action for r in sheet.rows if r.group == "Review"}
    assert {"Accept", "Reject", "Delete", "Polygon tool", "Ellipse tool", "Export exam…"} <= review
    # an action added later appears when the sheet is opened again: nothing is typed twice
    extra = QAction("Measure twice", window)
    extra.setShortcut(QKeySequence("Ctrl+Alt+M"))
    window.addAction(extra)
    window.show_shortcuts()
    assert any(r.group == OTHER and r.action == "Measure twice" and r.keys == "Ctrl+Alt+M" for r in sheet.rows)
    # the filter narrows the sheet
    qtbot.keyClicks(sheet.filter_edit, "reject")
    shown = [sheet.tree.topLevelItem(i).child(j).text(0)
             for i in range(sheet.tree.topLevelItemCount()) if not sheet.tree.topLevelItem(i).isHidden()
             for j in range(sheet.tree.topLevelItem(i).childCount())
             if not sheet.tree.topLevelItem(i).child(j).isHidden()]
    assert shown == ["Reject"]
    sheet.close()
