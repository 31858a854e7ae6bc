"""Fetal biometry: calibrated measurements, ellipse fitting, gestational age and fetal weight.

All pure (numpy only), in four modules:

* :mod:`~fada_desk.core.biometry.geometry`: ellipse perimeter and fitting, mask
  boundaries, and shapes measured in millimetres with a frame's calibration
  (an uncalibrated frame or points spanning regions raise
  :class:`~fada_desk.core.errors.CalibrationError`);
* :mod:`~fada_desk.core.biometry.equations`: the published GA and EFW equations,
  each named exactly, with formula, reference and validity range;
* :mod:`~fada_desk.core.biometry.report`: equations applied to measurements,
  range warnings (never silent extrapolation), primary GA/EFW, consistency checks;
* :mod:`~fada_desk.core.biometry.exam`: a reviewed exam's annotations and
  calibrations -> measurements -> report (the one implementation of that pipeline).

Units: every public measurement is in **millimetres**; GA in **days**
(:func:`fada_desk.core.dating.format_ga` renders "22w3d"); EFW in **grams**.
Equations published in cm convert internally.
"""

from fada_desk.core.biometry.equations import (
    EFW_EQUATIONS,
    EFW_PREFERENCE,
    GA_EQUATIONS,
    REF_ACOG_700,
    REF_HADLOCK_1984,
    REF_HADLOCK_1985,
    REF_HADLOCK_CI_1981,
    REF_IG_CRL_2014,
    REF_IG_EFW_2017,
    REF_IG_GA_2016,
    REF_ROBINSON_1975,
    Equation,
)
from fada_desk.core.biometry.exam import (
    Calibrations,
    ExamBiometry,
    exam_biometry,
    exam_measurements,
    is_measurement,
    measurements_from_annotations,
)
from fada_desk.core.biometry.geometry import (
    PARAMETERS,
    EllipseParams,
    Measurement,
    MeasurementError,
    caliper_mm,
    densify,
    ellipse_annotation_params,
    ellipse_geometry,
    ellipse_mm_to_px,
    ellipse_to_mm,
    fit_ellipse,
    fit_ellipse_calibrated,
    mask_boundary_points,
    measure_annotation,
    ramanujan_perimeter,
)
from fada_desk.core.biometry.report import (
    BiometryReport,
    Estimate,
    biometry_report,
    evaluate,
    latest_values,
    redating_threshold_days,
    validate_measurements,
)

__all__ = [
    "EFW_EQUATIONS",
    "EFW_PREFERENCE",
    "GA_EQUATIONS",
    "PARAMETERS",
    "REF_ACOG_700",
    "REF_HADLOCK_1984",
    "REF_HADLOCK_1985",
    "REF_HADLOCK_CI_1981",
    "REF_IG_CRL_2014",
    "REF_IG_EFW_2017",
    "REF_IG_GA_2016",
    "REF_ROBINSON_1975",
    "BiometryReport",
    "Calibrations",
    "EllipseParams",
    "Equation",
    "Estimate",
    "ExamBiometry",
    "Measurement",
    "MeasurementError",
    "biometry_report",
    "caliper_mm",
    "densify",
    "ellipse_annotation_params",
    "ellipse_geometry",
    "ellipse_mm_to_px",
    "ellipse_to_mm",
    "evaluate",
    "exam_biometry",
    "exam_measurements",
    "fit_ellipse",
    "fit_ellipse_calibrated",
    "is_measurement",
    "latest_values",
    "mask_boundary_points",
    "measure_annotation",
    "measurements_from_annotations",
    "ramanujan_perimeter",
    "redating_threshold_days",
    "validate_measurements",
]
