"""Legibility (issue 15.7): class colours as swatches with readable text, FADA's class names in
lists, measurement values on the image as in the export, the calibration line out of the way."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from helpers_review import FRAME, ai_box
from PySide6.QtCore import Qt

from fada_desk.core.annotation_commands import SetStatus
from fada_desk.core.annotations import Caliper, Ellipse
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.core.review_types import ReviewStatus
from fada_desk.core.vocabulary import ALL_CLASSES_SORTED, CLASS_NAMES, class_color, class_title
from fada_desk.export.overlay import annotation_caption, label_ink, measurement_text, render_overlay
from fada_desk.qt.review import style
from fada_desk.qt.review.annotation_panel import AnnotationPanel
from fada_desk.qt.review.measurement_panel import MeasurementPanel
from fada_desk.sources.memory import FrameListSource

pytestmark = pytest.mark.gui

CAL = Calibration(regions=(Region(0, 0, 199, 149, 0.05, 0.05),), source="dicom")  # 0.5 mm / px


def luminance(rgb: tuple[int, int, int]) -> float:
    def lin(c: float) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# ---------------------------------------------------------------------------------- names
def test_fada_names_for_the_class_codes() -> None:
    # upstream's quick reference names every class but the three nasal landmarks
    assert set(CLASS_NAMES) <= set(ALL_CLASSES_SORTED)
    assert set(ALL_CLASSES_SORTED) - set(CLASS_NAMES) == {"nasal_bone", "nasal_skin", "nasal_tip"}
    assert [class_title(c) for c in ("AB", "B", "C", "H", "NB")] == [
        "Abdomen (AB)", "Body (B)", "Chest (Thorax) (C)", "Head (H)", "Nasal Bone (NB)"]
    assert class_title("abdomen") == "Abdomen" and class_title("head") == "Head"  # the full-word classes
    assert class_title("cardiac") == "Heart (cardiac)" and class_title("Brain") == "Brain (whole structure)"
    assert class_title("nasal_bone") == "nasal_bone"  # no FADA name: the code
    assert class_title("my lesion") == "my lesion"  # free text as typed
    titles = [class_title(c) for c in ALL_CLASSES_SORTED]
    assert len(set(titles)) == len(titles)  # no two classes look alike in a list


def test_list_rows_show_a_swatch_and_the_name_in_the_palette_colour(qtbot: Any, make_rig: Any) -> None:
    rig = make_rig([ai_box(id="ab", label="AB"), ai_box(id="y", label="C", x0=110.0, x1=150.0),
                    ai_box(id="n", label="nasal_bone", y0=90.0, y1=120.0)])
    panel = AnnotationPanel(rig.editor)
    qtbot.addWidget(panel)
    panel.show()
    row = panel.row_for("ab")
    assert row.text(0) == "Abdomen (AB)" and "code AB" in row.toolTip(0)
    assert panel.row_for("n").text(0) == "nasal_bone"
    for ann_id in ("ab", "y", "n"):
        it = panel.row_for(ann_id)
        assert it.data(0, Qt.ItemDataRole.ForegroundRole) is None  # the palette's text colour
        label = rig.doc.get(ann_id).label
        img = it.icon(0).pixmap(12, 12).toImage()
        c = img.pixelColor(6, 6)
        assert (c.red(), c.green(), c.blue()) == class_color(label)  # the class colour as a swatch
    for color in style.STATUS_COLORS.values():  # status words readable on white
        assert contrast((color.red(), color.green(), color.blue()), (255, 255, 255)) >= 4.5
    # the label box lists names, relabels with the code
    i = panel.label_box.findText("Crown-Rump Length (CRL)")
    assert i >= 0 and panel.label_box.itemData(i) == "CRL"
    rig.editor.select("ab")
    panel.label_box.setCurrentIndex(i)
    panel.label_box.activated.emit(i)
    assert rig.doc.get("ab").label == "CRL"
    assert rig.editor.labels["ab"].textItem.toPlainText() == "CRL"  # short on the image (the edit reviewed it)


def test_ai_next_step_lists_classes_by_name_and_runs_their_codes(qtbot: Any) -> None:
    from fada_desk.qt.ai.result_views import StepsView

    steps = StepsView()
    qtbot.addWidget(steps)
    t = steps.class_table
    names = [t.item(r, 0).text() for r in range(t.rowCount())]
    assert "Crown-Rump Length (CRL)" in names and "Abdomen" in names
    steps.set_step_classes("detect", ["CRL", "H"])
    assert ("detect", "CRL, H") in steps.selected_steps() or ("detect", "H, CRL") in steps.selected_steps()


# ---------------------------------------------------------------------------------- values on the image
def test_measurement_values_on_the_image_read_as_in_the_export(qtbot: Any, make_rig: Any) -> None:
    bpd = Caliper(id="bpd", frame=FRAME, label="BPD", measure="BPD", p1=(20.0, 50.0), p2=(120.0, 50.0))
    hc = Ellipse(id="hc", frame=FRAME, label="HC", measure="HC", cx=100.0, cy=75.0, rx=40.0, ry=30.0,
                 angle_deg=0.0)
    plain = Caliper(id="plain", frame=FRAME, p1=(10.0, 140.0), p2=(50.0, 140.0))
    rig = make_rig([bpd, hc, plain, ai_box()])
    cal: list[Calibration | None] = [CAL]
    panel = MeasurementPanel(rig.editor, lambda _f: cal[0])
    qtbot.addWidget(panel)
    shown = {k: rig.editor.labels[k].textItem.toPlainText() for k in ("bpd", "hc", "plain", "box")}
    assert shown["bpd"] == "BPD 50.0 mm" == panel.row_texts("bpd")[0]
    assert shown["hc"] == panel.row_texts("hc")[0] and shown["hc"].startswith("HC ") and shown["hc"].endswith(" mm")
    assert shown["plain"] == "20.0 mm"
    assert shown["box"] == "head (pending review)"  # no value: the class code
    # one caption for screen and export: the PNG writer draws exactly this text
    assert shown["bpd"] == annotation_caption(bpd, measurement_text("BPD", 50.0))
    # the label is filled with the class colour, its ink black or white as in the PNG
    ink, fill = style.label_colors(bpd)
    assert fill.color().getRgb()[:3] == class_color("BPD")
    assert ink.getRgb()[:3] == label_ink(class_color("BPD"))
    # pending measurements say so; a lost calibration takes the value off the image
    rig.editor.undo.run(lambda: SetStatus(rig.doc, ["bpd"], ReviewStatus.PENDING))
    assert rig.editor.labels["bpd"].textItem.toPlainText() == "BPD 50.0 mm (pending review)"
    cal[0] = None
    panel.refresh()
    assert rig.editor.labels["bpd"].textItem.toPlainText() == "BPD (pending review)"
    assert rig.editor.labels["plain"].textItem.toPlainText() == "caliper"


def test_png_export_burns_the_same_caption() -> None:
    rgb = np.zeros((150, 200, 3), np.uint8)
    bpd = Caliper(id="bpd", frame=FRAME, label="BPD", measure="BPD", p1=(20.0, 50.0), p2=(120.0, 50.0))
    out = render_overlay(rgb, [bpd], measurements={"bpd": measurement_text("BPD", 50.0)})
    fill = np.all(out == np.array(class_color("BPD"), np.uint8), axis=2)
    assert fill.sum() > 100  # the label box, filled with the class colour
    assert annotation_caption(bpd, "BPD 50.0 mm") == "BPD 50.0 mm"
    assert annotation_caption(ai_box(), None) == "head (pending review)"


# ---------------------------------------------------------------------------------- calibration line
def test_calibration_line_is_hidden_after_calibrating_and_shown_on_request(
        qtbot: Any, window: Any, wait_for: Any) -> None:
    view, act = window.view, window.calibration.act_show_line
    image_menu = next(a.menu() for a in window.menuBar().actions() if a.text() == "&Image")
    assert act in image_menu.actions()
    window.open_source(FrameListSource([Frame(np.full((150, 200), 40, np.uint8), index=0)], uri="memory:t"))
    wait_for(lambda: window.shown_frame is not None)
    assert not act.isEnabled()  # nothing calibrated by hand yet
    assert window.start_calibration()
    view.add_pick(20.0, 30.0)
    view.add_pick(20.0, 130.0)
    dlg = window.calibration_dialog
    wait_for(dlg.isVisible)
    assert view.pick_overlay_shown  # the marks show while the distance is typed
    dlg.distance.setValue(10.0)
    dlg.accept()
    wait_for(lambda: window.calibration_label.text().startswith("Manual"))
    assert not view.pick_overlay_shown and not view.calibration_line_shown  # never taken for a measure
    assert act.isEnabled() and not act.isChecked()
    act.trigger()
    assert view.calibration_line_shown and view.calibration_line_text == "Calibration 10 mm"
    qtbot.wait(30)
    img = view.grab_image()
    top, bottom = view.image_to_widget(20.0, 40.0), view.image_to_widget(20.0, 120.0)
    cyan = [y for y in range(top.y(), bottom.y()) for x in range(top.x() - 1, top.x() + 2)
            if img.pixelColor(x, y).getRgb()[:3] == (0, 200, 255)]
    assert len(cyan) > (bottom.y() - top.y()) // 3  # dashed cyan, unlike any class colour
    act.trigger()
    assert not view.calibration_line_shown
