"""INTERGROWTH-21st fetal growth standards (HC, BPD, OFD, AC, FL) and EFW standard.

Fetal Growth Standards (Papageorghiou et al., Lancet 2014): each measurement (mm) is
normal at a GA (exact weeks, GA in days / 7) with a fractional-polynomial mean and SD;
z = (y - mean) / SD, centile = Phi(z). Valid 14+0 to 40+0 weeks. Coefficients from the
paper's equations, cross-checked against ``ig_fet_mu_sigma`` in the R package gigs
(github lshtm-gigs/gigs, R/ig_fet.R) and against the official centile and z-score tables
(intergrowth21.tghn.org "GROW_Fetal-ct_hc_Table.pdf" etc., as stored in gigs
data-raw/tables/ig_fet/): every P3-P97 and -3..+3 SD value of the five tables (printed
to 0.1 mm) is reproduced within 0.08 mm.

EFW standard (Stirnemann et al., Ultrasound Obstet Gynecol 2017): a Box-Cox (LMS) model
of ln(EFW) (EFW by the INTERGROWTH-21st AC+HC formula), with
L = -4.257629 - 2162.234 GA^-2 + 0.0002301829 GA^3,
M = 4.956737 + 0.0005019687 GA^3 - 0.0001227065 GA^3 ln GA,
S = 1e-4 (-6.997171 + 0.057559 GA^3 - 0.01493946 GA^3 ln GA),
z = ((ln EFW / M)^L - 1) / (L S). Valid 22+0 to 40+0 weeks. Cross-checked against
``ig_fet_lms`` in gigs (R/ig_fet.R), FetalGPSR (github dw1227/FetalGPSR, R/FetalGPS.R)
and the official centile table (GROW_EFW_ct_Table_values.pdf): every value within
0.51 g (printed to the gram).
"""

from __future__ import annotations

import math
from collections.abc import Callable

from fada_desk.core.biometry import REF_IG_EFW_2017
from fada_desk.core.growth.centiles import (
    Centile,
    GrowthError,
    centile_to_z,
    check_ga,
    check_value,
    z_to_centile,
)

REF_IG_FETAL_2014 = (
    "Papageorghiou AT, Ohuma EO, Altman DG, et al. International standards for fetal growth based on "
    "serial ultrasound measurements: the Fetal Growth Longitudinal Study of the INTERGROWTH-21st "
    "Project. Lancet 2014;384:869-879."
)

FETAL_NAME = "INTERGROWTH-21st Fetal Growth Standards"
EFW_NAME = "INTERGROWTH-21st EFW standard"
FETAL_RANGE_DAYS = (14 * 7.0, 40 * 7.0)
EFW_RANGE_DAYS = (22 * 7.0, 40 * 7.0)


def _hc(t: float) -> tuple[float, float]:
    lt = math.log(t)
    mean = -28.2849 + 1.69267 * t**2 - 0.397485 * t**2 * lt
    sd = 1.98735 + 0.0136772 * t**3 - 0.00726264 * t**3 * lt + 0.000976253 * t**3 * lt**2
    return mean, sd


def _bpd(t: float) -> tuple[float, float]:
    lt = math.log(t)
    mean = 5.60878 + 0.158369 * t**2 - 0.00256379 * t**3
    sd = math.exp(0.101242 + 0.00150557 * t**3 - 0.000771535 * t**3 * lt + 0.0000999638 * t**3 * lt**2)
    return mean, sd


def _ofd(t: float) -> tuple[float, float]:
    lt = math.log(t)
    mean = -12.4097 + 0.626342 * t**2 - 0.148075 * t**2 * lt
    sd = math.exp(-0.880034 + 0.0631165 * t**2 - 0.0317136 * t**2 * lt + 0.00408302 * t**2 * lt**2)
    return mean, sd


def _ac(t: float) -> tuple[float, float]:
    mean = -81.3243 + 11.6772 * t - 0.000561865 * t**3
    sd = -4.36302 + 0.121445 * t**2 - 0.0130256 * t**3 + 0.00282143 * t**3 * math.log(t)
    return mean, sd


def _fl(t: float) -> tuple[float, float]:
    mean = -39.9616 + 4.32298 * t - 0.0380156 * t**2
    sd = math.exp(0.605843 - 42.0014 * t**-2 + 0.00000917972 * t**3)
    return mean, sd


#: Mean and SD (mm) as functions of GA in exact weeks (Papageorghiou 2014).
FETAL_EQUATIONS: dict[str, Callable[[float], tuple[float, float]]] = {
    "HC": _hc,
    "BPD": _bpd,
    "OFD": _ofd,
    "AC": _ac,
    "FL": _fl,
}

FETAL_FORMULAS = {
    "HC": "mean = -28.2849 + 1.69267 GA^2 - 0.397485 GA^2 ln GA; "
    "SD = 1.98735 + 0.0136772 GA^3 - 0.00726264 GA^3 ln GA + 0.000976253 GA^3 (ln GA)^2",
    "BPD": "mean = 5.60878 + 0.158369 GA^2 - 0.00256379 GA^3; "
    "SD = exp(0.101242 + 0.00150557 GA^3 - 0.000771535 GA^3 ln GA + 0.0000999638 GA^3 (ln GA)^2)",
    "OFD": "mean = -12.4097 + 0.626342 GA^2 - 0.148075 GA^2 ln GA; "
    "SD = exp(-0.880034 + 0.0631165 GA^2 - 0.0317136 GA^2 ln GA + 0.00408302 GA^2 (ln GA)^2)",
    "AC": "mean = -81.3243 + 11.6772 GA - 0.000561865 GA^3; "
    "SD = -4.36302 + 0.121445 GA^2 - 0.0130256 GA^3 + 0.00282143 GA^3 ln GA",
    "FL": "mean = -39.9616 + 4.32298 GA - 0.0380156 GA^2; "
    "SD = exp(0.605843 - 42.0014 GA^-2 + 0.00000917972 GA^3)",
}


def _fetal_equation(parameter: str) -> Callable[[float], tuple[float, float]]:
    try:
        return FETAL_EQUATIONS[parameter]
    except KeyError:
        raise GrowthError(
            f"{FETAL_NAME} have no {parameter} standard (they have {', '.join(FETAL_EQUATIONS)})."
        ) from None


def fetal_mean_sd(parameter: str, ga_days: float) -> tuple[float, float]:
    """Mean and SD (mm) of ``parameter`` at ``ga_days`` (14+0 to 40+0 weeks)."""
    eq = _fetal_equation(parameter)
    ga = check_ga(ga_days, *FETAL_RANGE_DAYS, f"the {FETAL_NAME}")
    return eq(ga / 7.0)


def fetal_quantile(parameter: str, ga_days: float, centile: float) -> float:
    """The value (mm) of ``parameter`` at ``centile`` (percent) and ``ga_days``."""
    mean, sd = fetal_mean_sd(parameter, ga_days)
    return mean + centile_to_z(centile) * sd


def fetal_centile(parameter: str, value_mm: float, ga_days: float) -> Centile:
    """z-score and centile of one measurement on the INTERGROWTH-21st fetal growth standards."""
    mean, sd = fetal_mean_sd(parameter, ga_days)
    value = check_value(value_mm, parameter)
    z = (value - mean) / sd
    return Centile(
        "intergrowth",
        FETAL_NAME,
        REF_IG_FETAL_2014,
        parameter,
        value,
        float(ga_days),
        z,
        z_to_centile(z),
        method=f"z = (y - mean) / SD; {FETAL_FORMULAS[parameter]} (GA in exact weeks)",
    )


def efw_lms(ga_days: float) -> tuple[float, float, float]:
    """Stirnemann 2017 L, M, S of ln(EFW) at ``ga_days`` (22+0 to 40+0 weeks)."""
    t = check_ga(ga_days, *EFW_RANGE_DAYS, f"the {EFW_NAME}") / 7.0
    t3, lt = t**3, math.log(t)
    lam = -4.257629 - 2162.234 * t**-2 + 0.0002301829 * t3
    mu = 4.956737 + 0.0005019687 * t3 - 0.0001227065 * t3 * lt
    sigma = 1e-4 * (-6.997171 + 0.057559 * t3 - 0.01493946 * t3 * lt)
    return lam, mu, sigma


def efw_quantile(ga_days: float, centile: float) -> float:
    """EFW (g) at ``centile`` (percent) and ``ga_days`` on the INTERGROWTH-21st EFW standard."""
    lam, mu, sigma = efw_lms(ga_days)
    z = centile_to_z(centile)
    log_efw = mu * math.exp(sigma * z) if abs(lam) < 1e-9 else mu * (1.0 + lam * sigma * z) ** (1.0 / lam)
    return math.exp(log_efw)


def efw_centile(efw_g: float, ga_days: float) -> Centile:
    """z-score and centile of an EFW (g, by the INTERGROWTH-21st AC+HC formula)."""
    lam, mu, sigma = efw_lms(ga_days)
    efw = check_value(efw_g, "EFW")
    ratio = math.log(efw) / mu
    if ratio <= 0:
        raise GrowthError(f"EFW {efw:g} g is too small for the {EFW_NAME}.")
    z = math.log(ratio) / sigma if abs(lam) < 1e-9 else (ratio**lam - 1.0) / (lam * sigma)
    return Centile(
        "intergrowth",
        EFW_NAME,
        REF_IG_EFW_2017,
        "EFW",
        efw,
        float(ga_days),
        z,
        z_to_centile(z),
        method="LMS of ln EFW: z = ((ln EFW / M)^L - 1) / (L S) (Stirnemann 2017)",
    )
