"""Biometry of a whole exam: reviewed annotations + calibrations -> measurements -> report.

The one implementation of that pipeline, shared by the review session, the
export bundle and the GUI's measurement panel:

* only *accepted* annotations tagged with a parameter (BPD, HC, ...) are
  measurements; pending or rejected ones are not;
* each is measured with the calibration of its own frame; one that cannot be
  measured (uncalibrated frame, shape spanning regions, wrong shape for the
  parameter...) is reported as a problem, never silently skipped;
* one value per parameter (the last measurement of each) feeds
  :func:`~fada_desk.core.biometry.report.biometry_report`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from fada_desk.core.annotations import Annotation
from fada_desk.core.biometry.geometry import Measurement, measure_annotation
from fada_desk.core.biometry.report import BiometryReport, biometry_report, latest_values
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import FadaError
from fada_desk.core.review_types import FrameRef, ReviewStatus

#: The calibration of each frame: a mapping (missing frames are uncalibrated) or a function.
Calibrations = Mapping[FrameRef, Calibration | None] | Callable[[FrameRef], Calibration | None]


def is_measurement(ann: Annotation) -> bool:
    """True for an accepted annotation tagged with a biometry parameter."""
    return bool(ann.measure) and ann.status is ReviewStatus.ACCEPTED


def _lookup(calibrations: Calibrations) -> Callable[[FrameRef], Calibration | None]:
    return calibrations.get if isinstance(calibrations, Mapping) else calibrations


def measurements_from_annotations(
    annotations: Iterable[Annotation], calibrations: Calibrations
) -> list[Measurement]:
    """Measure every accepted tagged annotation; the first that cannot be measured raises.

    ``calibrations`` gives each annotation's ``frame`` (FrameRef) its calibration.
    """
    cal_for = _lookup(calibrations)
    return [measure_annotation(ann, cal_for(ann.frame)) for ann in annotations if is_measurement(ann)]


def exam_measurements(
    annotations: Iterable[Annotation], calibrations: Calibrations
) -> tuple[list[Measurement], list[str]]:
    """Measure every accepted tagged annotation; returns (measurements, problems).

    A problem is one line naming the parameter, the annotation and its item,
    then the reason (the error's message).
    """
    cal_for = _lookup(calibrations)
    out: list[Measurement] = []
    problems: list[str] = []
    for ann in annotations:
        if not is_measurement(ann):
            continue
        try:
            out.append(measure_annotation(ann, cal_for(ann.frame)))
        except FadaError as exc:
            problems.append(f"{ann.measure} ({ann.label or ann.kind}, item #{ann.frame.item_id}): {exc}")
    return out, problems


@dataclass(frozen=True)
class ExamBiometry:
    """The measurements of an exam, what could not be measured, and the inputs of its report."""

    measurements: list[Measurement]
    problems: list[str]
    ga_by_dates_days: float | None = None

    @property
    def values(self) -> dict[str, float]:
        """One value (mm) per parameter: the last measurement of each."""
        return latest_values(self.measurements)

    def report(self) -> BiometryReport | None:
        """GA and EFW of the exam, or None without any measurement.

        Raises :class:`~fada_desk.core.biometry.geometry.MeasurementError` when the
        values cannot make a report (e.g. an implausible measurement).
        """
        values = self.values
        if not values:
            return None
        return biometry_report(values, ga_by_dates_days=self.ga_by_dates_days)


def exam_biometry(
    annotations: Iterable[Annotation],
    calibrations: Calibrations,
    ga_by_dates_days: float | None = None,
) -> ExamBiometry:
    """Measure an exam's reviewed annotations (see :func:`exam_measurements`).

    ``ga_by_dates_days``: the exam's GA by dates (LMP/EDD); None or 0 means unknown.
    """
    measurements, problems = exam_measurements(annotations, calibrations)
    ga = float(ga_by_dates_days) if ga_by_dates_days else None
    return ExamBiometry(measurements, problems, ga)
