"""The review dock inside the real main window: exam -> capture -> review -> measure -> saved."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from helpers_review import drag
from PySide6.QtCore import Qt

from fada_desk.core.annotations import Caliper
from fada_desk.core.review_types import FrameRef, Provenance
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.sources.memory import FrameListSource
from fada_desk.qt.exam_dialogs import ExamRequest
from fada_desk.storage import ExamStore
from fada_desk.storage.review import ReviewStore

pytestmark = pytest.mark.gui


def test_review_dock_follows_the_exam_and_the_shown_capture(qtbot: Any, window: Any, wait_for: Any) -> None:
    dock = window.review_dock
    assert dock.session is None and "Open or create an exam" in dock.message.text()
    req = ExamRequest("MRN-9", name="DOE^JANE", lmp=dt.date.today() - dt.timedelta(days=140),
                      operator="A. Sonographer")
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(req)
    assert dock.session is not None and dock.session.operator == "A. Sonographer"
    assert dock.stack.currentWidget() is dock.panel and dock.act_export.isEnabled()

    # a calibrated still (0.5 mm/px), captured into the exam
    px = np.full((150, 200), 40, np.uint8)
    cal = Calibration(regions=(Region(0, 0, 199, 149, 0.05, 0.05),), source="dicom")
    window.open_source(FrameListSource([Frame(px, index=0, calibration=cal)], uri="memory:test"))
    wait_for(lambda: window.shown_frame is not None)
    assert dock.frame is None  # live/acquisition frames are not editable
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        assert window.capture_still()
    item = saved.args[0]

    # reviewing the capture puts its annotations on the main view
    window.show_item(item)
    wait_for(lambda: dock.frame == FrameRef(item.id, 0))
    ed = dock.editor
    assert ed.view is window.view and ed.frame == FrameRef(item.id, 0)
    qtbot.wait(50)
    qtbot.mouseClick(dock.panel.measurements.tool_buttons["FL"], Qt.MouseButton.LeftButton)
    assert ed.tool == "caliper"
    drag(qtbot, window.view.graphics.viewport(), ed.to_widget(20, 50), ed.to_widget(120, 50))
    (cal_ann,) = [a for a in dock.session.doc if isinstance(a, Caliper)]
    assert cal_ann.measure == "FL" and cal_ann.provenance is Provenance.MANUAL
    assert dock.panel.measurements.row_texts(cal_ann.id)[0] == f"FL {0.5 * cal_ann.length_px:.1f} mm"
    assert any(r[1] == "Hadlock 1984 (FL)" for r in dock.panel.measurements.result_rows())
    # saved and audited at once, under the exam's operator
    entries = ReviewStore(dock.store).audit_entries(window.exam.id)
    assert [e.action for e in entries if e.action.startswith("annotation")] == ["annotation.add"]
    assert entries[-1].operator == "A. Sonographer"

    # Esc first clears the selection on the image, then (main window) goes back to live
    window.view.graphics.setFocus()
    assert ed.selected_id == cal_ann.id
    qtbot.keyClick(window.view.graphics, Qt.Key.Key_Escape)
    assert ed.selected_id is None and window.review_item is not None
    qtbot.keyClick(window.view.graphics, Qt.Key.Key_Escape)
    wait_for(lambda: window.review_item is None)
    assert dock.frame is None and not ed.items
    exam_id = window.exam.id
    window.close()
    with ExamStore.open() as store:  # another "process": the measurement is in the store
        (saved_ann,) = list(ReviewStore(store).load(exam_id))
        assert saved_ann == cal_ann
