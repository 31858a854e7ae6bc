"""Fetal biometry geometry: ellipse fitting and calibrated measurements in mm (pure, numpy only).

1. **Geometry** — Ramanujan's second perimeter approximation, the direct
   least-squares ellipse fit (Fitzgibbon, Pilu & Fisher, IEEE TPAMI 1999;
   21:476-480, in the numerically stable form of Halir & Flusser, WSCG 1998)
   and sub-pixel boundary extraction from binary masks.
2. **Calibrated measurements** — distances, ellipse circumference/area in mm
   from a frame's :class:`~fada_desk.core.calibration.Calibration`. Points are
   mapped to millimetres *before* fitting so anisotropic DICOM regions are
   exact; an uncalibrated frame or points spanning regions raise
   :class:`~fada_desk.core.errors.CalibrationError`. :func:`measure_annotation`
   turns one tagged annotation into a :class:`Measurement`.

Units: every public measurement is in **millimetres**. The GA/EFW equations
are in :mod:`fada_desk.core.biometry.equations`, the report in
:mod:`fada_desk.core.biometry.report`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fada_desk.core.annotations import Annotation, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import CalibrationError, FadaError


class MeasurementError(FadaError):
    """A measurement or estimate cannot be made from the given input."""


PARAMETERS: dict[str, str] = {
    "BPD": "Biparietal diameter",
    "OFD": "Occipitofrontal diameter",
    "HC": "Head circumference",
    "AC": "Abdominal circumference",
    "FL": "Femur length",
    "CRL": "Crown-rump length",
    "NT": "Nuchal translucency",
}


# ---------------------------------------------------------------------------
# 1. Geometry
# ---------------------------------------------------------------------------


def ramanujan_perimeter(a: float, b: float) -> float:
    """Perimeter of an ellipse with semi-axes ``a``, ``b`` — Ramanujan's second
    approximation (Ramanujan 1914, Q J Pure Appl Math 45:350-372):
    ``pi (a + b) (1 + 3h / (10 + sqrt(4 - 3h)))`` with ``h = ((a - b) / (a + b))^2``.
    Relative error below 1e-9 for fetal head/abdomen eccentricities."""
    if a < 0 or b < 0 or not (math.isfinite(a) and math.isfinite(b)):
        raise MeasurementError("Ellipse semi-axes must be non-negative numbers.")
    if a + b == 0:
        return 0.0
    h = ((a - b) / (a + b)) ** 2
    return math.pi * (a + b) * (1.0 + 3.0 * h / (10.0 + math.sqrt(4.0 - 3.0 * h)))


@dataclass(frozen=True)
class EllipseParams:
    """An ellipse: centre, semi-axes ``a >= b`` and angle of the ``a`` axis (radians,
    from +x towards +y), all in one coordinate system (pixels or mm)."""

    cx: float
    cy: float
    a: float
    b: float
    angle: float

    @property
    def perimeter(self) -> float:
        return ramanujan_perimeter(self.a, self.b)

    @property
    def area(self) -> float:
        return math.pi * self.a * self.b

    def matrix(self) -> np.ndarray:
        """2x2 map from the unit circle to the centred ellipse."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        return np.array([[c, -s], [s, c]]) @ np.diag([self.a, self.b])

    def sample(self, n: int = 360) -> np.ndarray:
        u = np.linspace(0.0, 2 * math.pi, n, endpoint=False)
        pts = self.matrix() @ np.vstack([np.cos(u), np.sin(u)])
        return pts.T + np.array([self.cx, self.cy])


def _from_matrix(cx: float, cy: float, m: np.ndarray) -> EllipseParams:
    """Ellipse whose centred outline is ``m @ unit_circle`` (SVD gives the axes)."""
    u, sv, _ = np.linalg.svd(m)
    angle = math.atan2(u[1, 0], u[0, 0])
    # fold into (-pi/2, pi/2]: an ellipse is symmetric under 180 degree rotation
    if angle <= -math.pi / 2:
        angle += math.pi
    elif angle > math.pi / 2:
        angle -= math.pi
    return EllipseParams(float(cx), float(cy), float(sv[0]), float(sv[1]), angle)


def fit_ellipse(points: Sequence[Sequence[float]] | np.ndarray) -> EllipseParams:
    """Direct least-squares ellipse fit (Fitzgibbon et al. 1999; Halir & Flusser 1998).

    Minimises the algebraic distance subject to ``4AC - B^2 = 1`` so the result
    is always an ellipse. Coordinates are centred and scaled first for numerical
    stability. Needs at least 5 points not on a line or conic degenerate.
    """
    pts = np.asarray(points, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise MeasurementError("Ellipse fitting needs a list of (x, y) points.")
    if not np.all(np.isfinite(pts)):
        raise MeasurementError("Ellipse fitting got non-finite coordinates.")
    pts = np.unique(pts, axis=0)
    if len(pts) < 5:
        raise MeasurementError("An ellipse needs at least 5 distinct points.")
    mean = pts.mean(axis=0)
    scale = float(np.sqrt(((pts - mean) ** 2).sum(axis=1).mean()))
    if scale == 0:
        raise MeasurementError("The points are all identical.")
    x = (pts[:, 0] - mean[0]) / scale
    y = (pts[:, 1] - mean[1]) / scale
    d1 = np.column_stack([x * x, x * y, y * y])
    d2 = np.column_stack([x, y, np.ones_like(x)])
    s1, s2, s3 = d1.T @ d1, d1.T @ d2, d2.T @ d2
    try:
        t = -np.linalg.solve(s3, s2.T)
    except np.linalg.LinAlgError:
        raise MeasurementError("The points are degenerate (collinear); no ellipse fits.") from None
    m = s1 + s2 @ t
    m = np.array([m[2] / 2.0, -m[1], m[0] / 2.0])  # premultiply by inv(C1)
    with np.errstate(all="ignore"):
        _, vecs = np.linalg.eig(m)
    vecs = np.real(vecs)
    cond = 4.0 * vecs[0] * vecs[2] - vecs[1] ** 2
    ok = np.nonzero(cond > 0)[0]
    if len(ok) == 0:
        raise MeasurementError("The points do not describe an ellipse.")
    a1 = vecs[:, ok[np.argmax(cond[ok])]]
    conic = np.concatenate([a1, t @ a1])  # A, B, C, D, E, F in normalised coordinates
    return _conic_to_params(conic, mean, scale)


def _conic_to_params(conic: np.ndarray, mean: np.ndarray, scale: float) -> EllipseParams:
    a, b, c, d, e, f = conic
    q = np.array([[a, b / 2], [b / 2, c]])
    try:
        centre = np.linalg.solve(2 * q, -np.array([d, e]))
    except np.linalg.LinAlgError:
        raise MeasurementError("The points do not describe a closed ellipse.") from None
    # value of the conic at the centre: x^T Q x + [d e] x + f
    f0 = float(centre @ q @ centre + np.array([d, e]) @ centre + f)
    lam, vec = np.linalg.eigh(q)
    if f0 == 0 or not np.all(lam * -f0 > 0):
        raise MeasurementError("The points do not describe a real ellipse.")
    axes = np.sqrt(-f0 / lam)  # semi-axis along each eigenvector
    order = np.argsort(axes)[::-1]
    axes, vec = axes[order], vec[:, order]
    m = vec @ np.diag(axes) * scale
    return _from_matrix(centre[0] * scale + mean[0], centre[1] * scale + mean[1], m)


def mask_boundary_points(mask: np.ndarray) -> np.ndarray:
    """Sub-pixel boundary of a binary mask: the midpoint between every pair of
    4-neighbour pixel centres with different values (the edge of the region as
    drawn, not the centres of its border pixels). Returns (N, 2) x, y."""
    m = np.asarray(mask)
    if m.ndim == 3:
        m = m[..., 0]
    if m.ndim != 2:
        raise MeasurementError("A mask must be a 2-D array.")
    m = m > 0 if m.dtype != bool else m
    if not m.any():
        raise MeasurementError("The mask is empty.")
    ys, xs = np.nonzero(m[:, 1:] != m[:, :-1])
    horiz = np.column_stack([xs + 0.5, ys])
    ys, xs = np.nonzero(m[1:, :] != m[:-1, :])
    vert = np.column_stack([xs, ys + 0.5])
    pts = np.concatenate([horiz, vert]).astype(float)
    if len(pts) < 5:
        raise MeasurementError("The mask is too small to fit an ellipse.")
    return pts


def densify(points: Sequence[Sequence[float]], step: float = 1.0, closed: bool = True) -> np.ndarray:
    """Points along a polyline every ``step`` units, so a fit weights the outline
    evenly whatever the vertex spacing."""
    pts = np.asarray(points, dtype=float)
    if len(pts) < 2:
        return pts
    seq = np.vstack([pts, pts[:1]]) if closed else pts
    out = []
    for p, q in zip(seq[:-1], seq[1:]):
        n = max(1, int(math.ceil(float(np.hypot(*(q - p))) / step)))
        t = np.arange(n)[:, None] / n
        out.append(p + (q - p) * t)
    if not closed:
        out.append(seq[-1:])
    return np.vstack(out)


# ---------------------------------------------------------------------------
# 2. Calibrated measurements
# ---------------------------------------------------------------------------


def _spacing(cal: Calibration | None, points: Iterable[tuple[float, float]]) -> tuple[float, float]:
    if cal is None:
        raise CalibrationError("This frame is not calibrated: calibrate it on the depth scale first.")
    return cal.spacing_for([(float(x), float(y)) for x, y in points])


def caliper_mm(cal: Calibration | None, p1: tuple[float, float], p2: tuple[float, float]) -> float:
    """Distance in mm between two pixel points (same calibrated region)."""
    sx, sy = _spacing(cal, [p1, p2])
    return math.hypot((p2[0] - p1[0]) * sx, (p2[1] - p1[1]) * sy)


def ellipse_to_mm(cal: Calibration | None, ellipse_px: EllipseParams) -> EllipseParams:
    """The same ellipse in mm. Exact for anisotropic spacing: the pixel->mm map is
    linear, so the image of the ellipse is an ellipse with axes from an SVD."""
    sx, sy = _spacing(cal, [tuple(p) for p in ellipse_px.sample(72)])
    s = np.diag([sx, sy])
    return _from_matrix(ellipse_px.cx * sx, ellipse_px.cy * sy, s @ ellipse_px.matrix())


def ellipse_mm_to_px(spacing: tuple[float, float], ellipse_mm: EllipseParams) -> EllipseParams:
    sx, sy = spacing
    return _from_matrix(
        ellipse_mm.cx / sx, ellipse_mm.cy / sy, np.diag([1 / sx, 1 / sy]) @ ellipse_mm.matrix()
    )


def fit_ellipse_calibrated(
    cal: Calibration | None, points_px: Sequence[Sequence[float]] | np.ndarray
) -> tuple[EllipseParams, EllipseParams]:
    """Fit an ellipse to pixel points *in millimetres*; returns (fit in mm, same ellipse in px)."""
    pts = np.asarray(points_px, dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2 or len(pts) == 0:
        raise MeasurementError("Ellipse fitting needs a list of (x, y) points.")
    sx, sy = _spacing(cal, [(float(x), float(y)) for x, y in pts])
    fit_mm = fit_ellipse(pts * np.array([sx, sy]))
    return fit_mm, ellipse_mm_to_px((sx, sy), fit_mm)


def ellipse_annotation_params(ann: Ellipse) -> EllipseParams:
    """Pixel-space :class:`EllipseParams` of an ellipse annotation."""
    c, s = math.cos(math.radians(ann.angle_deg)), math.sin(math.radians(ann.angle_deg))
    m = np.array([[c, -s], [s, c]]) @ np.diag([ann.rx, ann.ry])
    return _from_matrix(ann.cx, ann.cy, m)


def ellipse_geometry(params_px: EllipseParams) -> dict[str, float]:
    """Geometry dict for an :class:`~fada_desk.core.annotations.Ellipse` annotation."""
    return {
        "cx": params_px.cx,
        "cy": params_px.cy,
        "rx": params_px.a,
        "ry": params_px.b,
        "angle_deg": math.degrees(params_px.angle),
    }


@dataclass(frozen=True)
class Measurement:
    """One calibrated measurement, traceable to the annotation it came from."""

    parameter: str
    value_mm: float
    method: str
    annotation_id: str | None = None
    details: Mapping[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "name": PARAMETERS.get(self.parameter, self.parameter),
            "value_mm": round(self.value_mm, 2),
            "method": self.method,
            "annotation_id": self.annotation_id,
            "details": {k: round(v, 3) for k, v in self.details.items()},
        }


_DISTANCE = ("BPD", "OFD", "FL", "CRL", "NT")


def measure_annotation(ann: Annotation, cal: Calibration | None, parameter: str | None = None) -> Measurement:
    """Measure an annotation as ``parameter`` (default: its ``measure`` tag).

    Calipers and two-point keypoints give distances (BPD, OFD, FL, CRL, NT);
    ellipses give circumferences (HC, AC) by Ramanujan II; polygons are first
    fitted with an ellipse in mm (Fitzgibbon) — the usual "ellipse tool" result.
    """
    param = parameter or ann.measure
    if param not in PARAMETERS:
        raise MeasurementError(f"Choose what this {ann.kind} measures (one of {', '.join(PARAMETERS)}).")
    if param in _DISTANCE:
        if isinstance(ann, Caliper):
            p1, p2 = ann.p1, ann.p2
        elif isinstance(ann, Keypoints) and len(ann.points) == 2:
            p1, p2 = (ann.points[0].x, ann.points[0].y), (ann.points[1].x, ann.points[1].y)
        else:
            raise MeasurementError(f"{param} is a distance: measure it with a caliper (two points).")
        return Measurement(param, caliper_mm(cal, p1, p2), "caliper", ann.id)
    if isinstance(ann, Ellipse):
        e = ellipse_to_mm(cal, ellipse_annotation_params(ann))
        method = "ellipse, Ramanujan II perimeter"
    elif isinstance(ann, Polygon):
        e, _ = fit_ellipse_calibrated(cal, densify(ann.points, step=1.0))
        method = "direct least-squares ellipse fit (Fitzgibbon) of outline, Ramanujan II perimeter"
    else:
        raise MeasurementError(f"{param} is a circumference: measure it with an ellipse or an outline.")
    return Measurement(
        param, e.perimeter, method, ann.id, {"semi_major_mm": e.a, "semi_minor_mm": e.b, "area_mm2": e.area}
    )
