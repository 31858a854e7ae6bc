"""Published gestational-age (GA) and estimated-fetal-weight (EFW) equations.

Each :class:`Equation` is named exactly, with its formula text, reference and
validity range. Inputs are millimetres (equations published in cm convert
internally); GA results are days, EFW results grams. Applying an equation to
measurements (with range warnings) is :func:`fada_desk.core.biometry.report.evaluate`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

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
