"""Everything an exporter needs about one exam, gathered once from the exam store.

:func:`build_bundle` reads the exam, its captured items, the reviewed
annotations/interpretations, measurements with GA/EFW, the last sign-off and
the audit head, and the state of the report (version, preliminary/final/amended,
signer: :mod:`fada_desk.core.report_record`). Exporters work on the
:class:`ExportBundle` only (pixels are loaded lazily, one frame at a time), so they
can be tested without a store.

Filtering rule (one place): rejected AI output is never exported; pending AI
output only with ``include_pending`` and then flagged ``pending``. What was
reviewed is counted over the whole exam (:attr:`ExportBundle.review`), so every
export can say how many AI proposals were accepted, edited, rejected or left
pending, and that pending ones were left out.

A bundle rebuilt from a finalized version (:func:`fada_desk.export.report_snapshot.version_bundle`)
carries that :attr:`ExportBundle.version`; exporters then write it reproducibly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fada_desk import __version__
from fada_desk.core.annotations import Annotation
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.core.audit import AuditEntry, utc_now
from fada_desk.core.biometry import BiometryReport, Measurement, exam_biometry
from fada_desk.core.dating import format_ga
from fada_desk.core.calibration import Calibration
from fada_desk.core.frame import Frame
from fada_desk.core.report_record import ReportState, ReportVersion
from fada_desk.core.review_tally import ReviewTally, tally_annotations, tally_values
from fada_desk.core.interpretation import (
    CLASSIFICATION,
    DET_CLASSES,
    INTERPRETATION_FIELDS,
    SEG_CLASSES,
    Interpretation,
)
from fada_desk.export.options import ClinicHeader, ExportOptions


@dataclass(frozen=True)
class ExportValue:
    """One reviewed value as exported: current value, AI original, status, provenance."""

    value: Any
    ai: Any
    status: str
    provenance: str

    @property
    def pending(self) -> bool:
        return self.status == ReviewStatus.PENDING.value


@dataclass
class ExportFrame:
    """One frame to export with the annotations/interpretation that pass the filter."""

    frame: FrameRef
    item: Any  # fada_desk.storage.CapturedItem (or a look-alike in tests)
    calibration: Calibration | None
    annotations: list[Annotation]
    interpretation: dict[str, ExportValue]  # the 8 fields + classification/mapping that pass the filter
    mapping_tier: str | None
    load: Callable[[], Frame]

    def rgb(self) -> np.ndarray:
        return self.load().rgb()

    @property
    def classification(self) -> ExportValue | None:
        return self.interpretation.get(CLASSIFICATION)


@dataclass
class ExportBundle:
    exam: Any  # fada_desk.storage.Exam
    frames: list[ExportFrame]
    measurements: list[Measurement]
    measurement_problems: list[str]
    biometry: BiometryReport | None
    sign_off: AuditEntry | None
    audit_head: str
    audit_count: int
    clinic: ClinicHeader
    include_pending: bool
    operator: str
    review_annotations: ReviewTally = field(default_factory=ReviewTally)
    review_interpretation: ReviewTally = field(default_factory=ReviewTally)
    generated_at: str = field(default_factory=utc_now)
    app_version: str = __version__
    #: The report's versions and status as this export shows them.
    report: ReportState = field(default_factory=ReportState)
    #: The finalized version this bundle was rebuilt from (None: the live exam).
    version: ReportVersion | None = None

    @property
    def patient(self) -> Any:
        return self.exam.patient

    @property
    def review(self) -> ReviewTally:
        """AI proposals of the whole exam by review state (annotations + interpretation values)."""
        return self.review_annotations + self.review_interpretation

    @property
    def pending_count(self) -> int:
        """AI proposals still pending review in the exam, whether or not this export includes them."""
        return self.review.pending

    @property
    def pending_included(self) -> int:
        """Pending AI proposals that this export shows (marked "pending review")."""
        n = sum(1 for f in self.frames for a in f.annotations if a.status is ReviewStatus.PENDING)
        return n + sum(1 for f in self.frames for v in f.interpretation.values() if v.pending)

    @property
    def ai_note(self) -> str:
        return self.review.note(self.operator)

    def review_statement(self) -> str:
        return self.review.statement(self.include_pending)

    def ga_by_dates(self) -> dict[str, Any] | None:
        ga = getattr(self.exam, "ga_days", None)
        return None if ga is None else {"days": int(ga), "text": format_ga(ga)}


def _visible(status: ReviewStatus, include_pending: bool) -> bool:
    return status is ReviewStatus.ACCEPTED or (include_pending and status is ReviewStatus.PENDING)


def filter_interpretation(interp: Interpretation | None, include_pending: bool) -> dict[str, ExportValue]:
    if interp is None:
        return {}
    out = {}
    for name in (*INTERPRETATION_FIELDS, CLASSIFICATION, DET_CLASSES, SEG_CLASSES):
        v = interp.values[name]
        if v.value is None or not _visible(v.status, include_pending):
            continue
        out[name] = ExportValue(v.value, v.ai, v.status.value, v.provenance.value)
    return out


def frames_for_export(
    doc: AnnotationSet, items: Sequence[Any], include_pending: bool, load: Callable[[FrameRef], Frame]
) -> list[ExportFrame]:
    """Every still image, plus every clip frame that carries annotations or an interpretation."""
    by_id = {it.id: it for it in items}
    wanted: list[FrameRef] = [FrameRef(it.id, 0) for it in items if not it.is_clip]
    for f in doc.frames():
        if f.item_id in by_id and f not in wanted:
            wanted.append(f)
    order = {it.id: i for i, it in enumerate(items)}
    wanted.sort(key=lambda f: (order[f.item_id], f.frame_index))
    out = []
    for f in wanted:
        item = by_id[f.item_id]
        anns = [a for a in doc.for_frame(f) if _visible(a.status, include_pending)]
        interp = doc.interpretation(f)
        out.append(
            ExportFrame(
                f,
                item,
                item.calibration,
                anns,
                filter_interpretation(interp, include_pending),
                interp.mapping_tier if interp else None,
                (lambda fr=f: load(fr)),
            )
        )
    return out


def review_tallies(doc: AnnotationSet, item_ids: set[int]) -> tuple[ReviewTally, ReviewTally]:
    """(annotations, interpretation values) tallies over the frames of the given items."""
    frames = [f for f in doc.frames() if f.item_id in item_ids]
    anns = tally_annotations(a for f in frames for a in doc.for_frame(f))
    values = tally_values(v for f in frames if (i := doc.interpretation(f)) is not None for v in i.values.values())
    return anns, values


def build_bundle(
    store: Any, exam_id: int, options: ExportOptions, state: ReportState | None = None
) -> ExportBundle:
    """Gather an exam (as it is now) from an :class:`~fada_desk.storage.ExamStore` for export;
    ``state``: its report state when the caller has read it already."""
    from fada_desk.export.settings import load_clinic_header
    from fada_desk.storage.review import ReviewStore

    exam = store.get_exam(exam_id)
    items = store.list_items(exam_id)
    reviews = ReviewStore(store)
    doc = reviews.load(exam_id)
    frames = frames_for_export(
        doc, items, options.include_pending, lambda f: store.load_frame(f.item_id, f.frame_index)
    )
    cals = {f: it.calibration for it in items for f in doc.frames() if f.item_id == it.id}
    measured = exam_biometry(doc, cals, exam.ga_days)
    report = measured.report()
    entries = reviews.audit_entries()
    sign_off = reviews.last_sign_off(exam_id)
    operator = options.operator or (sign_off.operator if sign_off else "") or exam.operator
    tallies = review_tallies(doc, {it.id for it in items})
    return ExportBundle(
        exam=exam,
        frames=frames,
        measurements=measured.measurements,
        measurement_problems=measured.problems,
        biometry=report,
        sign_off=sign_off,
        audit_head=entries[-1].hash if entries else "",
        audit_count=len(entries),
        clinic=options.clinic if options.clinic is not None else load_clinic_header(),
        include_pending=options.include_pending,
        operator=operator,
        review_annotations=tallies[0],
        review_interpretation=tallies[1],
        report=state if state is not None else reviews.report_state(exam_id),
    )


def iso(d: dt.date | dt.datetime | None) -> str | None:
    return None if d is None else d.isoformat()
