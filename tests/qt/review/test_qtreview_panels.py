"""Side panels: annotation list + relabel, interpretation editor, measurements with GA/EFW."""

from __future__ import annotations

import math
from typing import Any

import pytest
from helpers_review import FRAME, ai_box, ai_polygon, click, drag
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLineEdit, QToolButton

from fada_desk.core.annotations import Caliper, Ellipse, Polygon
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.biometry import biometry_report, ramanujan_perimeter
from fada_desk.core.calibration import Calibration, ManualCalibration, Region
from fada_desk.core.interpretation import Interpretation
from fada_desk.qt.review.annotation_panel import AnnotationPanel
from fada_desk.qt.review.interpretation_editor import COL_AI, COL_STATUS, COL_VALUE, InterpretationEditor
from fada_desk.qt.review.measurement_panel import MeasurementPanel

pytestmark = pytest.mark.gui

#: one region covering the 200 x 150 test frame, 0.05 cm = 0.5 mm per pixel
CAL = Calibration(regions=(Region(0, 0, 199, 149, 0.05, 0.05),), source="dicom")
#: a B-mode region (left) and a second region with another spacing (right)
TWO_REGIONS = Calibration(regions=(Region(0, 0, 99, 149, 0.05, 0.05), Region(100, 0, 199, 149, 0.02, 0.02)),
                          source="dicom")

INTERP = {
    "anatomical_structures": ["fetal skull", "midline echo"],
    "fetal_orientation": "cephalic",
    "imaging_plane": "transthalamic plane",
    "biometric_measurements": "BPD and HC measurable",
    "gestational_age": "approximately 20 weeks",
    "image_quality": "adequate",
    "normality_assessment": "no abnormality seen",
    "clinical_recommendations": "routine follow-up",
}


# ---------------------------------------------------------------------------------- annotations
def test_annotation_list_follows_selection_and_relabels(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box(), ai_polygon()])
    panel = AnnotationPanel(rig.editor)
    qtbot.addWidget(panel)
    panel.show()
    assert panel.row_ids() == ["box", "poly"]
    assert panel.tree.topLevelItem(0).text(3) == "pending"
    # clicking the box on the image selects its row; picking a row selects on the image
    click(qtbot, rig.viewport, rig.at(70, 55))
    assert panel.tree.selectedItems()[0].text(0) == "Head"  # FADA's name for the class "head"
    panel.tree.setCurrentItem(panel.row_for("poly"))
    assert rig.editor.selected_id == "poly"
    # relabel by typing a free-text label + Enter
    panel.label_box.lineEdit().selectAll()
    qtbot.keyClicks(panel.label_box.lineEdit(), "stomach")
    qtbot.keyClick(panel.label_box.lineEdit(), Qt.Key.Key_Return)
    poly = rig.doc.get("poly")
    assert poly.label == "stomach" and poly.provenance is Provenance.AI_EDITED
    assert poly.ai_original["label"] == "Brain"
    assert panel.row_for("poly").text(0) == "Stomach" and panel.row_for("poly").text(2) == "AI, edited"
    assert rig.editor.labels["poly"].textItem.toPlainText().startswith("stomach")
    # the same thing from the class list
    panel.label_box.setCurrentIndex(panel.label_box.findData("abdomen"))
    panel.label_box.activated.emit(panel.label_box.currentIndex())
    assert rig.doc.get("poly").label == "abdomen"
    # the panel's buttons are the editor's actions: accept, accept all, undo
    qtbot.mouseClick(panel.findChild(QToolButton, "button_reviewAccept"), Qt.MouseButton.LeftButton)
    assert rig.doc.get("poly").status is ReviewStatus.ACCEPTED
    assert panel.row_for("poly").text(3) == "accepted"
    qtbot.mouseClick(panel.findChild(QToolButton, "button_reviewAcceptAll"), Qt.MouseButton.LeftButton)
    assert rig.doc.get("box").status is ReviewStatus.ACCEPTED
    undo_button = panel.findChild(QToolButton, "button_reviewUndo")
    for _ in range(4):
        qtbot.mouseClick(undo_button, Qt.MouseButton.LeftButton)
    assert rig.doc.get("poly") == ai_polygon() and rig.doc.get("box") == ai_box()
    assert not undo_button.isEnabled()
    assert "2 annotation(s) on this frame, 2 pending review" in panel.summary.text()


def test_label_box_names_the_next_drawn_shape(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([])
    panel = AnnotationPanel(rig.editor)
    qtbot.addWidget(panel)
    qtbot.keyClicks(panel.label_box.lineEdit(), "liver")
    qtbot.keyClick(panel.label_box.lineEdit(), Qt.Key.Key_Return)
    rig.editor.set_tool("box")
    drag(qtbot, rig.viewport, rig.at(20, 20), rig.at(60, 60))
    (box,) = list(rig.doc)
    assert box.label == "liver"
    assert panel.row_ids() == [box.id]


# ---------------------------------------------------------------------------------- interpretation
def _edit_cell(qtbot: Any, ed: InterpretationEditor, name: str, text: str) -> None:
    """Type into a value cell the way a user does: open the cell editor, type, Enter."""
    item = ed.table.item(ed.row_of(name), COL_VALUE)
    ed.table.setCurrentItem(item)
    ed.table.editItem(item)
    qtbot.waitUntil(lambda: ed.table.viewport().findChild(QLineEdit) is not None)
    line = ed.table.viewport().findChild(QLineEdit)
    line.selectAll()
    qtbot.keyClicks(line, text)
    qtbot.keyClick(line, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: ed.table.viewport().findChild(QLineEdit) is None)


def test_interpretation_fields_edit_accept_reject_undo(qtbot: Any, make_rig: Any) -> None:
    interp = Interpretation.from_fada(FRAME, "run1", INTERP, "BPD_PLANE",
                                      {"det_classes": "Brain, CSP, LV", "seg_classes": "Brain", "tier": "p2"})
    rig = make_rig([])
    rig.doc.set_interpretation(FRAME, interp)
    ed = InterpretationEditor(rig.undo)
    qtbot.addWidget(ed)
    ed.resize(900, 500)
    ed.show()
    ed.set_frame(FRAME)
    row = ed.row_of("fetal_orientation")
    assert ed.value_text("fetal_orientation") == "cephalic"
    assert ed.table.item(row, COL_STATUS).text() == "pending"
    assert ed.value_text("anatomical_structures") == "fetal skull; midline echo"
    assert ed.value_text("classification") == "BPD_PLANE"
    assert "8 value" not in ed.header.text() and "pending review" in ed.header.text()

    _edit_cell(qtbot, ed, "fetal_orientation", "breech")
    v = rig.doc.interpretation(FRAME).values["fetal_orientation"]
    assert (v.value, v.ai, v.status) == ("breech", "cephalic", ReviewStatus.ACCEPTED)
    assert v.provenance is Provenance.AI_EDITED
    assert ed.value_text("fetal_orientation") == "breech"
    assert ed.table.item(row, COL_AI).text() == "cephalic"  # the AI original stays visible
    assert "cephalic" in ed.table.item(row, COL_AI).toolTip()
    assert ed.table.item(row, COL_STATUS).text() == "accepted (edited)"

    qtbot.mouseClick(ed.reject_buttons["image_quality"], Qt.MouseButton.LeftButton)
    assert rig.doc.interpretation(FRAME).values["image_quality"].status is ReviewStatus.REJECTED
    assert ed.table.item(ed.row_of("image_quality"), COL_STATUS).text() == "rejected"
    assert not ed.reject_buttons["image_quality"].isEnabled()

    _edit_cell(qtbot, ed, "classification", "HC_PLANE")
    _edit_cell(qtbot, ed, "det_classes", "Brain, CSP")
    it = rig.doc.interpretation(FRAME)
    assert it.values["classification"].value == "HC_PLANE"
    assert it.values["det_classes"].value == "Brain, CSP" and it.values["seg_classes"].value == "Brain"

    # each edit is one undo step; undo all restores the AI interpretation exactly
    assert len(rig.target.stack) == 4
    for _ in range(4):
        rig.undo.undo()
    assert rig.doc.interpretation(FRAME) == interp
    assert ed.value_text("fetal_orientation") == "cephalic"

    qtbot.mouseClick(ed.accept_all_button, Qt.MouseButton.LeftButton)
    assert not rig.doc.interpretation(FRAME).pending_names()
    assert not ed.accept_all_button.isEnabled()


def test_interpretation_can_be_typed_for_a_frame_without_ai(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([])
    ed = InterpretationEditor(rig.undo)
    qtbot.addWidget(ed)
    ed.show()
    ed.set_frame(FRAME)
    assert "No AI interpretation" in ed.header.text()
    assert not ed.accept_buttons["fetal_orientation"].isEnabled()
    _edit_cell(qtbot, ed, "fetal_orientation", "cephalic")
    v = rig.doc.interpretation(FRAME).values["fetal_orientation"]
    assert v.value == "cephalic" and v.provenance is Provenance.MANUAL and v.status is ReviewStatus.ACCEPTED
    assert ed.table.item(ed.row_of("fetal_orientation"), COL_AI).text() == "—"


# ---------------------------------------------------------------------------------- measurements
def _panel(
    qtbot: Any, rig: Any, cals: dict[FrameRef, Calibration | None], ga: float | None = None
) -> MeasurementPanel:
    panel = MeasurementPanel(rig.editor, lambda f: cals.get(f), (lambda: ga))
    qtbot.addWidget(panel)
    panel.resize(700, 600)
    panel.show()
    return panel


def test_caliper_tool_measures_mm_on_a_calibrated_frame(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([])
    panel = _panel(qtbot, rig, {FRAME: CAL})
    assert panel.cal_label.text() == "Calibrated from DICOM: 0.5000 mm/pixel."
    qtbot.mouseClick(panel.tool_buttons["BPD"], Qt.MouseButton.LeftButton)
    assert rig.editor.tool == "caliper"
    drag(qtbot, rig.viewport, rig.at(20, 40), rig.at(116, 68))  # 100 px long (96, 28)
    (cal,) = list(rig.doc)
    assert cal.measure == "BPD" and cal.label == "BPD" and cal.status is ReviewStatus.ACCEPTED
    expected = 0.5 * math.dist(cal.p1, cal.p2)
    assert expected == pytest.approx(50.0, abs=0.5)
    value, _ = panel.row_texts(cal.id)
    assert value == f"BPD {expected:.1f} mm"
    # an accepted BPD gives Hadlock's GA in the table, same as the core computes
    report = biometry_report({"BPD": expected})
    rows = panel.result_rows()
    assert any(r[1] == "Hadlock 1984 (BPD)" and r[2] == report.primary_ga.text for r in rows)
    assert rows[0][0] == "GA ★"
    # dragging an end point updates the value live
    click(qtbot, rig.viewport, rig.at(60, 51))
    drag(qtbot, rig.viewport, rig.at(*cal.p2), rig.at(cal.p2[0] + 10, cal.p2[1]))
    new = rig.doc.get(cal.id)
    assert panel.row_texts(cal.id)[0] == f"BPD {0.5 * math.dist(new.p1, new.p2):.1f} mm"


def test_uncalibrated_and_region_spanning_measurements_say_why(qtbot: Any, make_rig: Any) -> None:
    across = Caliper(id="across", frame=FRAME, label="FL", measure="FL", p1=(50, 50), p2=(150, 50))
    inside = Caliper(id="inside", frame=FRAME, label="", p1=(10, 10), p2=(30, 10))
    rig = make_rig([across, inside])
    cals: dict[FrameRef, Calibration | None] = {FRAME: None}
    panel = _panel(qtbot, rig, cals)
    assert panel.cal_label.text().startswith("Not calibrated")
    value, details = panel.row_texts("across")
    assert value == "no value" and "not calibrated" in details
    assert any("FL (FL, item #1): This frame is not calibrated" in w for w in panel.problems)
    assert "not calibrated" in panel.warnings.text()
    assert panel.result_rows() == []
    cals[FRAME] = TWO_REGIONS
    panel.refresh()
    assert "2 regions" in panel.cal_label.text()
    assert panel.row_texts("across") == ("no value", "Measurement points span different ultrasound regions.")
    assert panel.row_texts("inside") == ("10.0 mm", "distance")
    # a manual calibration applies to the whole frame
    cals[FRAME] = Calibration(manual=ManualCalibration((0, 0), (0, 100), 25.0))
    panel.refresh()
    assert panel.row_texts("across")[0] == "FL 25.0 mm"


def test_ellipse_fit_hc_table_and_discordance_warning(qtbot: Any, make_rig: Any) -> None:
    a, b, t = 62.0, 50.0, math.radians(25)
    outline = tuple(
        (100 + a * math.cos(u) * math.cos(t) - b * math.sin(u) * math.sin(t),
         75 + a * math.cos(u) * math.sin(t) + b * math.sin(u) * math.cos(t))
        for u in (2 * math.pi * k / 24 for k in range(24))
    )
    poly = Polygon(id="skull", frame=FRAME, label="Brain", measure="HC", provenance=Provenance.AI,
                   status=ReviewStatus.ACCEPTED, points=outline)
    bpd = Caliper(id="bpd", frame=FRAME, label="BPD", measure="BPD", p1=(10, 10), p2=(110, 10))  # 50 mm
    fl = Caliper(id="fl", frame=FRAME, label="FL", measure="FL", p1=(10, 140), p2=(50, 140))  # 20 mm
    rig = make_rig([poly, bpd, fl])
    panel = _panel(qtbot, rig, {FRAME: CAL}, ga=140.0)
    assert not panel.fit_button.isEnabled()
    rig.editor.select("skull")
    assert panel.fit_button.isEnabled()
    qtbot.mouseClick(panel.fit_button, Qt.MouseButton.LeftButton)
    (ell,) = [x for x in rig.doc if isinstance(x, Ellipse)]
    assert rig.editor.selected_id == ell.id
    assert (ell.cx, ell.cy) == pytest.approx((100, 75), abs=0.3)
    # the 24-gon's edges cut inside the true ellipse a little; the fit follows the outline
    assert ell.rx == pytest.approx(a, rel=0.01) and ell.ry == pytest.approx(b, rel=0.01)
    assert ell.measure == "HC" and rig.doc.get("skull").measure is None  # the tag moved
    assert len(rig.target.stack) == 1  # one step
    hc = 0.5 * ramanujan_perimeter(ell.rx, ell.ry)
    assert panel.row_texts(ell.id)[0] == f"HC {hc:.1f} mm"
    rows = panel.result_rows()
    report = biometry_report({"HC": hc, "BPD": 50.0, "FL": 20.0}, ga_by_dates_days=140.0)
    for est in (*report.ga, *report.efw):
        assert any(r[1] == est.equation.name and r[2] == est.text for r in rows), est.equation.name
    assert "disagree by more than 2 weeks" in panel.warnings.text()
    assert "GA by dates: 20w0d" in panel.warnings.text()
    # untagging the FL from its combo removes the discordance (an undoable command)
    panel.combos["fl"].setCurrentText("—")
    assert rig.doc.get("fl").measure is None
    assert "disagree" not in panel.warnings.text()
    rig.undo.undo()
    rig.undo.undo()
    assert rig.doc.get("skull").measure == "HC" and not any(isinstance(x, Ellipse) for x in rig.doc)


def test_fit_ellipse_refuses_an_outline_spanning_regions(qtbot: Any, make_rig: Any) -> None:
    poly = Polygon(id="p", frame=FRAME, label="abdomen",
                   points=((60, 40), (140, 40), (140, 110), (60, 110), (50, 75)))
    rig = make_rig([poly])
    panel = _panel(qtbot, rig, {FRAME: TWO_REGIONS})
    rig.editor.select("p")
    assert not panel.fit_ellipse_to_selected()
    assert panel.message.text() == (
        "Cannot fit an ellipse: Measurement points span different ultrasound regions."
    )
    assert len(rig.doc) == 1
