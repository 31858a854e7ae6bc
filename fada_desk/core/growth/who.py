"""WHO fetal growth charts (Kiserud et al., PLoS Med 2017): HC, BPD, AC, FL, HL and EFW.

The charts are quantile regressions: for each of the quantiles 1, 2.5, 5, 10, 25, 50, 75,
90, 95, 97.5 and 99 % the log of the measurement is a polynomial in GA (weeks,
:mod:`~fada_desk.core.growth.who_coefficients`). EFW (Hadlock HC/AC/FL formula) also has
sex-specific charts; the biometry charts are not by sex. Valid 14+0 to 40+0 weeks ("we
do not recommend extrapolations").

Centile of a value, as the authors' readMe describes (github jcarvalho45/whoFetalGrowth,
"Interpolation of the quantiles"): between the two neighbouring tabled quantiles the log
of the quantile is linear in the quantile level, so the centile of y is found by linear
interpolation of ln y between them. Beyond the 1st or 99th quantile no centile is
interpolated: the result is "<1st" / ">99th" (``bound``), with no z-score. The z-score of
an interpolated centile is Phi^-1(centile) (the charts publish none).

Checked against published values: Kiserud 2017's EFW table (2.5th-97.5th, 14-40 weeks,
as transcribed in public code) is reproduced to the gram; its EFW-by-sex tables (5th-95th)
within 0.1 % or 1 g (the 2023 coefficient revision); the worked centiles of the R package
whoFetalStandards (tests/testthat/test-conversion.R), which interpolates on the raw scale,
within 0.25 centile (exactly when interpolated its way).
"""

from __future__ import annotations

import math

from fada_desk.core.growth.centiles import (
    Centile,
    GrowthError,
    centile_to_z,
    check_ga,
    check_value,
)
from fada_desk.core.growth.who_coefficients import EFW_BY_SEX, GLOBAL, Row

REF_WHO_2017 = (
    "Kiserud T, Piaggio G, Carroli G, et al. The World Health Organization fetal growth charts: a "
    "multinational longitudinal study of ultrasound biometric measurements and estimated fetal weight. "
    "PLoS Med 2017;14:e1002220."
)

NAME = "WHO fetal growth charts"
RANGE_DAYS = (14 * 7.0, 40 * 7.0)
PARAMETERS = ("HC", "BPD", "AC", "FL", "HL", "EFW")
SEXES = ("F", "M")
QUANTILES = tuple(r[0] for r in GLOBAL["EFW"])  # 0.01 ... 0.99


def _rows(parameter: str, sex: str | None) -> tuple[Row, ...]:
    if parameter not in GLOBAL:
        raise GrowthError(f"The {NAME} have no {parameter} chart (they have {', '.join(PARAMETERS)}).")
    if sex is not None and sex not in SEXES:
        raise GrowthError(f"Fetal sex must be F or M, got {sex!r}.")
    if parameter == "EFW" and sex is not None:
        return EFW_BY_SEX[sex]
    return GLOBAL[parameter]


def _log_quantiles(parameter: str, ga_days: float, sex: str | None) -> list[tuple[float, float]]:
    rows = _rows(parameter, sex)
    t = check_ga(ga_days, *RANGE_DAYS, f"the {NAME}") / 7.0
    return [(q, b0 + b1 * t + b2 * t**2 + b3 * t**3 + b4 * t**4) for q, b0, b1, b2, b3, b4 in rows]


def chart_name(parameter: str, sex: str | None = None) -> str:
    """``WHO fetal growth charts`` or ``WHO fetal growth charts (female)`` for a sexed EFW chart."""
    if parameter == "EFW" and sex is not None:
        return f"{NAME} ({'female' if sex == 'F' else 'male'})"
    return NAME


def quantile(parameter: str, ga_days: float, centile: float, sex: str | None = None) -> float:
    """The value (mm, EFW g) at ``centile`` (percent, 1-99) and ``ga_days``.

    Tabled quantiles come straight from their polynomial; others by linear interpolation of
    the log between the neighbouring tabled quantiles (the authors' readMe).
    """
    p = float(centile) / 100.0
    if not QUANTILES[0] - 1e-12 <= p <= QUANTILES[-1] + 1e-12:
        raise GrowthError(f"The {NAME} give centiles from the 1st to the 99th, not {centile:g}.")
    qs = _log_quantiles(parameter, ga_days, sex)
    for (q0, y0), (q1, y1) in zip(qs, qs[1:]):
        if p <= q1 + 1e-12:
            return math.exp(y0 + (y1 - y0) * (p - q0) / (q1 - q0))
    return math.exp(qs[-1][1])  # p == 0.99 within rounding


def centile(parameter: str, value: float, ga_days: float, sex: str | None = None) -> Centile:
    """Centile (and its z) of one measurement on the WHO charts; EFW by sex when ``sex`` is F/M."""
    qs = _log_quantiles(parameter, ga_days, sex)
    v = check_value(value, parameter)
    y = math.log(v)
    bound: str | None = None
    if y < qs[0][1]:
        p, bound = qs[0][0], "below"
    elif y > qs[-1][1]:
        p, bound = qs[-1][0], "above"
    else:
        p = qs[-1][0]
        for (q0, y0), (q1, y1) in zip(qs, qs[1:]):
            if y <= y1:
                p = q0 + (q1 - q0) * (y - y0) / (y1 - y0)
                break
    cent = 100.0 * p
    return Centile(
        "who",
        chart_name(parameter, sex),
        REF_WHO_2017,
        parameter,
        v,
        float(ga_days),
        None if bound else centile_to_z(cent),
        cent,
        sex=sex if parameter == "EFW" else None,
        bound=bound,
        method="linear interpolation of ln y between the tabled quantiles (WHO readMe)",
    )
