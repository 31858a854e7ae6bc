"""Exam biometry: reviewed annotations + calibrations -> measurements -> report, in one place."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from fada_desk.core.annotations import Caliper, Ellipse
from fada_desk.core.biometry import (
    ExamBiometry,
    MeasurementError,
    biometry_report,
    exam_biometry,
    exam_measurements,
    is_measurement,
    measurements_from_annotations,
)
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.errors import CalibrationError
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import FrameRef, ReviewStatus

ROOT = Path(__file__).resolve().parents[2]
F1, F2 = FrameRef(1), FrameRef(2, 3)


def cal(mm_per_px: float = 0.1) -> Calibration:
    return Calibration(regions=(Region(0, 0, 999, 999, mm_per_px / 10, mm_per_px / 10),), source="dicom")


def bpd(frame: FrameRef, px: float, **kw: object) -> Caliper:
    return Caliper(frame=frame, p1=(0, 0), p2=(px, 0), measure="BPD", **kw)  # type: ignore[arg-type]


def test_only_accepted_tagged_annotations_are_measurements() -> None:
    anns = [
        bpd(F1, 500),
        bpd(F1, 600, provenance="ai"),  # pending
        bpd(F1, 700, status=ReviewStatus.REJECTED),
        Caliper(frame=F1, p1=(0, 0), p2=(10, 0)),  # not tagged
    ]
    assert [is_measurement(a) for a in anns] == [True, False, False, False]
    measured = exam_biometry(anns, {F1: cal()})
    assert [(m.parameter, round(m.value_mm, 3)) for m in measured.measurements] == [("BPD", 50.0)]
    assert measured.problems == []


def test_each_annotation_uses_its_own_frame_calibration_mapping_or_function() -> None:
    anns = [bpd(F1, 500), Caliper(frame=F2, p1=(0, 0), p2=(300, 0), measure="FL")]
    cals = {F1: cal(0.1), F2: cal(0.2)}
    by_map = exam_biometry(anns, cals)
    by_fn = exam_biometry(anns, lambda f: cals[f])
    assert by_map == by_fn
    assert {k: round(v, 3) for k, v in by_map.values.items()} == {"BPD": 50.0, "FL": 60.0}


def test_unmeasurable_annotations_are_problems_not_silently_skipped() -> None:
    anns = [
        bpd(F1, 500, label="head"),
        bpd(F2, 500),  # its frame is not calibrated
        Ellipse(frame=F1, cx=50, cy=50, rx=20, ry=10, measure="FL"),  # wrong shape for a distance
    ]
    ms, problems = exam_measurements(anns, {F1: cal()})  # F2 missing: uncalibrated
    assert [m.parameter for m in ms] == ["BPD"]
    assert problems[0].startswith("BPD (caliper, item #2): ") and "not calibrated" in problems[0]
    assert problems[1].startswith("FL (ellipse, item #1): ") and "distance" in problems[1]
    with pytest.raises(CalibrationError):  # the strict variant raises the first problem
        measurements_from_annotations(anns, {F1: cal()})


def test_the_last_measurement_of_a_parameter_wins_and_feeds_the_report() -> None:
    doc = AnnotationSet(
        [bpd(F1, 700), bpd(F1, 770), Ellipse(frame=F1, cx=500, cy=500, rx=140, ry=110, measure="HC")]
    )
    measured = exam_biometry(doc, {F1: cal()}, ga_by_dates_days=150)
    assert round(measured.values["BPD"], 3) == 77.0
    report = measured.report()
    assert report is not None and report.ga_by_dates_days == 150.0
    assert report == biometry_report(measured.values, ga_by_dates_days=150.0)


def test_no_measurement_no_report_and_unknown_ga_by_dates() -> None:
    empty = exam_biometry([], {})
    assert empty == ExamBiometry([], [], None) and empty.values == {} and empty.report() is None
    assert exam_biometry([], {}, ga_by_dates_days=0).ga_by_dates_days is None  # 0 = unknown (no LMP)
    assert exam_biometry([], {}, ga_by_dates_days=140).ga_by_dates_days == 140.0


def test_an_implausible_measurement_makes_report_raise() -> None:
    measured = exam_biometry([bpd(F1, 500)], {F1: cal(1.0)})  # 500 mm BPD
    assert measured.values == {"BPD": pytest.approx(500.0)}
    with pytest.raises(MeasurementError, match="plausible"):
        measured.report()


def _calls(path: Path, names: set[str]) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            fn = node.func
            name = fn.id if isinstance(fn, ast.Name) else fn.attr if isinstance(fn, ast.Attribute) else ""
            if name in names:
                out.append(name)
    return out


def test_the_exam_pipeline_is_written_once() -> None:
    """Session, export bundle and measurement panel use exam_biometry; nobody re-implements it."""
    pipeline = {"exam_measurements", "measurements_from_annotations", "latest_values", "biometry_report"}
    offenders = {}
    for path in sorted((ROOT / "fada_desk").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel.startswith("fada_desk/core/biometry/"):
            continue
        calls = _calls(path, pipeline)
        # the CLI computes a report from typed-in values: no annotations involved
        if rel == "fada_desk/cli/biometry.py":
            calls = [c for c in calls if c != "biometry_report"]
        if calls:
            offenders[rel] = calls
    assert offenders == {}
    users = {
        p: _calls(ROOT / p, {"exam_biometry"})
        for p in (
            "fada_desk/app/review_session.py",
            "fada_desk/export/bundle.py",
            "fada_desk/qt/review/measurement_panel.py",
        )
        if (ROOT / p).exists()
    }
    assert users and all(users.values()), users
