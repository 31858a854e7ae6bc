"""JSON export: FADA-compatible per-image results + review provenance + biometry.

Per exported frame, ``fada`` holds upstream's field names (the 8
interpretation fields, ``classification``, ``mapping`` and ``detections`` /
``segmentations`` / ``keypoints`` with ``bbox_2d``, ``mask``, ``keypoints``) in
**pixel** coordinates of the stored frame, so tools written for FADA's output
read it; ``annotations`` and ``review`` carry what FADA has no words for
(provenance ai/ai-edited/manual, review status, the AI original of edited
items, ellipses and calipers). Exam-level ``measurements`` and ``biometry``
(GA/EFW with equation names, formulas, references and warnings) follow.
``report`` states the version, its status (preliminary / final / amended), the signer and
the content hash; ``review.sign_off`` is the signed version, null while preliminary. A
finalized version (``bundle.version``) carries nothing of the moment it is exported, so
writing it again gives the same bytes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fada_desk.core.annotations import Box, Keypoints, Polygon
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.interpretation import CLASSIFICATION, DET_CLASSES, INTERPRETATION_FIELDS, SEG_CLASSES
from fada_desk.core.review_types import ReviewStatus
from fada_desk.export.base import (
    Exporter,
    Job,
    check,
    prepare_dir,
    safe_name,
    write_atomic,
)
from fada_desk.export.options import PENDING_MARK, ExportOptions
from fada_desk.export.bundle import ExportBundle, ExportFrame, iso

FORMAT = "fada-desk-export/1"


def _value(frame: ExportFrame, name: str) -> Any:
    v = frame.interpretation.get(name)
    return None if v is None else v.value


def fada_fields(frame: ExportFrame) -> dict[str, Any]:
    """Upstream-shaped result of one frame (only exported = reviewed items)."""
    dets, segs, kps = [], [], []
    for a in frame.annotations:
        x0, y0, x1, y1 = (round(v, 2) for v in a.bounds())
        extra = {"status": a.status.value, "provenance": a.provenance.value, "id": a.id}
        if isinstance(a, Box):
            dets.append({"bbox_2d": [x0, y0, x1, y1], "label": a.label, **extra})
        elif isinstance(a, Polygon):
            segs.append(
                {
                    "bbox_2d": [x0, y0, x1, y1],
                    "label": a.label,
                    "mask": [[round(x, 2), round(y, 2)] for x, y in a.points],
                    **extra,
                }
            )
        elif isinstance(a, Keypoints):
            kps.append(
                {
                    "bbox_2d": [x0, y0, x1, y1],
                    "label": a.label,
                    "keypoints": [[round(k.x, 2), round(k.y, 2), k.visibility] for k in a.points],
                    **extra,
                }
            )
    return {
        "coordinate_space": "pixel",
        "interpretation": {k: _value(frame, k) for k in INTERPRETATION_FIELDS},
        "classification": _value(frame, CLASSIFICATION),
        "mapping": {
            "det_classes": _value(frame, DET_CLASSES),
            "seg_classes": _value(frame, SEG_CLASSES),
            "tier": frame.mapping_tier,
        },
        "detections": dets,
        "segmentations": segs,
        "keypoints": kps,
    }


def frame_dict(frame: ExportFrame) -> dict[str, Any]:
    item = frame.item
    return {
        "item_id": frame.frame.item_id,
        "frame_index": frame.frame.frame_index,
        "kind": item.kind,
        "width": item.width,
        "height": item.height,
        "sha256": item.sha256,
        "source_uri": item.source_uri,
        "calibration": frame.calibration.to_dict() if frame.calibration else None,
        "fada": fada_fields(frame),
        "review": {
            k: {
                "value": v.value,
                "ai": v.ai,
                "status": v.status,
                "provenance": v.provenance,
                **({"note": PENDING_MARK} if v.pending else {}),
            }
            for k, v in frame.interpretation.items()
        },
        "annotations": [
            {**a.to_dict(), **({"note": PENDING_MARK} if a.status is ReviewStatus.PENDING else {})}
            for a in frame.annotations
        ],
    }


def bundle_dict(bundle: ExportBundle, cancel: CancelToken | None = None) -> dict[str, Any]:
    exam, patient = bundle.exam, bundle.patient
    frames = []
    for f in bundle.frames:
        check(cancel)
        frames.append(frame_dict(f))
    state, version = bundle.report, bundle.version
    signed = state.signed
    return {
        "format": FORMAT,
        "generated_at": bundle.generated_at,
        "app_version": bundle.app_version,
        "clinic": bundle.clinic.to_dict(),
        "patient": {
            "patient_id": patient.patient_id,
            "name": patient.name,
            "dob": iso(patient.dob),
            "sex": patient.sex,
        },
        "exam": {
            "id": exam.id,
            "uid": exam.uid,
            "exam_date": iso(exam.exam_date),
            "lmp": iso(exam.lmp),
            "edd": iso(exam.edd),
            "ga_by_dates": bundle.ga_by_dates(),
            "operator": exam.operator,
            "referring": exam.referring,
            "status": exam.status,
        },
        "report": {**state.to_dict(), "exported_version": version.version if version else None},
        "include_pending": bundle.include_pending,
        "pending_count": bundle.pending_count,
        "pending_included": bundle.pending_included,
        "images": frames,
        "measurements": [m.to_dict() for m in bundle.measurements],
        "measurement_problems": list(bundle.measurement_problems),
        "biometry": bundle.biometry.to_dict() if bundle.biometry else None,
        "review": {
            "reviewed_by": bundle.operator,
            "note": bundle.ai_note,
            "statement": bundle.review_statement(),
            "ai_proposals": {
                "annotations": bundle.review_annotations.to_dict(),
                "interpretation_values": bundle.review_interpretation.to_dict(),
                "all": bundle.review.to_dict(),
            },
            "sign_off": None
            if signed is None
            else {
                "operator": signed.signer,
                "ts_utc": signed.signed_at,
                "statement": signed.statement,
                "version": signed.version,
                "status": signed.status,
                "content_hash": signed.content_hash,
                "audit_seq": signed.audit_seq,
                "audit_hash": signed.audit_hash,
            },
        },
        "audit": {"entries": bundle.audit_count, "head_hash": bundle.audit_head},
    }


class JsonExporter(Exporter):
    name = "json"
    suffix = ".json"
    description = "FADA-compatible JSON with provenance, measurements and GA/EFW"

    def run(
        self, bundle: ExportBundle, out_dir: Path, options: ExportOptions, cancel: CancelToken | None = None
    ) -> Job:
        out = prepare_dir(out_dir)
        yield Progress("collecting exam data", 0.1)
        doc = bundle_dict(bundle, cancel)
        check(cancel)
        suffix = f"_v{bundle.version.version}" if bundle.version is not None else ""
        path = out / f"exam-{bundle.exam.id}_{safe_name(bundle.patient.patient_id, 'patient')}{suffix}.json"
        text = json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False)
        write_atomic(path, lambda p: p.write_text(text + "\n", encoding="utf-8"))
        yield Progress(f"wrote {path.name}", 1.0, path)
        return [path]
