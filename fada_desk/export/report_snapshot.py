"""The content of a report version, and the export bundle rebuilt from it.

Finalizing records :func:`snapshot` of the exam's export bundle (built without pending
items): ``content`` is the canonical report content that is hashed (patient and exam
fields, GA by dates, every exported image with its calibration and the reviewed
annotations and interpretation values the report shows, measurements, GA/EFW with the
equations, what was reviewed) and ``presentation`` what only shapes the page (clinic
header, exam status). Numbers are kept at full precision, so :func:`version_bundle`
rebuilds exactly the bundle that was signed: exporting a version again gives the same
bytes, whatever changed in the exam since (pixels are read from the store and checked
against the recorded SHA-256 of each image).

:func:`report_bundle` is what every export of an exam uses: the latest version while the
report is final (the report of record, reproducible), the live exam otherwise. A field
added to the biometry report must be added to :func:`_estimate_record` / :func:`_report`
too (``tests/export/test_report_export.py`` compares the rebuilt report with the live one).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from fada_desk.core.annotations import Annotation
from fada_desk.core.biometry import BiometryReport, Measurement
from fada_desk.core.biometry.equations import Equation
from fada_desk.core.biometry.report import Estimate
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import ExportError, FadaError, StorageError
from fada_desk.core.frame import Frame
from fada_desk.core.report_record import CONTENT_FORMAT, ReportState
from fada_desk.core.review_tally import ReviewTally
from fada_desk.core.review_types import FrameRef
from fada_desk.export.bundle import ExportBundle, ExportFrame, ExportValue, build_bundle, iso
from fada_desk.export.options import ClinicHeader, ExportOptions
from fada_desk.storage.models import CapturedItem, Exam, ExamStatus, ItemKind, Patient

# ---------------------------------------------------------------------------------- recording


def _measurement_record(m: Measurement) -> dict[str, Any]:
    return {"parameter": m.parameter, "value_mm": m.value_mm, "method": m.method,
            "annotation_id": m.annotation_id, "details": dict(m.details)}


def _estimate_record(e: Estimate) -> dict[str, Any]:
    q = e.equation
    return {"equation": {"key": q.key, "name": q.name, "quantity": q.quantity, "inputs": list(q.inputs),
                         "formula": q.formula, "reference": q.reference, "validity": q.validity},
            "value": e.value, "inputs_mm": dict(e.inputs_mm), "warnings": list(e.warnings)}


def _report_record(rep: BiometryReport | None) -> dict[str, Any] | None:
    if rep is None:
        return None

    def index(items: tuple[Estimate, ...], chosen: Estimate | None) -> int | None:
        return next((i for i, e in enumerate(items) if e is chosen), None)

    return {"measurements_mm": dict(rep.measurements_mm), "ga": [_estimate_record(e) for e in rep.ga],
            "efw": [_estimate_record(e) for e in rep.efw], "primary_ga": index(rep.ga, rep.primary_ga),
            "primary_efw": index(rep.efw, rep.primary_efw), "ga_by_dates_days": rep.ga_by_dates_days,
            "warnings": list(rep.warnings), "cephalic_index": rep.cephalic_index,
            "references": list(rep.references)}


def _frame_record(f: ExportFrame) -> dict[str, Any]:
    it = f.item
    return {
        "item": {"id": it.id, "kind": str(it.kind), "created_at": iso(it.created_at), "width": it.width,
                 "height": it.height, "channels": it.channels, "n_frames": it.n_frames, "sha256": it.sha256,
                 "source_uri": it.source_uri},
        "frame_index": f.frame.frame_index,
        "calibration": f.calibration.to_dict() if f.calibration else None,
        "annotations": [a.to_dict() for a in f.annotations],
        "interpretation": {k: {"value": v.value, "ai": v.ai, "status": v.status, "provenance": v.provenance}
                           for k, v in f.interpretation.items()},
        "mapping_tier": f.mapping_tier,
    }


def _tally_record(t: ReviewTally) -> dict[str, int]:
    return {"accepted": t.accepted, "edited": t.edited, "rejected": t.rejected, "pending": t.pending}


def content_of(bundle: ExportBundle) -> dict[str, Any]:
    """The canonical report content of a bundle (what a version's hash covers)."""
    exam, p = bundle.exam, bundle.patient
    return {
        "format": CONTENT_FORMAT,
        "patient": {"id": p.id, "patient_id": p.patient_id, "name": p.name, "dob": iso(p.dob), "sex": p.sex},
        "exam": {"id": exam.id, "uid": exam.uid, "created_at": iso(exam.created_at),
                 "exam_date": iso(exam.exam_date), "lmp": iso(exam.lmp), "edd": iso(exam.edd),
                 "operator": exam.operator, "referring": exam.referring},
        "ga_by_dates": bundle.ga_by_dates(),
        "images": [_frame_record(f) for f in bundle.frames],
        "measurements": [_measurement_record(m) for m in bundle.measurements],
        "measurement_problems": list(bundle.measurement_problems),
        "biometry": _report_record(bundle.biometry),
        "review": {"annotations": _tally_record(bundle.review_annotations),
                   "interpretation_values": _tally_record(bundle.review_interpretation)},
    }


def snapshot(bundle: ExportBundle) -> dict[str, Any]:
    """``{"content": ..., "presentation": ...}`` of a live bundle, as a version records it."""
    return {"content": content_of(bundle),
            "presentation": {"clinic": bundle.clinic.to_dict(), "exam_status": str(bundle.exam.status)}}


# ---------------------------------------------------------------------------------- rebuilding


def _date(text: Any) -> dt.date | None:
    return None if text is None else dt.date.fromisoformat(text)


def _exam(c: Mapping[str, Any], status: str) -> Exam:
    p, e = c["patient"], c["exam"]
    patient = Patient(int(p["id"]), str(p["patient_id"]), str(p["name"]), _date(p["dob"]), str(p["sex"]))
    return Exam(int(e["id"]), str(e["uid"]), patient, dt.datetime.fromisoformat(e["created_at"]),
                dt.date.fromisoformat(e["exam_date"]), _date(e["lmp"]), _date(e["edd"]), str(e["operator"]),
                str(e["referring"]), status=ExamStatus(status) if status else ExamStatus.OPEN)


def _estimate(d: Mapping[str, Any]) -> Estimate:
    q = d["equation"]
    equation = Equation(str(q["key"]), str(q["name"]), str(q["quantity"]), tuple(q["inputs"]), str(q["formula"]),
                        str(q["reference"]), _recorded_only, validity=str(q["validity"]))
    return Estimate(equation, float(d["value"]), dict(d["inputs_mm"]), tuple(d["warnings"]))


def _recorded_only(_m: Mapping[str, float]) -> float:
    raise ExportError("This equation was rebuilt from a finalized report; it is a record, not a calculator.")


def _report(d: Mapping[str, Any] | None) -> BiometryReport | None:
    if d is None:
        return None
    ga = tuple(_estimate(e) for e in d["ga"])
    efw = tuple(_estimate(e) for e in d["efw"])
    pga, pefw = d["primary_ga"], d["primary_efw"]
    return BiometryReport(dict(d["measurements_mm"]), ga, efw, None if pga is None else ga[pga],
                          None if pefw is None else efw[pefw], d["ga_by_dates_days"], tuple(d["warnings"]),
                          d["cephalic_index"], tuple(d["references"]))


def _loader(store: Any, item_id: int, index: int, sha: str, version: int) -> Callable[[], Frame]:
    def load() -> Frame:
        if store.get_item(item_id).sha256 != sha:
            raise StorageError(f"The pixels of item #{item_id} are not those of report version {version} "
                               "(the stored image changed).")
        return store.load_frame(item_id, index)

    return load


def _frame(store: Any, exam_id: int, d: Mapping[str, Any], version: int) -> ExportFrame:
    it = d["item"]
    cal = Calibration.from_dict(d["calibration"])
    item = CapturedItem(int(it["id"]), exam_id, ItemKind(it["kind"]), dt.datetime.fromisoformat(it["created_at"]),
                        int(it["width"]), int(it["height"]), int(it["channels"]), int(it["n_frames"]),
                        str(it["sha256"]), "", 0, str(it["source_uri"]), calibration=cal)
    ref = FrameRef(item.id, int(d["frame_index"]))
    values = {k: ExportValue(v["value"], v["ai"], str(v["status"]), str(v["provenance"]))
              for k, v in d["interpretation"].items()}
    anns = [Annotation.from_dict(a) for a in d["annotations"]]
    return ExportFrame(ref, item, cal, anns, values, d["mapping_tier"],
                       _loader(store, item.id, ref.frame_index, item.sha256, version))


def version_bundle(store: Any, exam_id: int, state: ReportState, version: int) -> ExportBundle:
    """The bundle of report ``version`` of exam ``exam_id``, rebuilt from its recorded content."""
    v = state.get(version)
    if v is None:
        have = f"versions 1 to {len(state.versions)}" if state.versions else "no finalized version"
        raise ExportError(f"Exam #{exam_id} has no report version {version} ({have}).")
    if v.problem or v.snapshot is None:
        raise ExportError(f"Report version {version} of exam #{exam_id} is damaged in the store: {v.problem}.")
    c, pres = v.snapshot["content"], v.snapshot.get("presentation") or {}
    try:
        if c.get("format") != CONTENT_FORMAT or int(c["exam"]["id"]) != exam_id:
            raise ValueError(f"not a {CONTENT_FORMAT} record of this exam")
        tallies = [ReviewTally(**{k: int(n) for k, n in c["review"][key].items()})
                   for key in ("annotations", "interpretation_values")]
        return ExportBundle(
            exam=_exam(c, str(pres.get("exam_status", ""))),
            frames=[_frame(store, exam_id, f, version) for f in c["images"]],
            measurements=[Measurement(str(m["parameter"]), float(m["value_mm"]), str(m["method"]),
                                      m["annotation_id"], dict(m["details"])) for m in c["measurements"]],
            measurement_problems=[str(p) for p in c["measurement_problems"]],
            biometry=_report(c["biometry"]),
            sign_off=None,
            audit_head=v.audit_hash,
            audit_count=v.audit_seq,
            clinic=ClinicHeader(**{k: str(pres.get("clinic", {}).get(k, "")) for k in ClinicHeader().to_dict()}),
            include_pending=False,
            operator=v.signer,
            review_annotations=tallies[0],
            review_interpretation=tallies[1],
            generated_at=v.signed_at,
            report=state.upto(version),
            version=v,
        )
    except FadaError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise ExportError(f"Report version {version} of exam #{exam_id} cannot be read from the store "
                          f"({type(exc).__name__}: {exc}).") from exc


def report_bundle(store: Any, exam_id: int, options: ExportOptions) -> ExportBundle:
    """What an export of the exam shows: the latest version while the report is final, else the
    live exam. ``options`` apply to the live exam only: a final report has no pending items,
    names its signer and keeps the clinic header it was signed with."""
    from fada_desk.storage.review import ReviewStore

    state = ReviewStore(store).report_state(exam_id)
    latest = state.latest
    if state.locked and latest is not None:
        return version_bundle(store, exam_id, state, latest.version)
    return build_bundle(store, exam_id, options, state)
