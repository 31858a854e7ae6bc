"""Fetal biometry: calibrated measurements, ellipse fitting, gestational age and fetal weight.

Three layers, all pure (numpy only):

1. **Geometry** — Ramanujan's second perimeter approximation, the direct
   least-squares ellipse fit (Fitzgibbon, Pilu & Fisher, IEEE TPAMI 1999;
   21:476-480, in the numerically stable form of Halir & Flusser, WSCG 1998)
   and sub-pixel boundary extraction from binary masks.
2. **Calibrated measurements** — distances, ellipse circumference/area in mm
   from a frame's :class:`~fada_desk.core.calibration.Calibration`. Points are
   mapped to millimetres *before* fitting so anisotropic DICOM regions are
   exact; an uncalibrated frame or points spanning regions raise
   :class:`~fada_desk.core.errors.CalibrationError`.
3. **Equations** — gestational age (GA) and estimated fetal weight (EFW), each
   named exactly, with its formula, reference and validity range; results
   outside the range carry warnings, never silent extrapolation.

Units: every public measurement is in **millimetres**; GA in **days**
(``format_ga`` renders "22w3d"); EFW in **grams**. Equations published in cm
convert internally.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
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

#: Plausible physical bounds (mm) used to reject typing errors (e.g. cm typed as mm x10).
_PLAUSIBLE_MM: dict[str, tuple[float, float]] = {
    "BPD": (5.0, 130.0),
    "OFD": (5.0, 160.0),
    "HC": (20.0, 450.0),
    "AC": (20.0, 500.0),
    "FL": (2.0, 100.0),
    "CRL": (1.0, 120.0),
    "NT": (0.1, 20.0),
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
_CIRCUMFERENCE = ("HC", "AC")


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


# ---------------------------------------------------------------------------
# 3. Equations
# ---------------------------------------------------------------------------

REF_HADLOCK_1984 = (
    "Hadlock FP, Deter RL, Harrist RB, Park SK. Estimating fetal age: computer-assisted "
    "analysis of multiple fetal growth parameters. Radiology 1984;152:497-501."
)
REF_HADLOCK_1985 = (
    "Hadlock FP, Harrist RB, Sharman RS, Deter RL, Park SK. Estimation of fetal weight with "
    "the use of head, body, and femur measurements - a prospective study. "
    "Am J Obstet Gynecol 1985;151:333-337."
)
REF_ROBINSON_1975 = (
    "Robinson HP, Fleming JEE. A critical evaluation of sonar 'crown-rump length' "
    "measurements. Br J Obstet Gynaecol 1975;82:702-710."
)
REF_IG_CRL_2014 = (
    "Papageorghiou AT, Kennedy SH, Salomon LJ, et al. International standards for early fetal "
    "size and pregnancy dating based on ultrasound measurement of crown-rump length in the "
    "first trimester of pregnancy. Ultrasound Obstet Gynecol 2014;44:641-648."
)
REF_IG_GA_2016 = (
    "Papageorghiou AT, Kemp B, Stones W, et al. Ultrasound-based gestational-age estimation in "
    "late pregnancy. Ultrasound Obstet Gynecol 2016;48:719-726."
)
REF_IG_EFW_2017 = (
    "Stirnemann J, Villar J, Salomon LJ, et al. International estimated fetal weight standards "
    "of the INTERGROWTH-21st Project. Ultrasound Obstet Gynecol 2017;49:478-486."
)
REF_HADLOCK_CI_1981 = (
    "Hadlock FP, Deter RL, Carpenter RJ, Park SK. Estimating fetal age: effect of head "
    "shape on BPD. AJR Am J Roentgenol 1981;137:83-85."
)
REF_ACOG_700 = (
    "ACOG Committee Opinion No. 700: Methods for estimating the due date. Obstet Gynecol 2017;129:e150-e154."
)


@dataclass(frozen=True)
class Equation:
    """A published equation: exact name, inputs (mm), formula text, reference, validity."""

    key: str
    name: str
    quantity: str  # "GA" (days) or "EFW" (g)
    inputs: tuple[str, ...]
    formula: str
    reference: str
    fn: Callable[[Mapping[str, float]], float] = field(repr=False, compare=False)
    valid_ga_days: tuple[float, float] | None = None
    valid_inputs_mm: Mapping[str, tuple[float, float]] = field(default_factory=dict)
    valid_output: tuple[float, float] | None = None
    validity: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "name": self.name,
            "quantity": self.quantity,
            "inputs": list(self.inputs),
            "formula": self.formula,
            "reference": self.reference,
            "validity": self.validity,
        }


def _cm(m: Mapping[str, float], k: str) -> float:
    return m[k] / 10.0


# Hadlock 1984 (Radiology 152:497): menstrual age in weeks from measurements in cm, single parameters
# and the combinations published with them.
_HADLOCK_GA: list[tuple[tuple[str, ...], str, Callable[[Mapping[str, float]], float]]] = [
    (
        ("BPD",),
        "GA(wk) = 9.54 + 1.482*BPD + 0.1676*BPD^2",
        lambda m: 9.54 + 1.482 * _cm(m, "BPD") + 0.1676 * _cm(m, "BPD") ** 2,
    ),
    (
        ("HC",),
        "GA(wk) = 8.96 + 0.540*HC + 0.0003*HC^3",
        lambda m: 8.96 + 0.540 * _cm(m, "HC") + 0.0003 * _cm(m, "HC") ** 3,
    ),
    (
        ("AC",),
        "GA(wk) = 8.14 + 0.753*AC + 0.0036*AC^2",
        lambda m: 8.14 + 0.753 * _cm(m, "AC") + 0.0036 * _cm(m, "AC") ** 2,
    ),
    (
        ("FL",),
        "GA(wk) = 10.35 + 2.460*FL + 0.170*FL^2",
        lambda m: 10.35 + 2.460 * _cm(m, "FL") + 0.170 * _cm(m, "FL") ** 2,
    ),
    (
        ("BPD", "AC"),
        "GA(wk) = 9.57 + 0.524*AC + 0.1220*BPD^2",
        lambda m: 9.57 + 0.524 * _cm(m, "AC") + 0.1220 * _cm(m, "BPD") ** 2,
    ),
    (
        ("BPD", "FL"),
        "GA(wk) = 10.50 + 0.197*BPD*FL + 0.9500*FL + 0.7300*BPD",
        lambda m: (
            10.50 + 0.197 * _cm(m, "BPD") * _cm(m, "FL") + 0.9500 * _cm(m, "FL") + 0.7300 * _cm(m, "BPD")
        ),
    ),
    (
        ("HC", "AC"),
        "GA(wk) = 10.31 + 0.012*HC^2 + 0.385*AC",
        lambda m: 10.31 + 0.012 * _cm(m, "HC") ** 2 + 0.385 * _cm(m, "AC"),
    ),
    (
        ("HC", "FL"),
        "GA(wk) = 11.19 + 0.070*HC*FL + 0.2630*HC",
        lambda m: 11.19 + 0.070 * _cm(m, "HC") * _cm(m, "FL") + 0.2630 * _cm(m, "HC"),
    ),
    (
        ("AC", "FL"),
        "GA(wk) = 10.47 + 0.442*AC + 0.314*FL^2 - 0.0121*FL^3",
        lambda m: 10.47 + 0.442 * _cm(m, "AC") + 0.314 * _cm(m, "FL") ** 2 - 0.0121 * _cm(m, "FL") ** 3,
    ),
    (
        ("BPD", "HC", "AC"),
        "GA(wk) = 10.58 + 0.005*HC^2 + 0.3635*AC + 0.02864*BPD*AC",
        lambda m: (
            10.58 + 0.005 * _cm(m, "HC") ** 2 + 0.3635 * _cm(m, "AC") + 0.02864 * _cm(m, "BPD") * _cm(m, "AC")
        ),
    ),
    (
        ("BPD", "HC", "FL"),
        "GA(wk) = 11.38 + 0.070*HC*FL + 0.98*BPD",
        lambda m: 11.38 + 0.070 * _cm(m, "HC") * _cm(m, "FL") + 0.98 * _cm(m, "BPD"),
    ),
    (
        ("BPD", "AC", "FL"),
        "GA(wk) = 10.61 + 0.175*BPD*FL + 0.297*AC + 0.710*FL",
        lambda m: 10.61 + 0.175 * _cm(m, "BPD") * _cm(m, "FL") + 0.297 * _cm(m, "AC") + 0.710 * _cm(m, "FL"),
    ),
    (
        ("HC", "AC", "FL"),
        "GA(wk) = 10.33 + 0.031*HC*FL + 0.361*HC + 0.0298*AC*FL",
        lambda m: (
            10.33
            + 0.031 * _cm(m, "HC") * _cm(m, "FL")
            + 0.361 * _cm(m, "HC")
            + 0.0298 * _cm(m, "AC") * _cm(m, "FL")
        ),
    ),
    (
        ("BPD", "HC", "AC", "FL"),
        "GA(wk) = 10.85 + 0.060*HC*FL + 0.6700*BPD + 0.1680*AC",
        lambda m: (
            10.85 + 0.060 * _cm(m, "HC") * _cm(m, "FL") + 0.6700 * _cm(m, "BPD") + 0.1680 * _cm(m, "AC")
        ),
    ),
]

_HADLOCK_GA_RANGE = (14 * 7.0, 42 * 7.0)


def _invert(fn: Callable[[float], float], target: float, lo: float = 0.5, hi: float = 1000.0) -> float:
    """Input (mm) at which an increasing single-input equation reaches ``target``."""
    for _ in range(200):
        mid = (lo + hi) / 2
        if fn(mid) < target:
            lo = mid
        else:
            hi = mid
    return round((lo + hi) / 2, 1)


def _single_range(
    fn: Callable[[Mapping[str, float]], float], param: str, days: tuple[float, float], scale: float = 1.0
) -> dict[str, tuple[float, float]]:
    def g(v: float) -> float:
        return fn({param: v}) * scale

    return {param: (_invert(g, days[0]), _invert(g, days[1]))}


def _hadlock_ga_equations() -> list[Equation]:
    out = []
    for inputs, formula, fn in _HADLOCK_GA:
        days_fn: Callable[[Mapping[str, float]], float] = (lambda f: lambda m: 7.0 * f(m))(fn)
        ranges = _single_range(fn, inputs[0], _HADLOCK_GA_RANGE, 7.0) if len(inputs) == 1 else {}
        out.append(
            Equation(
                key="hadlock1984_" + "_".join(p.lower() for p in inputs),
                name=f"Hadlock 1984 ({', '.join(inputs)})",
                quantity="GA",
                inputs=inputs,
                formula=formula + " (cm)",
                reference=REF_HADLOCK_1984,
                fn=days_fn,
                valid_ga_days=_HADLOCK_GA_RANGE,
                valid_inputs_mm=ranges,
                validity="derived from 361 fetuses at 14-42 menstrual weeks",
            )
        )
    return out


def _robinson(m: Mapping[str, float]) -> float:
    return 8.052 * math.sqrt(m["CRL"]) + 23.73


def _ig_crl(m: Mapping[str, float]) -> float:
    crl = m["CRL"]
    return 40.9041 + 3.21585 * math.sqrt(crl) + 0.348956 * crl


def _ig_hc(m: Mapping[str, float]) -> float:
    hc = m["HC"]
    return math.exp(0.05970 * math.log(hc) ** 2 + 0.000000006409 * hc**3 + 3.3258)


def _ig_hcfl(m: Mapping[str, float]) -> float:
    hc, fl = m["HC"], m["FL"]
    return math.exp(0.03243 * math.log(hc) ** 2 + 0.001644 * fl * math.log(hc) + 3.813)


_IG_LATE_RANGE = (98.0, 181.0)  # 14+0 to 25+6 weeks, Papageorghiou 2016

GA_EQUATIONS: dict[str, Equation] = {
    e.key: e
    for e in [
        *_hadlock_ga_equations(),
        Equation(
            "robinson1975_crl",
            "Robinson-Fleming 1975 (CRL)",
            "GA",
            ("CRL",),
            "GA(days) = 8.052*sqrt(CRL) + 23.73 (mm)",
            REF_ROBINSON_1975,
            _robinson,
            valid_ga_days=(42.0, 98.0),
            valid_inputs_mm=_single_range(_robinson, "CRL", (42.0, 98.0)),
            validity="6 to 14 weeks; 2 SD +/- 4.7 days (no 1.037 velocity correction applied)",
        ),
        Equation(
            "intergrowth2014_crl",
            "INTERGROWTH-21st (CRL)",
            "GA",
            ("CRL",),
            "GA(days) = 40.9041 + 3.21585*CRL^0.5 + 0.348956*CRL (mm)",
            REF_IG_CRL_2014,
            _ig_crl,
            valid_ga_days=None,
            valid_inputs_mm={"CRL": (15.0, 95.0)},
            validity="CRL 15-95 mm (about 9+0 to 13+6 weeks)",
        ),
        Equation(
            "intergrowth2016_hc",
            "INTERGROWTH-21st (HC)",
            "GA",
            ("HC",),
            "ln GA(days) = 0.05970*(ln HC)^2 + 0.000000006409*HC^3 + 3.3258 (mm)",
            REF_IG_GA_2016,
            _ig_hc,
            valid_ga_days=_IG_LATE_RANGE,
            valid_inputs_mm=_single_range(_ig_hc, "HC", _IG_LATE_RANGE),
            validity="scans at 14+0 to 25+6 weeks without earlier dating",
        ),
        Equation(
            "intergrowth2016_hc_fl",
            "INTERGROWTH-21st (HC, FL)",
            "GA",
            ("HC", "FL"),
            "ln GA(days) = 0.03243*(ln HC)^2 + 0.001644*FL*ln HC + 3.813 (mm)",
            REF_IG_GA_2016,
            _ig_hcfl,
            valid_ga_days=_IG_LATE_RANGE,
            validity="scans at 14+0 to 25+6 weeks without earlier dating",
        ),
    ]
}


def _hadlock_efw(
    intercept: float, terms: Callable[[float, float, float, float], float]
) -> Callable[[Mapping[str, float]], float]:
    def fn(m: Mapping[str, float]) -> float:
        bpd, hc, ac, fl = (m.get(k, 0.0) / 10.0 for k in ("BPD", "HC", "AC", "FL"))
        return 10.0 ** (intercept + terms(bpd, hc, ac, fl))

    return fn


def _ig_efw(m: Mapping[str, float]) -> float:
    ac, hc = m["AC"] / 10.0, m["HC"] / 10.0  # cm
    x = ac / 100.0
    return math.exp(5.084820 - 54.06633 * x**3 - 95.80076 * x**3 * math.log(x) + 3.136370 * (hc / 100.0))


#: No GA or weight limits come with the Hadlock 1985 equations (they are applied across the second
#: and third trimesters in practice), so no range warning is raised for them.
_HADLOCK_EFW_VALIDITY = "no published GA limits; random error of ultrasound EFW is roughly +/-15% (2 SD)"

EFW_EQUATIONS: dict[str, Equation] = {
    e.key: e
    for e in [
        Equation(
            "hadlock1985_hc_ac_fl",
            "Hadlock 1985 (HC, AC, FL)",
            "EFW",
            ("HC", "AC", "FL"),
            "log10 EFW(g) = 1.326 - 0.00326*AC*FL + 0.0107*HC + 0.0438*AC + 0.158*FL (cm)",
            REF_HADLOCK_1985,
            _hadlock_efw(
                1.326, lambda bpd, hc, ac, fl: -0.00326 * ac * fl + 0.0107 * hc + 0.0438 * ac + 0.158 * fl
            ),
            validity=_HADLOCK_EFW_VALIDITY,
        ),
        Equation(
            "hadlock1985_bpd_hc_ac_fl",
            "Hadlock 1985 (BPD, HC, AC, FL)",
            "EFW",
            ("BPD", "HC", "AC", "FL"),
            "log10 EFW(g) = 1.3596 - 0.00386*AC*FL + 0.0064*HC + 0.00061*BPD*AC + 0.0424*AC + 0.174*FL (cm)",
            REF_HADLOCK_1985,
            _hadlock_efw(
                1.3596,
                lambda bpd, hc, ac, fl: (
                    -0.00386 * ac * fl + 0.0064 * hc + 0.00061 * bpd * ac + 0.0424 * ac + 0.174 * fl
                ),
            ),
            validity=_HADLOCK_EFW_VALIDITY,
        ),
        Equation(
            "hadlock1985_bpd_ac_fl",
            "Hadlock 1985 (BPD, AC, FL)",
            "EFW",
            ("BPD", "AC", "FL"),
            "log10 EFW(g) = 1.335 - 0.0034*AC*FL + 0.0316*BPD + 0.0457*AC + 0.1623*FL (cm)",
            REF_HADLOCK_1985,
            _hadlock_efw(
                1.335, lambda bpd, hc, ac, fl: -0.0034 * ac * fl + 0.0316 * bpd + 0.0457 * ac + 0.1623 * fl
            ),
            validity=_HADLOCK_EFW_VALIDITY,
        ),
        Equation(
            "hadlock1985_ac_fl",
            "Hadlock 1985 (AC, FL)",
            "EFW",
            ("AC", "FL"),
            "log10 EFW(g) = 1.304 + 0.05281*AC + 0.1938*FL - 0.004*AC*FL (cm)",
            REF_HADLOCK_1985,
            _hadlock_efw(1.304, lambda bpd, hc, ac, fl: 0.05281 * ac + 0.1938 * fl - 0.004 * ac * fl),
            validity=_HADLOCK_EFW_VALIDITY,
        ),
        Equation(
            "intergrowth2017_ac_hc",
            "INTERGROWTH-21st (AC, HC)",
            "EFW",
            ("AC", "HC"),
            "ln EFW(g) = 5.084820 - 54.06633*(AC/100)^3 - 95.80076*(AC/100)^3*ln(AC/100)"
            " + 3.136370*(HC/100) (cm)",
            REF_IG_EFW_2017,
            _ig_efw,
            valid_ga_days=(154.0, 280.0),
            validity="22+0 to 40+0 weeks",
        ),
    ]
}

#: Preference order for the single EFW shown first (Hadlock HC/AC/FL is the most validated).
EFW_PREFERENCE = (
    "hadlock1985_hc_ac_fl",
    "hadlock1985_bpd_hc_ac_fl",
    "hadlock1985_bpd_ac_fl",
    "hadlock1985_ac_fl",
    "intergrowth2017_ac_hc",
)


# ---------------------------------------------------------------------------
# Estimates and report
# ---------------------------------------------------------------------------


def format_ga(days: float) -> str:
    """GA in days -> "22w3d" (rounded to the nearest day; same style as the exam store)."""
    d = int(round(days))
    return f"{d // 7}w{d % 7}d"


@dataclass(frozen=True)
class Estimate:
    equation: Equation
    value: float  # GA days or EFW grams
    inputs_mm: Mapping[str, float]
    warnings: tuple[str, ...] = ()

    @property
    def in_range(self) -> bool:
        return not self.warnings

    @property
    def text(self) -> str:
        if self.equation.quantity == "GA":
            return format_ga(self.value)
        return f"{self.value:.0f} g"

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "equation": self.equation.name,
            "key": self.equation.key,
            "formula": self.equation.formula,
            "reference": self.equation.reference,
            "validity": self.equation.validity,
            "inputs_mm": {k: round(v, 2) for k, v in self.inputs_mm.items()},
            "warnings": list(self.warnings),
            "in_range": self.in_range,
        }
        if self.equation.quantity == "GA":
            d.update(ga_days=round(self.value, 1), ga_weeks=round(self.value / 7.0, 2), ga_text=self.text)
        else:
            d.update(efw_g=round(self.value, 1))
        return d


def validate_measurements(values: Mapping[str, float | None]) -> dict[str, float]:
    """Drop None, check names and numbers; raise MeasurementError with a clear message."""
    out: dict[str, float] = {}
    for k, v in values.items():
        if v is None:
            continue
        if k not in PARAMETERS:
            raise MeasurementError(f"Unknown parameter {k!r} (known: {', '.join(PARAMETERS)}).")
        try:
            f = float(v)
        except (TypeError, ValueError):
            raise MeasurementError(f"{k} must be a number of millimetres, got {v!r}.") from None
        lo, hi = _PLAUSIBLE_MM[k]
        if not math.isfinite(f) or f <= 0:
            raise MeasurementError(f"{k} must be a positive number of millimetres, got {v!r}.")
        if not lo <= f <= hi:
            raise MeasurementError(
                f"{k} = {f:g} mm is not a plausible fetal measurement "
                f"({lo:g}-{hi:g} mm); check the units (millimetres)."
            )
        out[k] = f
    return out


def evaluate(eq: Equation, values: Mapping[str, float], ga_days: float | None = None) -> Estimate:
    """Apply one equation to measurements (mm) and attach validity warnings.

    ``ga_days`` (for EFW) is the GA used to check an equation's GA window.
    """
    missing = [p for p in eq.inputs if p not in values]
    if missing:
        raise MeasurementError(f"{eq.name} needs {', '.join(missing)}.")
    inputs = {p: values[p] for p in eq.inputs}
    try:
        value = float(eq.fn(inputs))
    except (ValueError, OverflowError, ZeroDivisionError):
        raise MeasurementError(f"{eq.name} cannot be evaluated for these values.") from None
    if not math.isfinite(value):
        raise MeasurementError(f"{eq.name} cannot be evaluated for these values.")
    warnings = []
    for p, (lo, hi) in eq.valid_inputs_mm.items():
        if not lo <= inputs[p] <= hi:
            warnings.append(f"{p} {inputs[p]:.1f} mm is outside the range of {eq.name} ({lo:g}-{hi:g} mm).")
    check_ga = value if eq.quantity == "GA" else ga_days
    if eq.valid_ga_days and check_ga is not None:
        lo, hi = eq.valid_ga_days
        if not lo <= check_ga <= hi:
            warnings.append(
                f"GA {format_ga(check_ga)} is outside the range of {eq.name} "
                f"({format_ga(lo)} to {format_ga(hi)})."
            )
    if eq.valid_output:
        lo, hi = eq.valid_output
        if not lo <= value <= hi:
            warnings.append(f"EFW {value:.0f} g is outside the range of {eq.name} ({lo:.0f}-{hi:.0f} g).")
    return Estimate(eq, value, inputs, tuple(warnings))


def redating_threshold_days(ga_lmp_days: float) -> tuple[int, str]:
    """ACOG CO 700 (2017) Table 1: discrepancy (days) between ultrasound and LMP
    dating beyond which the pregnancy should be redated, by GA."""
    if ga_lmp_days < 9 * 7:
        return 5, "up to 8+6 weeks (CRL)"
    if ga_lmp_days < 14 * 7:
        return 7, "9+0 to 13+6 weeks (CRL)"
    if ga_lmp_days < 16 * 7:
        return 7, "14+0 to 15+6 weeks"
    if ga_lmp_days < 22 * 7:
        return 10, "16+0 to 21+6 weeks"
    if ga_lmp_days < 28 * 7:
        return 14, "22+0 to 27+6 weeks"
    return 21, "28+0 weeks and beyond"


@dataclass(frozen=True)
class BiometryReport:
    """Everything derived from one set of measurements."""

    measurements_mm: Mapping[str, float]
    ga: tuple[Estimate, ...]
    efw: tuple[Estimate, ...]
    primary_ga: Estimate | None
    primary_efw: Estimate | None
    ga_by_dates_days: float | None
    warnings: tuple[str, ...]
    cephalic_index: float | None = None
    references: tuple[str, ...] = ()  # every paper behind the estimates and warnings

    def to_dict(self) -> dict[str, Any]:
        return {
            "measurements_mm": {k: round(v, 2) for k, v in self.measurements_mm.items()},
            "cephalic_index": None if self.cephalic_index is None else round(self.cephalic_index, 1),
            "ga": [e.to_dict() for e in self.ga],
            "efw": [e.to_dict() for e in self.efw],
            "primary_ga": self.primary_ga.to_dict() if self.primary_ga else None,
            "primary_efw": self.primary_efw.to_dict() if self.primary_efw else None,
            "ga_by_dates_days": self.ga_by_dates_days,
            "warnings": list(self.warnings),
            "references": list(self.references),
        }


_HADLOCK_ORDER = ("BPD", "HC", "AC", "FL")
#: Tie-break between Hadlock equations with as many inputs: HC and FL are the strongest
#: single predictors of age (Hadlock 1984), then BPD, then AC.
_HADLOCK_STRENGTH = {"HC": 4, "FL": 3, "BPD": 2, "AC": 1}


def _hadlock_composite(m: Mapping[str, float]) -> Equation | None:
    """The Hadlock 1984 equation using the most of the available BPD/HC/AC/FL
    (all four when present; e.g. BPD + HC has no joint equation, HC alone is used)."""
    usable = [
        e for e in GA_EQUATIONS.values() if e.key.startswith("hadlock1984_") and all(p in m for p in e.inputs)
    ]
    if not usable:
        return None
    return max(usable, key=lambda e: (len(e.inputs), sum(_HADLOCK_STRENGTH[p] for p in e.inputs)))


def biometry_report(
    values: Mapping[str, float | None], ga_by_dates_days: float | None = None
) -> BiometryReport:
    """GA and EFW by every applicable equation, plus consistency warnings.

    Primary GA: CRL when present (INTERGROWTH-21st within 15-95 mm, else
    Robinson-Fleming), otherwise the Hadlock 1984 equation that uses the most
    of the available BPD/HC/AC/FL (see :func:`_hadlock_composite`). Primary EFW: first available of
    :data:`EFW_PREFERENCE`. Warnings: parameters that disagree by more than
    two weeks (Hadlock single-parameter ages), GA by ultrasound vs dates beyond
    ACOG's redating threshold, cephalic index outside 74-83 (BPD unreliable),
    NT at or above 3.5 mm or measured outside CRL 45-84 mm.
    """
    m = validate_measurements(values)
    if not m:
        raise MeasurementError("Give at least one measurement (BPD, OFD, HC, AC, FL, CRL or NT).")
    if ga_by_dates_days is not None and not (0 < ga_by_dates_days < 45 * 7):
        raise MeasurementError("The GA by dates must be between 0 and 45 weeks.")
    hadlock = _hadlock_composite(m)
    ga: list[Estimate] = []
    for eq in GA_EQUATIONS.values():
        if not all(p in m for p in eq.inputs):
            continue
        # Hadlock: each single parameter + the one composite chosen for what is available
        if eq.key.startswith("hadlock1984_") and len(eq.inputs) > 1 and eq is not hadlock:
            continue
        ga.append(evaluate(eq, m))
    warnings: list[str] = []

    primary: Estimate | None = None
    by_key = {e.equation.key: e for e in ga}
    if "CRL" in m:
        primary = by_key["intergrowth2014_crl"] if 15.0 <= m["CRL"] <= 95.0 else by_key["robinson1975_crl"]
    elif hadlock is not None:
        primary = by_key[hadlock.key]

    efw: list[Estimate] = []
    ga_for_efw = ga_by_dates_days if ga_by_dates_days is not None else (primary.value if primary else None)
    for eq in EFW_EQUATIONS.values():
        if all(p in m for p in eq.inputs):
            efw.append(evaluate(eq, m, ga_for_efw))
    efw_by_key = {e.equation.key: e for e in efw}
    primary_efw = next((efw_by_key[k] for k in EFW_PREFERENCE if k in efw_by_key), None)

    singles = [
        by_key[f"hadlock1984_{p.lower()}"] for p in _HADLOCK_ORDER if f"hadlock1984_{p.lower()}" in by_key
    ]
    if len(singles) >= 2:
        lo = min(singles, key=lambda e: e.value)
        hi = max(singles, key=lambda e: e.value)
        if hi.value - lo.value > 14.0:
            warnings.append(
                f"Parameters disagree by more than 2 weeks: {hi.equation.inputs[0]} "
                f"gives {format_ga(hi.value)}, {lo.equation.inputs[0]} gives {format_ga(lo.value)} "
                f"(Hadlock 1984); check the measurements and consider growth disorders."
            )
    if primary is not None and ga_by_dates_days is not None:
        limit, window = redating_threshold_days(ga_by_dates_days)
        diff = primary.value - ga_by_dates_days
        if abs(diff) > limit:
            warnings.append(
                f"GA by ultrasound ({format_ga(primary.value)}, {primary.equation.name}) differs from "
                f"GA by dates ({format_ga(ga_by_dates_days)}) by {abs(diff):.0f} days, more than the "
                f"{limit}-day redating threshold for {window} (ACOG CO 700)."
            )
    ci = None
    if "BPD" in m and "OFD" in m:
        ci = 100.0 * m["BPD"] / m["OFD"]
        if not 74.0 <= ci <= 83.0:
            shape = "dolichocephalic" if ci < 74.0 else "brachycephalic"
            warnings.append(
                f"Cephalic index {ci:.0f} ({shape}; normal 74-83, Hadlock 1981): BPD may misdate, prefer HC."
            )
    if "NT" in m:
        if m["NT"] >= 3.5:
            warnings.append(f"NT {m['NT']:.1f} mm is increased (>= 3.5 mm).")
        if "CRL" in m and not 45.0 <= m["CRL"] <= 84.0:
            warnings.append(f"NT is assessed at CRL 45-84 mm; CRL here is {m['CRL']:.1f} mm.")
    for e in (*ga, *efw):
        if e is primary or e is primary_efw:
            warnings.extend(e.warnings)
    refs = [e.equation.reference for e in (*ga, *efw)]
    if any("ACOG" in w for w in warnings):
        refs.append(REF_ACOG_700)
    if any("Cephalic index" in w for w in warnings):
        refs.append(REF_HADLOCK_CI_1981)
    return BiometryReport(
        m,
        tuple(ga),
        tuple(efw),
        primary,
        primary_efw,
        ga_by_dates_days,
        tuple(dict.fromkeys(warnings)),
        ci,
        tuple(dict.fromkeys(refs)),
    )


def measurements_from_annotations(
    annotations: Iterable[Annotation], calibrations: Mapping[Any, Calibration | None]
) -> list[Measurement]:
    """Measure every *accepted* annotation tagged with a parameter.

    ``calibrations`` maps each annotation's ``frame`` (FrameRef) to its
    calibration. Rejected/pending annotations are not measurements.
    """
    out = []
    for ann in annotations:
        if ann.measure and ann.status.value == "accepted":
            out.append(measure_annotation(ann, calibrations.get(ann.frame)))
    return out


def latest_values(measurements: Sequence[Measurement]) -> dict[str, float]:
    """One value per parameter: the last measurement of each (the most recent edit wins)."""
    out: dict[str, float] = {}
    for mm in measurements:
        out[mm.parameter] = mm.value_mm
    return out
