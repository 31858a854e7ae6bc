"""Annotation editing on the image with real mouse and keyboard events.

Every gesture is sent to the graphics viewport at the widget position of an
image pixel, as a user would do it; the assertions read the pure document,
the single source of truth.
"""

from __future__ import annotations

from typing import Any

import pytest
from helpers_review import FRAME, W, ai_box, ai_polygon, click, double_click, drag
from PySide6.QtCore import Qt

from fada_desk.core.annotations import Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.vocabulary import class_color

pytestmark = pytest.mark.gui


def key(qtbot: Any, rig: Any, k: Qt.Key, mods: Qt.KeyboardModifier = Qt.KeyboardModifier.NoModifier) -> None:
    rig.view.graphics.setFocus()
    qtbot.keyClick(rig.view.graphics, k, mods)
    qtbot.wait(10)


def test_every_annotation_is_shown_in_its_class_colour_and_status_style(make_rig: Any) -> None:
    anns = [
        ai_box(),
        ai_polygon(),
        Ellipse(id="ell", frame=FRAME, label="HC", cx=60, cy=100, rx=30, ry=20, angle_deg=30),
        Caliper(id="cal", frame=FRAME, label="BPD", p1=(10, 10), p2=(50, 20)),
        Keypoints(id="kp", frame=FRAME, label="CRL_KP", provenance=Provenance.AI,
                  points=[(5, 140, 2), (60, 140, 2)]),
        Box(id="other", frame=FrameRef(2, 0), label="head", x0=1, y0=1, x1=5, y1=5),
    ]
    rig = make_rig(anns)
    ed = rig.editor
    assert set(ed.items) == {"box", "poly", "ell", "cal", "kp"}  # other frames are not shown
    for ann_id in ed.items:
        ann = rig.doc.get(ann_id)
        pen = ed.item(ann_id).pen
        assert pen.color().getRgb()[:3] == class_color(ann.label)
        expected = Qt.PenStyle.DashLine if ann.status is ReviewStatus.PENDING else Qt.PenStyle.SolidLine
        assert pen.style() == expected, ann_id
    assert ed.labels["box"].textItem.toPlainText() == "head (pending review)"
    # the ellipse ROI shows exactly the model geometry (rotation included)
    assert ed.item("ell").geometry() == pytest.approx(rig.doc.get("ell").geometry())


def test_dragging_a_box_is_one_undo_step_and_flips_provenance(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box()])
    drag(qtbot, rig.viewport, rig.at(70, 55), rig.at(90, 65), steps=8)
    box = rig.doc.get("box")
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((60, 40, 120, 90), abs=0.6)
    assert box.provenance is Provenance.AI_EDITED
    assert box.ai_original["geometry"] == {"x0": 40.0, "y0": 30.0, "x1": 100.0, "y1": 80.0}
    assert len(rig.target.stack) == 1  # eight mouse moves, one step
    assert rig.editor.selected_id == "box"
    key(qtbot, rig, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    box = rig.doc.get("box")
    assert (box.x0, box.y0, box.x1, box.y1) == (40, 30, 100, 80)
    assert box.provenance is Provenance.AI and box.ai_original is None
    assert rig.editor.item("box").geometry() == pytest.approx(box.geometry())  # the ROI followed the undo
    key(qtbot, rig, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert rig.doc.get("box").x0 == pytest.approx(60, abs=0.6)
    assert rig.doc.get("box").provenance is Provenance.AI_EDITED


def test_drags_stay_on_the_image(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box(), ai_polygon()])
    rig.view.viewbox.setRange(xRange=(-60, 260), yRange=(-45, 195), padding=0)  # zoomed out: a margin
    qtbot.wait(30)
    drag(qtbot, rig.viewport, rig.at(70, 55), rig.at(250, 60), steps=10)  # far past the right edge
    box = rig.doc.get("box")
    assert (box.x0, box.x1) == pytest.approx((W - 60, W))
    assert box.y0 == pytest.approx(35, abs=0.6)
    assert rig.editor.item("box").geometry() == pytest.approx(box.geometry())  # the ROI shows it too
    click(qtbot, rig.viewport, rig.at(130, 110))  # the polygon (the box now covers its top right)
    assert rig.editor.selected_id == "poly"
    drag(qtbot, rig.viewport, rig.at(120, 40), rig.at(110, -20))  # a vertex above the image
    assert rig.doc.get("poly").points[0] == pytest.approx((110, 0), abs=0.6)


def test_resizing_a_box_by_its_corner_handle(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box()])
    click(qtbot, rig.viewport, rig.at(70, 55))  # select: handles appear
    assert rig.editor.selected_id == "box"
    drag(qtbot, rig.viewport, rig.at(100, 80), rig.at(120, 100))
    box = rig.doc.get("box")
    assert (box.x0, box.y0) == (40, 30)
    assert (box.x1, box.y1) == pytest.approx((120, 100), abs=0.6)
    assert len(rig.target.stack) == 1
    assert rig.target.stack.undo_text.startswith("Resize")


def test_polygon_vertices_move_insert_and_delete(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_polygon()])
    click(qtbot, rig.viewport, rig.at(150, 80))  # inside: select the polygon
    assert rig.editor.selected_id == "poly"
    # drag vertex 1 (180, 40)
    drag(qtbot, rig.viewport, rig.at(180, 40), rig.at(170, 30))
    pts = rig.doc.get("poly").points
    assert pts[1] == pytest.approx((170, 30), abs=0.6)
    assert pts[0] == (120, 40) and pts[2] == (180, 120)
    assert len(rig.target.stack) == 1
    # double-click the bottom edge (180,120)-(120,120): a vertex is inserted between them, where clicked
    double_click(qtbot, rig.viewport, rig.at(150, 120))
    pts = rig.doc.get("poly").points
    assert len(pts) == 5
    assert pts[3] == pytest.approx((150, 120), abs=0.6)
    assert pts[2] == (180, 120) and pts[4] == (120, 120)
    assert rig.doc.get("poly").provenance is Provenance.AI_EDITED
    # right-click a vertex deletes it
    click(qtbot, rig.viewport, rig.at(150, 120), Qt.MouseButton.RightButton)
    assert len(rig.doc.get("poly").points) == 4
    assert (150.0, 120.0) not in [tuple(map(round, p)) for p in rig.doc.get("poly").points]
    # click a vertex to select it, Del deletes that vertex (not the polygon)
    click(qtbot, rig.viewport, rig.at(120, 120))
    assert rig.editor.selected_vertex == 3
    key(qtbot, rig, Qt.Key.Key_Delete)
    assert rig.doc.get("poly").points == ((120, 40), pytest.approx((170, 30), abs=0.6), (180, 120))
    # a triangle keeps its 3 vertices: a clear message, nothing changes
    click(qtbot, rig.viewport, rig.at(180, 120), Qt.MouseButton.RightButton)
    assert len(rig.doc.get("poly").points) == 3
    assert rig.errors and "at least 3 vertices" in rig.errors[-1]
    # undo walks back through each structural edit, one step each
    steps = len(rig.target.stack)
    assert steps == 4
    for _ in range(steps):
        key(qtbot, rig, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert rig.doc.get("poly") == ai_polygon()


def test_accept_reject_and_accept_all_from_the_keyboard(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box(), ai_polygon()])
    click(qtbot, rig.viewport, rig.at(70, 55))
    key(qtbot, rig, Qt.Key.Key_A)
    assert rig.doc.get("box").status is ReviewStatus.ACCEPTED
    assert rig.editor.item("box").pen.style() == Qt.PenStyle.SolidLine
    assert rig.doc.get("box").provenance is Provenance.AI  # reviewing is not editing
    key(qtbot, rig, Qt.Key.Key_R)
    assert rig.doc.get("box").status is ReviewStatus.REJECTED
    pen = rig.editor.item("box").pen
    assert pen.style() == Qt.PenStyle.DotLine and pen.color().alpha() < 128  # faint
    assert "rejected" in rig.editor.labels["box"].textItem.toPlainText()
    key(qtbot, rig, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert rig.doc.get("poly").status is ReviewStatus.ACCEPTED
    assert rig.doc.get("box").status is ReviewStatus.REJECTED  # accept-all takes pending items only
    key(qtbot, rig, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert rig.doc.get("poly").status is ReviewStatus.PENDING
    # nothing pending any more after redo: accept-all says so instead of failing silently
    key(qtbot, rig, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    key(qtbot, rig, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert rig.errors[-1] == "Nothing is pending review."


def test_delete_key_removes_the_selected_annotation(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box(), ai_polygon()])
    click(qtbot, rig.viewport, rig.at(70, 55))
    key(qtbot, rig, Qt.Key.Key_Delete)
    assert "box" not in rig.doc and "box" not in rig.editor.items
    assert rig.editor.selected_id is None
    key(qtbot, rig, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert rig.doc.get("box") == ai_box() and "box" in rig.editor.items
    # Esc clears the selection; a click on the empty image does too
    click(qtbot, rig.viewport, rig.at(70, 55))
    key(qtbot, rig, Qt.Key.Key_Escape)
    assert rig.editor.selected_id is None
    click(qtbot, rig.viewport, rig.at(150, 80))
    click(qtbot, rig.viewport, rig.at(20, 130))
    assert rig.editor.selected_id is None


def test_drawing_tools(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([])
    ed = rig.editor
    ed.default_label = "stomach"
    key(qtbot, rig, Qt.Key.Key_B)
    assert ed.tool == "box" and ed.tool_actions["box"].isChecked()
    drag(qtbot, rig.viewport, rig.at(20, 20), rig.at(60, 50))
    (box,) = [a for a in rig.doc if isinstance(a, Box)]
    assert (box.x0, box.y0, box.x1, box.y1) == pytest.approx((20, 20, 60, 50), abs=0.6)
    assert box.provenance is Provenance.MANUAL and box.status is ReviewStatus.ACCEPTED
    assert box.label == "stomach" and box.frame == FRAME
    assert ed.tool == "" and ed.selected_id == box.id

    key(qtbot, rig, Qt.Key.Key_E)
    drag(qtbot, rig.viewport, rig.at(100, 40), rig.at(160, 80))
    (ell,) = [a for a in rig.doc if isinstance(a, Ellipse)]
    assert (ell.cx, ell.cy, ell.rx, ell.ry) == pytest.approx((130, 60, 30, 20), abs=0.6)

    key(qtbot, rig, Qt.Key.Key_C)
    drag(qtbot, rig.viewport, rig.at(10, 120), rig.at(90, 120))
    (cal,) = [a for a in rig.doc if isinstance(a, Caliper)]
    assert cal.length_px == pytest.approx(80, abs=1)

    key(qtbot, rig, Qt.Key.Key_P)
    for x, y in ((120, 100), (180, 100), (180, 140)):
        click(qtbot, rig.viewport, rig.at(x, y))
    double_click(qtbot, rig.viewport, rig.at(130, 140))
    (poly,) = [a for a in rig.doc if isinstance(a, Polygon)]
    assert len(poly.points) == 4
    assert poly.points[3] == pytest.approx((130, 140), abs=0.6)

    # Esc cancels a polygon being drawn: nothing is added; the tool is off
    n = len(rig.doc)
    key(qtbot, rig, Qt.Key.Key_P)
    click(qtbot, rig.viewport, rig.at(20, 100))
    click(qtbot, rig.viewport, rig.at(40, 100))
    key(qtbot, rig, Qt.Key.Key_Escape)
    assert ed.tool == "" and len(rig.doc) == n
    # each shape was one undo step
    assert len(rig.target.stack) == 4


def test_caliper_end_point_and_ellipse_body_drags(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([
        Caliper(id="cal", frame=FRAME, label="BPD", measure="BPD", p1=(20, 20), p2=(80, 20)),
        Ellipse(id="ell", frame=FRAME, label="HC", cx=130, cy=100, rx=40, ry=25, angle_deg=20),
    ])
    click(qtbot, rig.viewport, rig.at(50, 20))
    assert rig.editor.selected_id == "cal"
    drag(qtbot, rig.viewport, rig.at(80, 20), rig.at(90, 30))
    cal = rig.doc.get("cal")
    assert cal.p1 == (20, 20) and cal.p2 == pytest.approx((90, 30), abs=0.6)
    drag(qtbot, rig.viewport, rig.at(130, 100), rig.at(120, 90))
    ell = rig.doc.get("ell")
    assert (ell.cx, ell.cy) == pytest.approx((120, 90), abs=0.6)
    assert (ell.rx, ell.ry, ell.angle_deg) == pytest.approx((40, 25, 20))
    assert len(rig.target.stack) == 2


# popping a menu up on the offscreen platform warns that it cannot raise it / grab the keyboard
@pytest.mark.qt_log_ignore("does not support raise", "does not support grabbing the keyboard")
def test_context_menu_tags_a_measurement(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([Caliper(id="cal", frame=FRAME, label="", p1=(20, 20), p2=(80, 20))])
    click(qtbot, rig.viewport, rig.at(50, 20), Qt.MouseButton.RightButton)
    menu = rig.editor.context_menu
    assert menu is not None and rig.editor.selected_id == "cal"
    sub = next(a.menu() for a in menu.actions() if a.menu() is not None)
    next(a for a in sub.actions() if a.text() == "FL").trigger()
    assert rig.doc.get("cal").measure == "FL"
    menu.close()


def test_screenshot_shows_the_box_outline_in_its_class_colour(qtbot: Any, make_rig: Any) -> None:
    box = ai_box(status=ReviewStatus.ACCEPTED, label="head")
    rig = make_rig([box])
    qtbot.wait(50)
    img = rig.view.grab_image()
    dpr = img.devicePixelRatio()
    want = class_color("head")

    def rgb(p: Any) -> tuple[int, int, int]:
        c = img.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
        return (c.red(), c.green(), c.blue())

    def near(c: tuple[int, int, int]) -> bool:
        return all(abs(a - b) <= 12 for a, b in zip(c, want))

    # along the top edge (y = 30) the outline has the class colour; inside the box it does not
    top = [rig.at(x, 30) for x in range(50, 95, 5)]
    hits = 0
    for p in top:
        column = [rgb(p + type(p)(0, dy)) for dy in (-1, 0, 1)]
        hits += any(near(c) for c in column)
    assert hits == len(top)
    assert not near(rgb(rig.at(70, 55)))
    assert not near(rgb(rig.at(70, 100)))
