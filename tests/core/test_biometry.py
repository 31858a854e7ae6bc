"""Biometry: published check values, geometry, calibration handling, warnings."""

from __future__ import annotations

import math

import numpy as np
import pytest

from fada_desk.core.annotations import Box, Caliper, Ellipse, Keypoints, Polygon
from fada_desk.core.review_types import FrameRef
from fada_desk.core.biometry import (
    EFW_EQUATIONS,
    GA_EQUATIONS,
    EllipseParams,
    MeasurementError,
    biometry_report,
    caliper_mm,
    densify,
    evaluate,
    fit_ellipse,
    fit_ellipse_calibrated,
    mask_boundary_points,
    measure_annotation,
    measurements_from_annotations,
    ramanujan_perimeter,
    redating_threshold_days,
)
from fada_desk.core.dating import format_ga
from fada_desk.core.calibration import Calibration, ManualCalibration, Region
from fada_desk.core.errors import CalibrationError

F = FrameRef(1)


def efw(key: str, **mm: float) -> float:
    return evaluate(EFW_EQUATIONS[key], mm).value


def ga(key: str, **mm: float) -> float:
    return evaluate(GA_EQUATIONS[key], mm).value


# --- published check values --------------------------------------------------------


@pytest.mark.parametrize(
    ("hc_ac_fl_cm", "grams"),
    [
        ((6, 6, 6), 304.5),
        ((9, 9, 9), 942.8),
        ((12, 12, 12), 2550.1),
        ((6, 9, 12), 2129.7),
    ],
)
def test_hadlock_1985_hc_ac_fl_published_values(hc_ac_fl_cm: tuple[int, int, int], grams: float) -> None:
    """gigs test suite / WHO calculator check values (inputs in cm there, mm here)."""
    hc, ac, fl = (10.0 * v for v in hc_ac_fl_cm)
    assert round(efw("hadlock1985_hc_ac_fl", HC=hc, AC=ac, FL=fl), 1) == grams
    assert EFW_EQUATIONS["hadlock1985_hc_ac_fl"].name == "Hadlock 1985 (HC, AC, FL)"


def test_intergrowth_efw_published_value() -> None:
    """Stirnemann 2017 worked example: AC 26 cm, HC 29 cm -> 1499 g."""
    assert round(efw("intergrowth2017_ac_hc", AC=260, HC=290)) == 1499


def test_intergrowth_late_dating_published_values() -> None:
    """Papageorghiou 2016 examples (as checked by gigs): HC 250 mm -> 189.8 d; + FL 55 mm -> 200.5 d."""
    assert round(ga("intergrowth2016_hc", HC=250), 1) == 189.8
    assert round(ga("intergrowth2016_hc_fl", HC=250, FL=55), 1) == 200.5


def test_intergrowth_crl_uses_the_square_root() -> None:
    """GA = 40.9041 + 3.21585*sqrt(CRL) + 0.348956*CRL; the '3.21585/CRL' variant is wrong."""
    crl = 45.0
    value = ga("intergrowth2014_crl", CRL=crl)
    assert value == pytest.approx(40.9041 + 3.21585 * math.sqrt(crl) + 0.348956 * crl)
    assert format_ga(value) == "11w1d"
    wrong = 40.9041 + 3.21585 / crl + 0.348956 * crl
    assert abs(value - wrong) > 20
    # the two first-trimester standards agree within a few days over their common range
    for c in range(20, 81, 5):
        assert abs(ga("intergrowth2014_crl", CRL=c) - ga("robinson1975_crl", CRL=c)) < 3.5, c


@pytest.mark.parametrize(
    ("weeks", "days", "crl_mm"), [(8, 0, 17.0), (10, 0, 33.0), (12, 0, 58.3), (14, 0, 79.6)]
)
def test_robinson_reproduces_its_table(weeks: int, days: int, crl_mm: float) -> None:
    """Robinson & Fleming 1975 mean CRL by menstrual age; the fitted equation is within its 2 SD (4.7 d)."""
    assert abs(ga("robinson1975_crl", CRL=crl_mm) - (7 * weeks + days)) < 4.7


def test_hadlock_equations_agree_on_typical_biometry() -> None:
    """Typical Hadlock biometry at 20 and 30 weeks: every single and composite Hadlock 1984
    equation gives that age within a week (a mistyped coefficient would not)."""
    for weeks, m in (
        (20, {"BPD": 46, "HC": 175, "AC": 151, "FL": 32}),
        (30, {"BPD": 77, "HC": 278, "AC": 260, "FL": 57}),
    ):
        hadlock = [e for e in GA_EQUATIONS.values() if e.key.startswith("hadlock1984_")]
        assert len(hadlock) == 14
        for eq in hadlock:
            value = evaluate(eq, {p: m[p] for p in eq.inputs}).value / 7
            assert abs(value - weeks) < 1.0, (eq.name, value)
    composite = GA_EQUATIONS["hadlock1984_bpd_hc_ac_fl"]
    assert composite.name == "Hadlock 1984 (BPD, HC, AC, FL)"
    # 10.85 + 0.060*HC*FL + 0.6700*BPD + 0.1680*AC, cm
    assert evaluate(composite, {"BPD": 77, "HC": 278, "AC": 260, "FL": 57}).value / 7 == pytest.approx(
        10.85 + 0.060 * 27.8 * 5.7 + 0.67 * 7.7 + 0.168 * 26.0
    )


def test_hadlock_efw_variants_are_consistent() -> None:
    m = {"BPD": 77, "HC": 278, "AC": 260, "FL": 57}
    values = {k: evaluate(e, {p: m[p] for p in e.inputs}).value for k, e in EFW_EQUATIONS.items()}
    base = values["hadlock1985_hc_ac_fl"]
    assert 1400 < base < 1800  # ~30 weeks
    for k, v in values.items():
        assert abs(v / base - 1) < 0.1, (k, v)
    # 4-parameter: 1.3596 - 0.00386 AC FL + 0.0064 HC + 0.00061 BPD AC + 0.0424 AC + 0.174 FL (cm)
    assert values["hadlock1985_bpd_hc_ac_fl"] == pytest.approx(
        10 ** (1.3596 - 0.00386 * 26 * 5.7 + 0.0064 * 27.8 + 0.00061 * 7.7 * 26 + 0.0424 * 26 + 0.174 * 5.7)
    )
    names = {e.name for e in EFW_EQUATIONS.values()}
    assert {
        "Hadlock 1985 (HC, AC, FL)",
        "Hadlock 1985 (BPD, HC, AC, FL)",
        "Hadlock 1985 (BPD, AC, FL)",
        "INTERGROWTH-21st (AC, HC)",
    } <= names


def test_every_equation_names_its_reference_and_validity() -> None:
    for eq in (*GA_EQUATIONS.values(), *EFW_EQUATIONS.values()):
        assert eq.reference and eq.formula and eq.validity, eq.key
        assert any(y in eq.reference for y in ("1975", "1984", "1985", "2014", "2016", "2017"))


# --- geometry --------------------------------------------------------------------------


def test_ramanujan_perimeter() -> None:
    assert ramanujan_perimeter(10, 10) == pytest.approx(2 * math.pi * 10, rel=1e-15)
    exact_2_1 = 9.688448220547675  # complete elliptic integral, a=2, b=1
    assert ramanujan_perimeter(2, 1) == pytest.approx(exact_2_1, rel=1e-9)
    assert ramanujan_perimeter(1, 0) == pytest.approx(4.0, rel=1e-3)
    with pytest.raises(MeasurementError):
        ramanujan_perimeter(-1, 2)


def test_fit_recovers_a_rotated_ellipse() -> None:
    truth = EllipseParams(312.5, 201.25, 140.0, 90.0, math.radians(25))
    fit = fit_ellipse(truth.sample(50))
    assert fit.cx == pytest.approx(truth.cx, abs=1e-6) and fit.cy == pytest.approx(truth.cy, abs=1e-6)
    assert fit.a == pytest.approx(140.0, abs=1e-6) and fit.b == pytest.approx(90.0, abs=1e-6)
    assert fit.angle == pytest.approx(truth.angle, abs=1e-8)
    # with noise and an incomplete arc (a shadowed skull) it is still close
    rng = np.random.default_rng(0)
    pts = truth.sample(400)[:300] + rng.normal(0, 0.5, (300, 2))
    noisy = fit_ellipse(pts)
    assert noisy.perimeter == pytest.approx(truth.perimeter, rel=0.01)


@pytest.mark.parametrize("pts", [[(0, 0), (1, 1), (2, 2)], [(i, 2 * i) for i in range(20)], [(0, 0)] * 10])
def test_fit_rejects_degenerate_input(pts) -> None:
    with pytest.raises(MeasurementError):
        fit_ellipse(pts)


def test_mask_boundary_is_the_drawn_edge() -> None:
    yy, xx = np.mgrid[0:200, 0:300]
    mask = ((xx - 150) / 80.0) ** 2 + ((yy - 100) / 50.0) ** 2 <= 1.0
    fit = fit_ellipse(mask_boundary_points(mask))
    assert fit.a == pytest.approx(80.5, abs=0.6) and fit.b == pytest.approx(50.5, abs=0.6)
    with pytest.raises(MeasurementError, match="empty"):
        mask_boundary_points(np.zeros((5, 5), bool))


def test_densify_spacing() -> None:
    pts = densify([(0, 0), (10, 0), (10, 10)], step=1.0)
    gaps = np.hypot(*np.diff(np.vstack([pts, pts[:1]]), axis=0).T)
    assert gaps.max() <= 1.0 + 1e-9 and len(pts) > 30


# --- calibrated measurement -------------------------------------------------------


def aniso() -> Calibration:
    """One B-mode region, 0.1 mm/px across and 0.2 mm/px down (anisotropic)."""
    return Calibration(regions=(Region(0, 0, 999, 999, 0.01, 0.02),), source="dicom")


def two_regions() -> Calibration:
    return Calibration(regions=(Region(0, 0, 499, 999, 0.01, 0.01), Region(500, 0, 999, 999, 0.02, 0.02)))


def test_caliper_in_anisotropic_region() -> None:
    assert caliper_mm(aniso(), (0, 0), (30, 40)) == pytest.approx(math.hypot(3.0, 8.0))
    c = Caliper(frame=F, p1=(0, 0), p2=(30, 40), measure="FL")
    m = measure_annotation(c, aniso())
    assert m.parameter == "FL" and m.value_mm == pytest.approx(math.hypot(3.0, 8.0))
    k = Keypoints(frame=F, points=[[0, 0, 2], [30, 40, 2]], measure="CRL")
    assert measure_annotation(k, aniso()).value_mm == pytest.approx(math.hypot(3.0, 8.0))


def test_ellipse_in_anisotropic_region_is_exact() -> None:
    # a 10 mm circle appears as a 100 x 50 px ellipse
    e = Ellipse(frame=F, cx=400, cy=300, rx=100, ry=50, measure="HC")
    m = measure_annotation(e, aniso())
    assert m.value_mm == pytest.approx(2 * math.pi * 10, rel=1e-9)
    assert m.details["area_mm2"] == pytest.approx(math.pi * 100, rel=1e-9)
    # a rotated pixel ellipse: compare with the length of its dense outline in mm
    r = Ellipse(frame=F, cx=400, cy=300, rx=120, ry=60, angle_deg=35, measure="AC")
    pts = np.array(r.sample(20000)) * np.array([0.1, 0.2])
    brute = float(np.hypot(*np.diff(np.vstack([pts, pts[:1]]), axis=0).T).sum())
    assert measure_annotation(r, aniso()).value_mm == pytest.approx(brute, rel=1e-6)


def test_fit_in_mm_not_in_pixels() -> None:
    """Outline points of a 10 mm circle drawn in an anisotropic region fit a 10 mm circle."""
    u = np.linspace(0, 2 * np.pi, 60, endpoint=False)
    px = np.column_stack([400 + 100 * np.cos(u), 300 + 50 * np.sin(u)])
    fit_mm, fit_px = fit_ellipse_calibrated(aniso(), px)
    assert fit_mm.a == pytest.approx(10) and fit_mm.b == pytest.approx(10)
    assert (fit_px.a, fit_px.b) == pytest.approx((100, 50))
    poly = Polygon(frame=F, points=[tuple(p) for p in px], measure="HC")
    assert measure_annotation(poly, aniso()).value_mm == pytest.approx(2 * math.pi * 10, rel=2e-3)


def test_calibration_problems_are_refused() -> None:
    c = Caliper(frame=F, p1=(10, 10), p2=(600, 10), measure="BPD")
    with pytest.raises(CalibrationError, match="not calibrated"):
        measure_annotation(c, None)
    with pytest.raises(CalibrationError, match="not calibrated"):
        measure_annotation(c, Calibration())
    with pytest.raises(CalibrationError, match="span different"):
        measure_annotation(c, two_regions())
    with pytest.raises(CalibrationError, match="outside every"):
        measure_annotation(Caliper(frame=F, p1=(10, 10), p2=(1500, 10), measure="BPD"), two_regions())
    # an ellipse that pokes out of its region is refused too
    with pytest.raises(CalibrationError):
        measure_annotation(Ellipse(frame=F, cx=450, cy=500, rx=100, ry=50, measure="HC"), two_regions())
    manual = Calibration().with_manual(ManualCalibration((0, 0), (0, 100), 50.0))
    assert measure_annotation(c, manual).value_mm == pytest.approx(295.0)


def test_measure_needs_a_suitable_shape() -> None:
    cal = aniso()
    with pytest.raises(MeasurementError, match="Choose what"):
        measure_annotation(Caliper(frame=F, p1=(0, 0), p2=(1, 1)), cal)
    with pytest.raises(MeasurementError, match="distance"):
        measure_annotation(Ellipse(frame=F, cx=5, cy=5, rx=2, ry=1, measure="BPD"), cal)
    with pytest.raises(MeasurementError, match="circumference"):
        measure_annotation(Box(frame=F, x0=0, y0=0, x1=5, y1=5, measure="HC"), cal)


def test_measurements_from_annotations_uses_accepted_only() -> None:
    cal = aniso()
    anns = [
        Caliper(frame=F, p1=(0, 0), p2=(100, 0), measure="BPD"),
        Caliper(frame=F, p1=(0, 0), p2=(200, 0), measure="FL", provenance="ai"),  # pending
        Caliper(frame=F, p1=(0, 0), p2=(300, 0)),  # no measure tag
    ]
    ms = measurements_from_annotations(anns, {F: cal})
    assert [(m.parameter, round(m.value_mm, 3)) for m in ms] == [("BPD", 10.0)]


# --- report and warnings ------------------------------------------------------------------


def test_report_picks_primary_estimates() -> None:
    r = biometry_report({"BPD": 77, "HC": 278, "AC": 260, "FL": 57})
    assert r.primary_ga.equation.name == "Hadlock 1984 (BPD, HC, AC, FL)"
    assert r.primary_efw.equation.name == "Hadlock 1985 (HC, AC, FL)"
    names = [e.equation.name for e in r.ga]
    assert "Hadlock 1984 (HC, AC)" not in names  # only singles + the full composite
    assert "INTERGROWTH-21st (HC, FL)" in names
    assert r.warnings == ()
    crl = biometry_report({"CRL": 45})
    assert crl.primary_ga.equation.name == "INTERGROWTH-21st (CRL)"
    assert biometry_report({"CRL": 10}).primary_ga.equation.name == "Robinson-Fleming 1975 (CRL)"
    d = r.to_dict()
    assert d["primary_efw"]["efw_g"] > 0 and d["ga"][0]["ga_text"].endswith("d")


def test_every_combination_of_head_abdomen_femur_has_a_primary_ga() -> None:
    from itertools import combinations

    typical = {"BPD": 77, "HC": 278, "AC": 260, "FL": 57}
    for n in range(1, 5):
        for combo in combinations(typical, n):
            r = biometry_report({k: typical[k] for k in combo})
            assert r.primary_ga is not None and abs(r.primary_ga.value / 7 - 30) < 1, combo
    # Hadlock 1984 has no BPD + HC equation: HC (the stronger predictor) is used
    assert biometry_report({"BPD": 77, "HC": 278}).primary_ga.equation.name == "Hadlock 1984 (HC)"


def test_parameters_disagreeing_by_more_than_two_weeks() -> None:
    r = biometry_report({"BPD": 77, "FL": 45})  # ~31w vs ~24w
    assert any("disagree by more than 2 weeks" in w for w in r.warnings)


def test_ultrasound_vs_dates_uses_acog_thresholds() -> None:
    r = biometry_report({"HC": 278}, ga_by_dates_days=26 * 7)  # ~30w by US, 26w by dates, limit 14 d
    assert any("redating threshold" in w and "ACOG" in w for w in r.warnings)
    assert any("Committee Opinion No. 700" in ref for ref in r.references)
    ok = biometry_report({"HC": 278}, ga_by_dates_days=30 * 7)
    assert not ok.warnings
    assert redating_threshold_days(60) == (5, "up to 8+6 weeks (CRL)")
    assert redating_threshold_days(12 * 7)[0] == 7
    assert redating_threshold_days(20 * 7)[0] == 10
    assert redating_threshold_days(25 * 7)[0] == 14
    assert redating_threshold_days(35 * 7)[0] == 21


def test_out_of_range_warnings() -> None:
    early = biometry_report({"HC": 60})
    assert any("outside the range of Hadlock 1984 (HC)" in w for w in early.warnings)
    late_ig = evaluate(GA_EQUATIONS["intergrowth2016_hc"], {"HC": 300})
    assert late_ig.warnings and not late_ig.in_range
    ig_efw = evaluate(EFW_EQUATIONS["intergrowth2017_ac_hc"], {"AC": 150, "HC": 170}, ga_days=20 * 7)
    assert any("22w0d" in w for w in ig_efw.warnings)
    big_crl = biometry_report({"CRL": 100})
    assert any("Robinson" in w for w in big_crl.warnings)


def test_cephalic_index_and_nt_warnings() -> None:
    r = biometry_report({"BPD": 60, "OFD": 90})
    assert r.cephalic_index == pytest.approx(66.7, abs=0.1)
    assert any("dolichocephalic" in w for w in r.warnings)
    assert any("AJR Am J Roentgenol 1981;137:83-85" in ref for ref in r.references)
    nt = biometry_report({"NT": 3.8, "CRL": 40})
    assert any("NT 3.8 mm is increased" in w for w in nt.warnings)
    assert any("CRL 45-84 mm" in w for w in nt.warnings)


@pytest.mark.parametrize(
    ("values", "match"),
    [
        ({}, "at least one"),
        ({"HC": None}, "at least one"),
        ({"HC": -5}, "positive"),
        ({"HC": "abc"}, "number"),
        ({"HC": float("nan")}, "positive"),
        ({"FL": 5000}, "plausible"),
        ({"XX": 5}, "Unknown parameter"),
    ],
)
def test_bad_input_is_a_clear_error(values, match) -> None:
    with pytest.raises(MeasurementError, match=match):
        biometry_report(values)


def test_format_ga() -> None:
    assert format_ga(156.6) == "22w3d"
    assert format_ga(70) == "10w0d"
