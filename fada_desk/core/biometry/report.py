"""Estimates and the biometry report: GA and EFW by every applicable equation.

:func:`biometry_report` validates measurements (mm), applies every equation of
:mod:`fada_desk.core.biometry.equations` that has its inputs, picks the primary
GA and EFW and adds consistency warnings. GA is in days (``format_ga`` of
:mod:`fada_desk.core.dating` renders "22w3d"), EFW in grams.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fada_desk.core.biometry.equations import (
    EFW_EQUATIONS,
    EFW_PREFERENCE,
    GA_EQUATIONS,
    REF_ACOG_700,
    REF_HADLOCK_CI_1981,
    Equation,
)
from fada_desk.core.biometry.geometry import PARAMETERS, Measurement, MeasurementError
from fada_desk.core.dating import format_ga

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


def latest_values(measurements: Sequence[Measurement]) -> dict[str, float]:
    """One value per parameter: the last measurement of each (the most recent edit wins)."""
    out: dict[str, float] = {}
    for mm in measurements:
        out[mm.parameter] = mm.value_mm
    return out
