"""Exporters on a real exam store: JSON content, PNG pixels where overlays are, PDF text/images/pages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c
import pytest
from PIL import Image

from fada_desk.core.annotations import Box, Caliper, Ellipse
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.core.cancel import CancelToken
from fada_desk.core.annotation_commands import AddAnnotation, SetStatus
from fada_desk.core.interpretation_commands import EditInterpretationField, SetFieldStatus
from fada_desk.core.errors import Cancelled, ExportError
from fada_desk.core.interpretation import INTERPRETATION_FIELDS
from fada_desk.export import EXPORTERS, ClinicHeader, ExportOptions, export_exam
from fada_desk.export.overlay import render_overlay
from fada_desk.export.settings import load_clinic_header
from fada_desk.core.vocabulary import class_color
from fada_desk.storage import CapturedItem, Exam, ExamStore
from fada_desk.app.review_session import ReviewSession

from fada_analysis import analysis_dict

OP = "A. Sonographer"
CLINIC = ClinicHeader("Clinique Étoile de Thiès", "12 Rue des Manguiers\nThiès, Sénégal", "+221 33 951 00 00")


def run_job(job):  # noqa: ANN001, ANN201
    progress = []
    while True:
        try:
            progress.append(next(job))
        except StopIteration as stop:
            return stop.value, progress


@pytest.fixture()
def reviewed(store: ExamStore, exam: Exam, item: CapturedItem) -> dict:
    """AI result imported; one box rejected, one box + polygon accepted, keypoints left pending;
    a manual HC ellipse and BPD caliper; two fields reviewed; a review note with pending allowed
    (not a sign-off: the report stays preliminary)."""
    f = FrameRef(item.id)
    with ReviewSession(store, exam.id, OP) as s:
        anns = s.import_analysis(item.id, analysis_dict(), analysis_id="run-1")
        head, abdomen, brain, kps = anns
        s.push(SetStatus(s.doc, [abdomen.id], "rejected"))
        s.push(SetStatus(s.doc, [head.id, brain.id], "accepted"))
        hc = Ellipse(frame=f, label="HC", cx=396, cy=270, rx=89, ry=71, measure="HC")
        bpd = Caliper(frame=f, label="BPD", p1=(396, 199), p2=(396, 341), measure="BPD")
        s.push(AddAnnotation(s.doc, hc))
        s.push(AddAnnotation(s.doc, bpd))
        s.push(EditInterpretationField(s.doc, f, "gestational_age", "13 weeks"))
        s.push(SetFieldStatus(s.doc, f, "imaging_plane", "accepted"))
        s.push(SetFieldStatus(s.doc, f, "image_quality", "rejected"))
        s.push(SetFieldStatus(s.doc, f, "classification", "accepted"))
        s.sign_off("Head measured.", allow_pending=True)
    return {"head": head, "abdomen": abdomen, "brain": brain, "kps": kps, "hc": hc, "bpd": bpd}


def test_registry_lists_the_three_formats() -> None:
    assert EXPORTERS.names() == ["json", "pdf", "png"]


def test_json_export_content(
    store: ExamStore, exam: Exam, item: CapturedItem, reviewed: dict, tmp_path: Path
) -> None:
    (path,), progress = run_job(export_exam(store, exam.id, "json", tmp_path, ExportOptions(clinic=CLINIC)))
    assert progress[-1].fraction == 1.0 and progress[-1].payload == path
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["format"] == "fada-desk-export/1"
    assert doc["patient"] == {"patient_id": "MRN-001", "name": "DOE^JANE", "dob": "1990-05-17", "sex": "F"}
    assert doc["exam"]["uid"] == exam.uid and doc["exam"]["ga_by_dates"] == {"days": 140, "text": "20w0d"}
    assert doc["clinic"]["name"] == "Clinique Étoile de Thiès"
    (img,) = doc["images"]
    assert (img["item_id"], img["frame_index"], img["width"], img["height"]) == (item.id, 0, 800, 540)
    assert img["sha256"] == item.sha256 and img["calibration"]["source"] == "dicom"
    fada = img["fada"]
    assert set(fada["interpretation"]) == set(INTERPRETATION_FIELDS)
    # accepted or edited fields only; pending and rejected ones are null
    assert fada["interpretation"]["gestational_age"] == "13 weeks"
    assert fada["interpretation"]["imaging_plane"] == "transthalamic plane"
    assert fada["interpretation"]["image_quality"] is None
    assert fada["interpretation"]["fetal_orientation"] is None
    assert fada["classification"] == "BPD_PLANE"
    assert [d["label"] for d in fada["detections"]] == ["head"]  # abdomen rejected
    assert fada["detections"][0]["bbox_2d"] == [300.0, 195.0, 490.0, 345.0]
    assert [s["label"] for s in fada["segmentations"]] == ["Brain"] and len(
        fada["segmentations"][0]["mask"]
    ) == 12
    assert fada["keypoints"] == []  # pending, not included
    review = img["review"]["gestational_age"]
    assert review == {
        "value": "13 weeks",
        "ai": "approximately 20 weeks",
        "status": "accepted",
        "provenance": "ai-edited",
    }
    kinds = {a["id"]: a for a in img["annotations"]}
    assert reviewed["abdomen"].id not in kinds and reviewed["kps"].id not in kinds
    assert kinds[reviewed["hc"].id]["provenance"] == "manual"
    params = {m["parameter"]: m for m in doc["measurements"]}
    assert set(params) == {"HC", "BPD"}
    assert params["BPD"]["value_mm"] == pytest.approx(round(142 * 0.0896585200514, 2), abs=0.01)
    bio = doc["biometry"]
    assert bio["primary_ga"]["equation"] == "Hadlock 1984 (HC)"
    assert "Radiology 1984;152:497" in bio["primary_ga"]["reference"]
    # pending proposals: the review note is no sign-off, the report is preliminary version 1
    assert doc["review"]["sign_off"] is None
    assert (doc["report"]["version"], doc["report"]["status"], doc["report"]["locked"]) == (1, "preliminary", False)
    assert doc["report"]["sign_off"] == "Not yet signed off." and doc["report"]["exported_version"] is None
    # the keypoints and 7 interpretation values are still pending: the export must not claim a review
    assert doc["review"]["note"] == f"AI-assisted, review incomplete: 7 of 15 AI proposals reviewed by {OP}"
    assert doc["review"]["ai_proposals"]["annotations"] == {
        "accepted": 2, "edited": 0, "rejected": 1, "pending": 1, "total": 4}
    assert doc["review"]["ai_proposals"]["interpretation_values"] == {
        "accepted": 3, "edited": 1, "rejected": 1, "pending": 7, "total": 11}
    assert "8 AI proposals not reviewed and not included." in doc["review"]["statement"]
    assert "15 proposals: 5 accepted (1 edited), 2 rejected, 8 not reviewed." in doc["review"]["statement"]
    assert len(doc["audit"]["head_hash"]) == 64
    assert doc["pending_count"] == 8 and doc["pending_included"] == 0
    # the export itself is audited, after the head recorded in the file
    from fada_desk.storage.review import ReviewStore

    last = ReviewStore(store).audit_entries(exam.id)[-1]
    assert last.action == "exam.export" and last.after["files"] == [str(path)]
    assert last.prev_hash == doc["audit"]["head_hash"] and last.operator == OP


def test_fully_reviewed_exam_says_reviewed_by_the_operator(
    store: ExamStore, exam: Exam, item: CapturedItem, reviewed: dict, tmp_path: Path
) -> None:
    f = FrameRef(item.id)
    with ReviewSession(store, exam.id, OP) as s:
        s.push(SetStatus(s.doc, [reviewed["kps"].id], "rejected"))
        interp = s.doc.interpretation(f)
        for name, v in interp.values.items():
            if v.status.value == "pending" and v.value is not None:
                s.push(SetFieldStatus(s.doc, f, name, "accepted"))
    (path,), _ = run_job(export_exam(store, exam.id, "json", tmp_path, ExportOptions(clinic=CLINIC)))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert doc["review"]["note"] == f"AI-assisted, reviewed by {OP}"
    assert doc["pending_count"] == 0 and "not included" not in doc["review"]["statement"]
    assert doc["review"]["ai_proposals"]["all"]["pending"] == 0
    (pdf_path,), _ = run_job(export_exam(store, exam.id, "pdf", tmp_path, ExportOptions(clinic=CLINIC)))
    everything = "\n".join(_pdf_text(pdf_path)[1])
    flat = " ".join(everything.split())
    assert f"AI-assisted, reviewed by {OP}" in flat and "not included" not in flat
    assert "0 not reviewed." in flat


def test_json_with_pending_marks_them(store: ExamStore, exam: Exam, reviewed: dict, tmp_path: Path) -> None:
    (path,), _ = run_job(
        export_exam(store, exam.id, "json", tmp_path, ExportOptions(include_pending=True, clinic=CLINIC))
    )
    doc = json.loads(path.read_text(encoding="utf-8"))
    img = doc["images"][0]
    assert [k["label"] for k in img["fada"]["keypoints"]] == ["CRL_KP"]
    assert img["fada"]["keypoints"][0]["status"] == "pending"
    kp = next(a for a in img["annotations"] if a["id"] == reviewed["kps"].id)
    assert kp["note"] == "pending review"
    assert img["review"]["fetal_orientation"]["note"] == "pending review"
    assert img["fada"]["interpretation"]["fetal_orientation"] == "cephalic"
    assert img["fada"]["interpretation"]["image_quality"] is None  # rejected stays out
    assert doc["pending_count"] == 8 and doc["pending_included"] > 0
    assert 'included and marked "pending review"' in doc["review"]["statement"]
    assert all(d["label"] != "abdomen" for d in img["fada"]["detections"])


def test_png_export_burns_overlays(
    store: ExamStore, exam: Exam, item: CapturedItem, reviewed: dict, tmp_path: Path
) -> None:
    (path,), _ = run_job(export_exam(store, exam.id, "png", tmp_path, ExportOptions(clinic=CLINIC)))
    out = np.asarray(Image.open(path).convert("RGB"))
    src = store.load_frame(item.id).rgb()
    assert out.shape == src.shape
    head = reviewed["head"]
    # the accepted head box's right edge is drawn in the FADA colour of "head"
    x, y = int(head.x1), int(head.y0 + 0.6 * (head.y1 - head.y0))
    assert tuple(out[y, x]) == class_color("head")
    # the rejected abdomen box is not drawn: its edge keeps the original pixels
    ab = reviewed["abdomen"]
    ey = int((ab.y0 + ab.y1) / 2)
    assert np.array_equal(out[ey, int(ab.x1) - 1 : int(ab.x1) + 2], src[ey, int(ab.x1) - 1 : int(ab.x1) + 2])
    # the pending keypoints are not drawn either (a keypoint dot would be class coloured)
    kp = reviewed["kps"].points[0]
    assert tuple(out[int(kp.y), int(kp.x)]) != class_color("CRL_KP")
    # far from every annotation the image is untouched
    assert np.array_equal(out[500:530, 650:700], src[500:530, 650:700])
    # the brain polygon is filled translucently: inside it pixels moved toward its colour
    inside = (396, 300)
    assert not np.array_equal(out[inside[1], inside[0]], src[inside[1], inside[0]])


def test_png_with_pending_draws_them_dashed(
    store: ExamStore, exam: Exam, reviewed: dict, tmp_path: Path
) -> None:
    (path,), _ = run_job(export_exam(store, exam.id, "png", tmp_path, ExportOptions(include_pending=True)))
    out = np.asarray(Image.open(path).convert("RGB"))
    kp = reviewed["kps"].points[0]
    assert tuple(out[int(kp.y), int(kp.x)]) == class_color("CRL_KP")


def test_render_overlay_each_kind() -> None:
    rgb = np.zeros((200, 300, 3), np.uint8)
    f = FrameRef(1)
    anns = [
        Box(frame=f, label="head", x0=20, y0=40, x1=120, y1=140),
        Caliper(frame=f, label="FL", p1=(150, 100), p2=(280, 100), measure="FL"),
        Ellipse(frame=f, label="AC", cx=200, cy=150, rx=40, ry=20, measure="AC"),
        Box(frame=f, label="arm", x0=10, y0=170, x1=60, y1=195, status=ReviewStatus.REJECTED),
    ]
    out = render_overlay(rgb, anns, measurements={anns[1].id: "FL 13.0 mm"}, classification="FL_PLANE")
    assert tuple(out[90, 20]) == class_color("head")
    assert tuple(out[100, 215]) == class_color("FL")
    assert tuple(out[150, 240]) == class_color("AC") or tuple(out[150, 239]) == class_color("AC")
    assert not out[165:200, 5:65].any()  # the rejected box (and its label) is not drawn
    assert rgb.sum() == 0  # input untouched
    with pytest.raises(ValueError):
        render_overlay(np.zeros((5, 5, 4), np.uint8), anns)


def _pdf_text(path: Path) -> tuple[int, list[str], pdfium.PdfDocument]:
    pdf = pdfium.PdfDocument(str(path))
    texts = [pdf[i].get_textpage().get_text_range() for i in range(len(pdf))]
    return len(pdf), texts, pdf


def test_pdf_report(store: ExamStore, exam: Exam, reviewed: dict, tmp_path: Path) -> None:
    (path,), progress = run_job(export_exam(store, exam.id, "pdf", tmp_path, ExportOptions(clinic=CLINIC)))
    assert path.suffix == ".pdf" and path.read_bytes().startswith(b"%PDF")
    n, texts, pdf = _pdf_text(path)
    assert n >= 1
    first = texts[0]
    for needle in (
        "Clinique Étoile de Thiès",
        "Fetal ultrasound report",
        "DOE, JANE",
        "MRN-001",
        "1990-05-17",
        "A. Sonographer",
        f"Page 1 of {n}",
        "AI-assisted, review incomplete: 7 of 15 AI proposals reviewed by A. Sonographer",
        "8 AI proposal(s) were not reviewed and are not included",
        "Biometry",
        "Hadlock 1984 (HC)",
    ):
        assert needle in first, needle
    everything = "\n".join(texts)
    for needle in (
        "Head circumference",
        "Ramanujan",
        "Radiology 1984;152:497-501",
        "13 weeks",
        "View classification: BPD_PLANE",
        "Report version 1 - preliminary. Not yet signed off.",
        "Signature",
        f"Page {n} of {n}",
        "Audit trail",
        "Committee Opinion No. 700",
    ):
        assert needle in everything, needle
    assert "pending review" not in everything  # nothing pending exported
    assert "AI-assisted, reviewed by" not in everything  # ... and no claim that it was all reviewed
    assert "8 AI proposals not reviewed and not included." in " ".join(everything.split())
    # the first page, rendered: A4, with visible text (header, tables)
    page0 = pdf[0]
    w_pt, h_pt = page0.get_size()
    assert (round(w_pt), round(h_pt)) == (595, 842)
    first_bitmap = np.asarray(page0.render(scale=1).to_pil().convert("L"))
    assert (first_bitmap < 128).mean() > 0.01
    assert "abdomen" not in everything.lower().replace("abdominal", "")
    # images: the annotated frame is embedded as an image object and visible when rendered
    image_objs = [o for i in range(n) for o in pdf[i].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE])]
    assert len(image_objs) >= 1
    page_with_image = next(
        i for i in range(n) if list(pdf[i].get_objects(filter=[pdfium_c.FPDF_PAGEOBJ_IMAGE]))
    )
    bitmap = np.asarray(pdf[page_with_image].render(scale=1).to_pil().convert("RGB"))
    dark = (bitmap.mean(axis=2) < 60).mean()
    assert dark > 0.05  # a large dark ultrasound image, not an empty page
    pdf.close()


def test_pdf_with_pending_marks_them(store: ExamStore, exam: Exam, reviewed: dict, tmp_path: Path) -> None:
    (path,), _ = run_job(
        export_exam(store, exam.id, "pdf", tmp_path, ExportOptions(include_pending=True, clinic=CLINIC))
    )
    _, texts, pdf = _pdf_text(path)
    everything = "\n".join(texts)
    assert "pending review" in everything and "still" in everything
    assert "cephalic" in everything  # pending field shown, marked
    pdf.close()


def test_export_is_cancellable_and_leaves_no_partial_file(
    store: ExamStore, exam: Exam, reviewed: dict, tmp_path: Path
) -> None:
    token = CancelToken()
    job = export_exam(store, exam.id, "pdf", tmp_path / "out", ExportOptions(clinic=CLINIC), token)
    next(job)
    next(job)
    token.cancel()
    with pytest.raises(Cancelled):
        run_job(job)
    assert not list((tmp_path / "out").glob("*.pdf")) and not list((tmp_path / "out").glob(".*part"))


def test_export_errors_are_clear(store: ExamStore, exam: Exam, tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="Unknown export format"):
        run_job(export_exam(store, exam.id, "docx", tmp_path))
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="Cannot create the export folder"):
        run_job(export_exam(store, exam.id, "json", blocker / "sub", ExportOptions(clinic=CLINIC)))


def test_empty_exam_exports(store: ExamStore, exam: Exam, tmp_path: Path) -> None:
    for fmt in ("json", "png", "pdf"):
        paths, _ = run_job(export_exam(store, exam.id, fmt, tmp_path, ExportOptions(clinic=ClinicHeader())))
        assert len(paths) == (0 if fmt == "png" else 1)
    _, texts, pdf = _pdf_text(next(tmp_path.glob("*.pdf")))
    assert "No accepted measurements" in texts[0] and "Not yet signed off" in "\n".join(texts)
    pdf.close()


def test_clinic_header_from_qt_settings_file(tmp_path: Path) -> None:
    """The GUI writes QSettings ini; the exporter reads it without Qt."""
    from PySide6.QtCore import QSettings

    ini = tmp_path / "settings.ini"
    s = QSettings(str(ini), QSettings.Format.IniFormat)
    s.setValue("clinic/name", "Clinique Étoile, Thiès — 診療所")
    s.setValue("clinic/address", 'BP 45 "Quartier 10"\nThiès')
    s.setValue("clinic/phone", "+221 33 951 00 00")
    s.sync()
    del s
    h = load_clinic_header(ini)
    assert h.name == "Clinique Étoile, Thiès — 診療所"
    assert h.address == 'BP 45 "Quartier 10"\nThiès'
    assert h.phone == "+221 33 951 00 00" and h.email == ""
    assert load_clinic_header(tmp_path / "missing.ini") == ClinicHeader()
