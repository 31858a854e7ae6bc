"""Keypoint sets on the image: add and delete landmarks with real mouse and keyboard events
(issue 15: "Keypoints can only be moved: add and delete points")."""

from __future__ import annotations

from typing import Any

import pytest
from helpers_review import FRAME, click, double_click, drag
from PySide6.QtCore import Qt

from fada_desk.core.annotations import Keypoints
from fada_desk.core.points import Keypoint
from fada_desk.core.review_types import Provenance, ReviewStatus

pytestmark = pytest.mark.gui


def crl() -> Keypoints:
    return Keypoints(id="kp", frame=FRAME, label="CRL", provenance=Provenance.AI, measure="CRL",
                     points=(Keypoint(40, 75, 2, "crown"), Keypoint(160, 75, 2, "rump")))


def xy(rig: Any) -> list[tuple[int, int]]:
    return [(round(p.x), round(p.y)) for p in rig.doc.get("kp").points]


def test_double_click_adds_landmarks_on_the_line_and_beyond_its_end(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([crl()])
    click(qtbot, rig.viewport, rig.at(100, 75))  # on the line: selects the set
    assert rig.editor.selected_id == "kp"
    double_click(qtbot, rig.viewport, rig.at(100, 75))  # on the line, between the two points
    assert xy(rig) == [(40, 75), (100, 75), (160, 75)]
    kp = rig.doc.get("kp")
    assert kp.points[1].visibility == 2 and [p.name for p in kp.points] == ["crown", "", "rump"]
    # an edit of a pending AI set is its review: accepted, "AI, edited"
    assert (kp.status, kp.provenance) == (ReviewStatus.ACCEPTED, Provenance.AI_EDITED)
    assert rig.editor.selected_id == "kp" and rig.editor.selected_vertex == 1  # the new point
    # beside the set, past its end: the first click deselects, the double-click brings it back
    double_click(qtbot, rig.viewport, rig.at(185, 100))
    assert xy(rig) == [(40, 75), (100, 75), (160, 75), (185, 100)]
    assert rig.editor.selected_id == "kp" and rig.editor.selected_vertex == 3
    assert len(rig.editor.item("kp").getHandles()) == 4  # the view follows the document
    # nothing selected: a double-click on the empty image adds nothing
    click(qtbot, rig.viewport, rig.at(100, 20))
    assert rig.editor.selected_id is None
    qtbot.wait(600)  # a fresh click, not the second of a double-click
    double_click(qtbot, rig.viewport, rig.at(100, 30))
    assert len(rig.doc.get("kp").points) == 4
    assert len(rig.target.stack) == 2  # one undo step per added point


def test_right_click_or_del_removes_a_landmark_never_the_last(qtbot: Any, make_rig: Any) -> None:
    three = Keypoints(id="kp", frame=FRAME, label="CRL", points=(
        Keypoint(40, 75), Keypoint(100, 75), Keypoint(160, 75)))
    rig = make_rig([three])
    click(qtbot, rig.viewport, rig.at(70, 75))
    # right-click a point removes it
    click(qtbot, rig.viewport, rig.at(100, 75), Qt.MouseButton.RightButton)
    assert xy(rig) == [(40, 75), (160, 75)]
    # click a point to select it, Del removes that point (not the set)
    click(qtbot, rig.viewport, rig.at(160, 75))
    assert rig.editor.selected_vertex == 1
    rig.view.graphics.setFocus()
    qtbot.keyClick(rig.view.graphics, Qt.Key.Key_Delete)
    assert xy(rig) == [(40, 75)]
    assert rig.editor.selected_id == "kp"
    # the last point stays: a clear message, the set is still there
    assert not rig.editor.delete_vertex("kp", 0)
    assert xy(rig) == [(40, 75)]
    assert rig.errors and "delete the annotation instead" in rig.errors[-1]
    # undo restores every point, one step each
    for _ in range(2):
        qtbot.keyClick(rig.view.graphics, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert rig.doc.get("kp") == three


@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing the keyboard")  # the popup
def test_context_menu_adds_a_point_where_clicked_and_points_still_drag(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([crl()])
    click(qtbot, rig.viewport, rig.at(70, 75), Qt.MouseButton.RightButton)
    menu = rig.editor.context_menu
    assert menu is not None and rig.editor.selected_id == "kp"
    add = next(a for a in menu.actions() if a.objectName() == "reviewAddPoint")
    add.trigger()
    menu.close()
    assert xy(rig) == [(40, 75), (70, 75), (160, 75)]
    drag(qtbot, rig.viewport, rig.at(70, 75), rig.at(70, 60))  # the new point moves like the others
    assert xy(rig)[1] == pytest.approx((70, 60), abs=1)
