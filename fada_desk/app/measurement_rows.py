"""The rows of the measurement table: what a shape can measure, its value and how it reads.

Qt-free, for the review panel (``fada_desk.qt.review.measurement_panel``) and any other view:
the calibration stated in words, which annotations carry a measurement, the value of each in
mm with the export's wording (:func:`fada_desk.export.overlay.measurement_text`).
"""

from __future__ import annotations

from fada_desk.core.annotations import Annotation, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.biometry import (
    caliper_mm,
    densify,
    ellipse_annotation_params,
    ellipse_to_mm,
    fit_ellipse_calibrated,
    measure_annotation,
)
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import FadaError
from fada_desk.core.review_types import ReviewStatus
from fada_desk.export.overlay import measurement_text

DISTANCES = ("BPD", "OFD", "FL", "CRL", "NT")
CIRCUMFERENCES = ("HC", "AC")


def calibration_text(cal: Calibration | None) -> str:
    if cal is None or not cal.is_calibrated:
        return ("Not calibrated: measurements in mm need a calibration "
                "(calibrate on the depth scale, Ctrl+K).")
    if cal.manual is not None:
        return f"Calibrated by hand: {cal.manual.mm_per_px:.4f} mm/pixel."
    regions = [r for r in cal.regions if r.is_spatial_cm]
    if len(regions) == 1:
        sx, sy = regions[0].mm_per_px
        same = abs(sx - sy) < 1e-9
        spacing = f"{sx:.4f} mm/pixel" if same else f"{sx:.4f} × {sy:.4f} mm/pixel"
        return f"Calibrated from DICOM: {spacing}."
    return (f"Calibrated from DICOM: {len(regions)} regions; a measurement must lie "
            "inside one region.")


def measurable(ann: Annotation) -> bool:
    if ann.status is ReviewStatus.REJECTED:
        return False
    if isinstance(ann, (Caliper, Ellipse, Polygon)):
        return True
    return isinstance(ann, Keypoints) and len(ann.points) == 2


def choices_for(ann: Annotation) -> tuple[str, ...]:
    if isinstance(ann, (Caliper, Keypoints)):
        return DISTANCES
    return CIRCUMFERENCES


def value_text(ann: Annotation, cal: Calibration | None) -> tuple[str, str]:
    """(value, details) for a row; raises FadaError with the reason when there is no value."""
    if ann.measure:
        m = measure_annotation(ann, cal)
        details = ""
        if "semi_major_mm" in m.details:
            d = m.details
            details = (f"axes {2 * d['semi_major_mm']:.1f} × {2 * d['semi_minor_mm']:.1f} mm, "
                       f"area {d['area_mm2'] / 100.0:.1f} cm²")
        return measurement_text(ann.measure, m.value_mm), details
    if isinstance(ann, Caliper):
        return measurement_text(None, caliper_mm(cal, ann.p1, ann.p2)), "distance"
    if isinstance(ann, Keypoints):
        a, b = ann.points[0], ann.points[1]
        return measurement_text(None, caliper_mm(cal, (a.x, a.y), (b.x, b.y))), "distance"
    if isinstance(ann, Ellipse):
        e = ellipse_to_mm(cal, ellipse_annotation_params(ann))
        method = "circumference"
    else:
        assert isinstance(ann, Polygon)
        e, _ = fit_ellipse_calibrated(cal, densify(ann.points))
        method = "circumference of the fitted ellipse"
    return measurement_text(None, e.perimeter), f"{method}; axes {2 * e.a:.1f} × {2 * e.b:.1f} mm"


def image_text(ann: Annotation, cal: Calibration | None) -> str | None:
    """The value an annotation's label shows on the image: a tagged measurement ("HC 197.2 mm")
    or a caliper's / ellipse's own length; None without a value (no calibration, an outline)."""
    if not measurable(ann) or not (ann.measure or isinstance(ann, (Caliper, Ellipse))):
        return None
    try:
        return value_text(ann, cal)[0]
    except FadaError:
        return None
