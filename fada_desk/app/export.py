"""Exporting an exam: the export jobs the review GUI and ``fada-desk export`` share.

An :class:`ExamExport` names what is exported (an exam of an exam store) and
builds everything else the same way for both front ends: the
:class:`~fada_desk.export.options.ExportOptions` (:meth:`ExamExport.options`:
AI items still pending review in or out, who is named as reviewer, the clinic
header) and the generator job of one format (:meth:`ExamExport.job`: what the
GUI's export dialog runs on its worker thread). :meth:`ExamExport.run` drives
the jobs of several formats in a row (the CLI).

Before exporting, the export dialog warns about AI items still pending review:
:class:`ReviewCount` counts them exactly as the exports do
(:func:`fada_desk.export.bundle.review_tallies` over the exam's items) and
:func:`pending_warning` says what will happen to them.

The clinic header is the one given, else the settings file's ``[clinic]``
section (:func:`fada_desk.export.settings.load_clinic_header`), read when the
job starts (in the worker). A successful export is recorded in the audit trail
by :func:`fada_desk.export.export_exam`. Nothing here touches Qt.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from fada_desk.core.cancel import CancelToken, Job, Progress, drive
from fada_desk.core.errors import ExportError
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_tally import ReviewTally, tally_annotations, tally_values
from fada_desk.core.review_types import FrameRef
from fada_desk.export import export_exam
from fada_desk.export.bundle import review_tallies
from fada_desk.export.options import ClinicHeader, ExportOptions
from fada_desk.export.settings import load_clinic_header

#: The export formats, in the order the command line lists them.
FORMATS: tuple[str, ...] = ("json", "png", "pdf")
#: Format -> what the export dialog calls it, in the order it offers them.
FORMAT_TITLES: dict[str, str] = {
    "pdf": "PDF report",
    "png": "PNG images with overlays",
    "json": "JSON (FADA fields + review)",
}

#: ``make_job(fmt, out_dir, options, cancel)``: the generator job of one export.
MakeJob = Callable[[str, Path, ExportOptions, CancelToken], Job[list[Path]]]


def parse_exam_id(text: str) -> int:
    """An exam number as typed ("12", "#12"); ExportError otherwise."""
    try:
        return int(str(text).strip().lstrip("#"))
    except ValueError:
        raise ExportError(f"EXAM_ID must be an exam number, got {text!r}.") from None


def export_options(include_pending: bool = False, operator: str = "",
                   clinic: ClinicHeader | None = None) -> ExportOptions:
    """What to export: pending AI items too (marked) or not, the reviewer named ("" = who signed off)."""
    return ExportOptions(include_pending=include_pending, operator=operator.strip(), clinic=clinic)


@dataclass(frozen=True)
class ExamExport:
    """The exports of one exam of an exam store (``clinic`` None: from the settings file)."""

    store: Any  # fada_desk.storage.ExamStore
    exam_id: int
    clinic: ClinicHeader | None = None

    def options(self, include_pending: bool = False, operator: str = "") -> ExportOptions:
        return export_options(include_pending, operator, self.clinic)

    def job(self, fmt: str, out_dir: Path | str, options: ExportOptions | None = None,
            cancel: CancelToken | None = None) -> Job[list[Path]]:
        """Export the exam as ``fmt`` into ``out_dir``; returns the written paths (a generator job)."""
        options = options if options is not None else self.options()
        if options.clinic is None:
            clinic = self.clinic if self.clinic is not None else load_clinic_header()
            options = replace(options, clinic=clinic)
        return (yield from export_exam(self.store, self.exam_id, fmt, out_dir, options, cancel))

    def run(self, formats: Iterable[str], out_dir: Path | str, options: ExportOptions | None = None,
            on_progress: Callable[[str, Progress], None] | None = None) -> list[Path]:
        """Export every format of ``formats`` once, in order, here; all the written paths."""
        written: list[Path] = []
        for fmt in dict.fromkeys(formats):
            report = (lambda p, f=fmt: on_progress(f, p)) if on_progress is not None else None
            written.extend(drive(self.job(fmt, out_dir, options), report) or [])
        return written


@dataclass(frozen=True)
class ReviewCount:
    """What the export dialog warns about, counted as every export counts it.

    The exam's items come from the store (:meth:`item_ids`: call it off the GUI
    thread); the counts from the review document on screen (:meth:`tally`, cheap),
    so an edit made a moment ago counts before it is written.
    """

    store: Any  # fada_desk.storage.ExamStore
    exam_id: int
    doc: AnnotationSet

    def item_ids(self, cancel: CancelToken | None = None) -> frozenset[int]:
        return frozenset(it.id for it in self.store.list_items(self.exam_id))

    def tally(self, item_ids: frozenset[int]) -> ReviewTally:
        """AI proposals (annotations + interpretation values) of the exam by review state."""
        anns, values = review_tallies(self.doc, set(item_ids))
        return anns + values

    def first_pending(self, item_ids: frozenset[int]) -> FrameRef | None:
        """The first frame (capture order of ids, then frame) with an AI proposal still pending."""
        for f in self.doc.frames():
            if f.item_id not in item_ids:
                continue
            interp = self.doc.interpretation(f)
            values = interp.values.values() if interp is not None else ()
            if tally_annotations(self.doc.for_frame(f)).pending or tally_values(values).pending:
                return f
        return None


def pending_warning(tally: ReviewTally, include_pending: bool) -> str:
    """The export dialog's warning about AI proposals not reviewed ("" when there are none)."""
    n = tally.pending
    if not n:
        return ""
    what = "AI proposal is" if n == 1 else "AI proposals are"
    fate = ("included and marked \"pending review\" (not confirmed findings)" if include_pending
            else "left out of the export")
    return f"{n} {what} still pending review: {'it' if n == 1 else 'they'} will be {fate}."
