"""The AI dock in the real main window: freeze -> analyse -> capture -> stored -> review -> reopen."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest
from app.fakes import BRAIN, dark_frame
from helpers_ai import class_pixels, new_exam
from inference.fakes import FakeBackend
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton

from fada_desk.core.annotations import Box, Polygon
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.sources.memory import FrameListSource
from fada_desk.sources.synthetic import SyntheticLiveSource
from fada_desk.app.analysis import RunState
from fada_desk.qt.exam_dialogs import ExamRequest
from fada_desk.storage import ExamStore
from fada_desk.storage.review import AI_OUTPUT, ReviewStore

pytestmark = pytest.mark.gui


def _exam(qtbot: Any, window: Any) -> Any:
    return new_exam(qtbot, window)


def test_live_frame_must_be_frozen_first(qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    panel = ai_window.ai_dock.panel
    assert "Open an image" in panel.target_label.text()
    ai_window.open_source(SyntheticLiveSource(160, 120, fps=30, color=True))
    wait_for(lambda: ai_window.shown_frame is not None)
    wait_for(lambda: "Freeze the image first" in panel.target_label.text())
    assert panel.run_autonomous() is None and "Freeze the image first" in panel.state_label.text()
    qtbot.keyClick(ai_window, Qt.Key.Key_Space)
    wait_for(lambda: panel.target_label.text().startswith("Analyses: Frozen live frame"))
    ai_window.review_dock.raise_()  # the AI tab is behind the review tab
    wait_for(lambda: not ai_window.ai_dock.on_screen)
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        ai_window.ai_dock.act_autonomous.trigger()  # F5 / AI menu
    assert ai_window.ai_dock.on_screen  # a run brings its progress to the front
    assert panel.state == RunState.DONE and panel.overlay.visible
    # unfreezing moves on to new frames: the result is no longer drawn on them
    qtbot.keyClick(ai_window, Qt.Key.Key_Space)
    wait_for(lambda: not panel.overlay.visible)


def test_analysis_of_a_frozen_frame_is_stored_with_its_capture_and_survives_reopen(
        qtbot: Any, ai_window: Any, backend: FakeBackend, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    exam = _exam(qtbot, window)
    dock = window.review_dock
    frame = dark_frame(400, 300, index=0)
    window.open_source(FrameListSource([frame], uri="memory:scan"))
    wait_for(lambda: window.shown_frame is not None)
    wait_for(lambda: panel.target_label.text() == "Analyses: Image 400×300")
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        qtbot.mouseClick(panel.autonomous_button, Qt.MouseButton.LeftButton)
    assert panel.overlay.visible and not dock.session.doc.pending()  # not in the exam yet
    qtbot.wait(50)
    assert class_pixels(window.view.grab_image(), "CSP") > 20

    # capturing the analysed frame takes the analysis along (same pixels)
    with qtbot.waitSignal(panel.storedInExam, timeout=30000) as stored:
        with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
            window.capture_still()
    item = saved.args[0]
    ref = FrameRef(item.id, 0)
    ids = stored.args[0]
    anns = dock.session.doc.for_frame(ref)
    assert [a.id for a in anns] == ids and len(anns) == 4
    assert {type(a) for a in anns} == {Box, Polygon}
    assert all(a.provenance is Provenance.AI and a.status is ReviewStatus.PENDING for a in anns)
    interp = dock.session.doc.interpretation(ref)
    assert interp is not None and interp.values["classification"].ai == "BPD_PLANE"
    assert interp.mapping_tier == "cls_specific_BPD_PLANE"

    # reviewing the capture: the review editor draws the stored items, the AI layer steps back
    window.show_item(item)
    wait_for(lambda: dock.frame == ref)
    wait_for(lambda: len(dock.editor.items) == 4)
    wait_for(lambda: not panel.overlay.visible)
    assert panel.classification_label.text() == "Classification: BPD_PLANE"
    # the sonographer rejects the CSP box in review
    csp = next(a for a in anns if a.label == "CSP")
    dock.editor.select(csp.id)
    assert dock.editor.reject_selected()

    exam_id = exam.id
    window.close()
    with ExamStore.open() as store:  # another process sees the AI output, audited with the analysis
        doc = ReviewStore(store).load(exam_id)
        assert len(doc.for_frame(ref)) == 4
        entries = [e for e in ReviewStore(store).audit_entries(exam_id) if e.action == AI_OUTPUT]
        assert len(entries) == 1 and entries[0].operator == "A. Sonographer"
        analysis = entries[0].after["analysis"]
        assert [p["phase"] for p in analysis["phases"]] == ["interpret", "classify", "detect", "segment"]
        assert analysis["phases"][0]["raw_text"] == BRAIN["interpret"]
        assert analysis["image"]["width"] == 400

    # a new window: reviewing the capture shows the stored AI result in the AI panel
    from fada_desk.qt.main_window import MainWindow

    win2 = MainWindow()
    qtbot.addWidget(win2)
    win2.resize(1200, 800)
    win2.show()
    panel2 = win2.ai_dock.panel
    with qtbot.waitSignal(win2.examChanged, timeout=30000):
        win2.open_exam(exam_id)
    wait_for(lambda: win2.thumbs.count() == 1)
    win2.show_item(item)
    wait_for(lambda: "Stored AI result of capture" in panel2.state_label.text())
    assert "3 annotation(s)" in panel2.state_label.text()  # the rejected one is not drawn
    assert panel2.classification_label.text() == "Classification: BPD_PLANE"
    assert "tier cls_specific_BPD_PLANE" in panel2.mapping_label.text()
    assert sorted(panel2.overlay.labels()) == ["Brain", "Brain", "LV"]
    assert not panel2.overlay.visible  # the review editor draws them
    win2.close()
    assert backend.load_calls == 1  # loaded once for the process


def test_run_on_a_reviewed_capture_asks_before_replacing_the_interpretation(
        qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    _exam(qtbot, window)
    dock = window.review_dock
    px = np.full((240, 320), 30, np.uint8)
    from fada_desk.core.frame import Frame

    window.open_source(FrameListSource([Frame(px, index=0)], uri="memory:scan"))
    wait_for(lambda: window.shown_frame is not None)
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        window.capture_still()
    item = saved.args[0]
    ref = FrameRef(item.id, 0)
    window.show_item(item)
    wait_for(lambda: dock.frame == ref)
    wait_for(lambda: panel.target_label.text() == f"Analyses: Capture #{item.id}")
    # the analysis of a capture under review is stored when it finishes, through the dock's session
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        panel.run_autonomous()
    wait_for(lambda: len(dock.editor.items) == 4)
    assert not panel.overlay.visible
    # the sonographer accepts the imaging plane; a new AI run must not silently replace it
    from fada_desk.core.review_types import ReviewStatus as RS

    assert dock.panel.interpretation.set_status("imaging_plane", RS.ACCEPTED)
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_interpret()
    wait_for(lambda: panel.questions.box is not None and panel.questions.box.isVisible())
    box = panel.questions.box
    assert box.objectName() == "aiReplaceQuestion" and "already reviewed" in box.text()
    with qtbot.waitSignal(panel.storedInExam, timeout=30000):
        box.button(QMessageBox.StandardButton.Yes).click()
    interp = dock.session.doc.interpretation(ref)
    assert interp.values["imaging_plane"].status is ReviewStatus.PENDING  # the new AI result
    assert len(dock.session.doc.for_frame(ref)) == 4  # interpret mode adds no boxes
    # a next step adds its boxes only; the interpretation under review is left alone (no question
    # about it) but the boxes repeat the first run's: replace, keep both or cancel? Keep both.
    assert dock.panel.interpretation.set_status("imaging_plane", RS.ACCEPTED)
    panel.set_step_classes("detect", ["LV"])
    panel.step_segment.setChecked(False)
    panel.run_selected()
    wait_for(lambda: panel.questions.box is not None and panel.questions.box.isVisible())
    assert panel.questions.box.objectName() == "aiDuplicateQuestion"
    with qtbot.waitSignal(panel.storedInExam, timeout=30000) as stored:
        panel.questions.box.findChild(QPushButton, "aiKeepBoth").click()
    assert len(stored.args[0]) == 3 and len(dock.session.doc.for_frame(ref)) == 7
    assert dock.session.doc.interpretation(ref).values["imaging_plane"].status is RS.ACCEPTED
    entries = ReviewStore(dock.store).audit_entries(window.exam.id)
    ai = [e.after["analysis"] for e in entries if e.action == AI_OUTPUT]
    assert [[p["phase"] for p in a["phases"]] for a in ai] == [
        ["interpret", "classify", "detect", "segment"], ["interpret", "classify"], ["detect"]]
    assert ai[2]["mapping"] is None and ai[1]["mapping"]["tier"] == "cls_specific_BPD_PLANE"


def test_result_that_cannot_be_stored_says_why_and_stays_in_the_panel(
        qtbot: Any, ai_window: Any, wait_for: Any) -> None:
    window, panel = ai_window, ai_window.ai_dock.panel
    req = ExamRequest("MRN-NOOP", name="DOE^JOHN", lmp=dt.date.today() - dt.timedelta(days=100))
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(req)  # no operator: the review dock cannot open a signed session
    assert window.review_dock.session is None
    window.open_source(FrameListSource([dark_frame(320, 240, index=0)], uri="memory:scan"))
    wait_for(lambda: window.shown_frame is not None)
    with qtbot.waitSignal(window.itemSaved, timeout=30000) as saved:
        window.capture_still()
    item = saved.args[0]
    window.show_item(item)
    wait_for(lambda: panel.target_label.text() == f"Analyses: Capture #{item.id}")
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_autonomous()
    wait_for(lambda: "was not stored" in panel.state_label.text())
    assert "operator name is required" in panel.state_label.text()
    assert panel.result is not None and len(panel.result.phases) == 4  # nothing lost on screen
    assert panel.overlay.visible  # no editor draws it: the AI layer keeps it on the image
    with ExamStore.open() as store:
        assert not list(ReviewStore(store).load(window.exam.id))
