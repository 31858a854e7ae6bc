"""The whole review on a real exam store: AI result -> edit, accept, measure in the GUI ->
PDF export in the worker -> the PDF's first page and its annotated image checked.

Data: HC18 image 001_HC (tests/data/hc18, licence there), calibrated with the
challenge's pixel size as a DICOM region would be.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from helpers_review import click, drag
from PIL import Image
from PySide6.QtCore import Qt

from fada_desk.core.annotations import Box, Ellipse, Polygon
from fada_desk.core.review_types import FrameRef, Provenance, ReviewStatus
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.core.vocabulary import class_color
from fada_desk.inference.fada.mapper import ClassMapping
from fada_desk.inference.fada.parsing import Detection, Predictions, Segmentation
from fada_desk.inference.fada.results import AnalysisResult, PhaseResult
from fada_desk.qt.review.workspace import ReviewWorkspace
from fada_desk.storage import ExamStore
from fada_desk.app.review_session import ReviewSession
from fada_desk.storage.review import ReviewStore

pytestmark = pytest.mark.gui

TESTS = Path(__file__).resolve().parents[2]
MM_PER_PX = 0.0896585200514  # HC18 001_HC (challenge CSV)
OPERATOR = "A. Sonographer"
HEAD_POLYGON = tuple(
    (396.0 + 89.0 * np.cos(t), 270.0 + 71.0 * np.sin(t))
    for t in np.linspace(0, 2 * np.pi, 16, endpoint=False)
)
INTERPRETATION = {
    "anatomical_structures": ["fetal skull", "midline echo"],
    "fetal_orientation": "cephalic",
    "imaging_plane": "transthalamic plane",
    "biometric_measurements": "HC measurable",
    "gestational_age": "approximately 20 weeks",
    "image_quality": "adequate",
    "normality_assessment": "no abnormality seen",
    "clinical_recommendations": "routine follow-up",
}


def hc18_frame() -> Frame:
    path = TESTS / "data" / "hc18" / "images" / "001_HC.png"
    if not path.exists():
        path = TESTS.parent.parent / "shared" / "data" / "hc18" / "images" / "001_HC.png"
    px = np.asarray(Image.open(path).convert("L"))
    s = MM_PER_PX / 10.0
    cal = Calibration(regions=(Region(0, 0, px.shape[1] - 1, px.shape[0] - 1, s, s),), source="dicom")
    return Frame(np.ascontiguousarray(px), index=0, calibration=cal)


def analysis() -> dict[str, Any]:
    det = Predictions(detections=[Detection("head", (300.0, 195.0, 490.0, 345.0)),
                                  Detection("abdomen", (20.0, 20.0, 90.0, 70.0))],
                      space="pixel", image_size=(800, 540))
    seg = Predictions(segmentations=[Segmentation("Brain", (307.0, 199.0, 485.0, 341.0), HEAD_POLYGON)],
                      space="pixel", image_size=(800, 540))
    return AnalysisResult(
        image={"sha256": "0" * 64, "width": 800, "height": 540},
        models={"model_sha256": "a" * 64},
        mode="autonomous",
        phases=[
            PhaseResult("interpret", raw_text="{...}", parse_ok=True, interpretation=dict(INTERPRETATION)),
            PhaseResult("classify", raw_text='{"label": "HC_PLANE"}', parse_ok=True, label="HC_PLANE"),
            PhaseResult("detect", raw_text="[...]", parse_ok=True, predictions=det),
            PhaseResult("segment", raw_text="[...]", parse_ok=True, predictions=seg),
        ],
        mapping=ClassMapping("Brain, CSP, LV", "Brain", "priority_2_plane", 2),
        created_at="2025-01-01T00:00:00Z",
    ).to_dict()


@pytest.fixture
def session(tmp_path: Path) -> Iterator[tuple[ExamStore, ReviewSession, int]]:
    store = ExamStore.open(tmp_path / "store")
    store.upsert_patient("MRN-7", name="DOE^JANE", dob=dt.date(1990, 5, 17), sex="F")
    exam = store.create_exam("MRN-7", lmp=dt.date.today() - dt.timedelta(days=20 * 7), operator=OPERATOR)
    item = store.add_image(exam.id, hc18_frame(), source_uri="hc18/001_HC.png")
    s = ReviewSession(store, exam.id, OPERATOR)
    s.import_analysis(item.id, analysis())
    try:
        yield store, s, item.id
    finally:
        s.close()
        store.close()


def test_full_review_then_pdf_export(qtbot: Any, session: Any, tmp_path: Path) -> None:
    store, s, item_id = session
    ref = FrameRef(item_id, 0)
    ws = ReviewWorkspace.for_session(s)
    qtbot.addWidget(ws)
    ws.resize(1400, 800)
    ws.show()
    qtbot.waitExposed(ws)
    ws.activateWindow()
    qtbot.waitUntil(ws.isActiveWindow)
    with qtbot.waitSignal(ws.editor.frameChanged, timeout=20000):
        ws.open_frame(ref)
    qtbot.wait(50)
    ed, vp = ws.editor, ws.view.graphics.viewport()
    assert len(ed.items) == 3 and ws.panel.measurements.cal_label.text().startswith("Calibrated from DICOM")

    def kind_id(label: str) -> str:
        return next(a.id for a in s.doc if a.label == label)

    head, abdomen, brain = kind_id("head"), kind_id("abdomen"), kind_id("Brain")

    assert vp.width() > 600  # the image gets most of the room
    # 1. drag the AI head box by (+20, +12) px: one step, persisted and audited on release
    drag(qtbot, vp, ed.to_widget(340, 210), ed.to_widget(360, 222))
    box = s.doc.get(head)
    assert isinstance(box, Box) and box.provenance is Provenance.AI_EDITED
    assert (box.x0, box.y0) == pytest.approx((320, 207), abs=1.5)
    actions = [e.action for e in ReviewStore(store).audit_entries(s.exam_id)]
    assert actions.count("annotation.move") == 1
    assert ReviewStore(store).load(s.exam_id).get(head).x0 == pytest.approx(box.x0)  # saved

    # 2. reject the wrong "abdomen" box with the keyboard
    click(qtbot, vp, ed.to_widget(55, 45))
    assert ed.selected_id == abdomen
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_R)
    assert s.doc.get(abdomen).status is ReviewStatus.REJECTED

    # 3. fit an ellipse to the AI skull outline, tag it HC; edit one interpretation field
    ed.select(brain)
    qtbot.mouseClick(ws.panel.measurements.fit_button, Qt.MouseButton.LeftButton)
    ell = next(a for a in s.doc if isinstance(a, Ellipse))
    ws.panel.measurements.combos[ell.id].setCurrentText("HC")
    assert s.doc.get(ell.id).measure == "HC"
    ws.panel.interpretation.set_value("image_quality", "good, skull fully visible")

    # 4. accept everything else pending on this frame
    ws.view.graphics.setFocus()
    qtbot.keyClick(ws.view.graphics, Qt.Key.Key_A,
                   Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert not s.doc.pending(ref)
    assert not s.doc.interpretation(ref).pending_names()
    assert isinstance(s.doc.get(brain), Polygon) and s.doc.get(brain).status is ReviewStatus.ACCEPTED
    rows = ws.panel.measurements.result_rows()
    hc_row = next(r for r in rows if r[1] == "Hadlock 1984 (HC)")
    assert hc_row[0] == "GA ★"

    # 5. export the PDF from the dialog; it runs in the worker
    dlg = ws.open_export_dialog(tmp_path / "export")
    assert dlg is not None
    dlg.set_format("pdf")
    qtbot.waitUntil(lambda: dlg.tally is not None)  # Export waits for the review count (ms)
    assert dlg.pending == 0 and not dlg.review_box.isVisible() and dlg.export_button.text() == "Export"
    with qtbot.waitSignal(dlg.exported, timeout=120000) as sig:
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    (pdf_path,) = sig.args[0]
    assert pdf_path.suffix == ".pdf" and pdf_path.parent == tmp_path / "export"

    pdf = pdfium.PdfDocument(str(pdf_path))
    try:
        first = pdf[0].get_textpage().get_text_range()
        for needle in (f"AI-assisted, reviewed by {OPERATOR}", "MRN-7", "Hadlock 1984 (HC)", "Biometry"):
            assert needle in first, needle
        everything = "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
        assert "good, skull fully visible" in everything  # the human's edit, not the AI text
        assert "pending review" not in everything
        # the annotated frame is embedded; rendered, it shows the overlay class colours
        images = [list(pdf[i].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])) for i in range(len(pdf))]
        page = next(i for i, objs in enumerate(images) if objs)
        rgb = np.asarray(pdf[page].render(scale=2).to_pil().convert("RGB")).astype(int)
    finally:
        pdf.close()

    def pixels_of(label: str) -> int:
        c = np.array(class_color(label))
        return int((np.abs(rgb - c).max(axis=2) <= 25).sum())

    assert pixels_of("head") > 100  # the accepted (edited) head box
    assert pixels_of("Brain") > 100  # the accepted skull outline (and its fitted ellipse)
    assert pixels_of("abdomen") == 0  # the rejected box is not in the report
    # the store recorded the GUI's actions and the export, in an intact hash chain
    entries = ReviewStore(store).audit_entries(s.exam_id)
    acts = {e.action for e in entries}
    assert {"ai.output", "annotation.move", "annotation.status", "annotation.add", "annotation.measure",
            "interpretation.field.edit", "exam.export"} <= acts
    assert ReviewStore(store).verify_audit().ok
    ws.shutdown()
