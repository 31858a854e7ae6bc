"""Hadlock 1991 in-utero fetal weight percentiles (Radiology 1991;181:129-133).

Mean EFW (g) at GA t (menstrual weeks): ln mean = 0.578 + 0.332 t - 0.00354 t^2, normally
distributed about the mean with an SD proportional to it; valid 10 to 40 weeks (the span
of the paper's Table 1 and of its data). z = (EFW - mean) / (SD x mean), centile = Phi(z).

The SD: the abstract states "+/- 12.7% (1 standard deviation)", but the percentiles the
paper prints in Table 1 lie at 0.75, 0.83, 1.17 and 1.25 x the mean for the 3rd, 10th,
90th and 97th, i.e. 1.88 and 1.28 SD of 13.3 % of the mean. This module uses
:data:`SD_FRACTION` = 0.133 so that the centiles it gives agree with the published table a
sonographer reads (every Table 1 value, 10-40 weeks, within 1 g or 0.1 %); 12.7 % (the
abstract; FetalGPSR, github dw1227/FetalGPSR, R/FetalGPS.R) puts the 10th centile at 40
weeks at 3030 g instead of the printed 3004 g. Table 1 as transcribed in github
twumasiclement/Hadlock-Growth-Chart-Statistical-Validation-Analysis
(Empirical-Evaluation-Hadlock-Centiles.r), whose 30-week 97th "1649" is a misprint for
1949 (1.25 x 1559; below its own 90th). The mean equation reproduces Table 1's 50th
column to the gram (35 g at 10 weeks, 3619 g at 40 weeks, as the abstract says).
"""

from __future__ import annotations

import math

from fada_desk.core.growth.centiles import (
    Centile,
    centile_to_z,
    check_ga,
    check_value,
    z_to_centile,
)

REF_HADLOCK_1991 = (
    "Hadlock FP, Harrist RB, Martinez-Poyer J. In utero analysis of fetal growth: a sonographic "
    "weight standard. Radiology 1991;181:129-133."
)

NAME = "Hadlock 1991 in-utero weight standard"
RANGE_DAYS = (10 * 7.0, 40 * 7.0)
#: SD as a fraction of the mean, back-calculated from the paper's Table 1 (the abstract says 0.127).
SD_FRACTION = 0.133
SD_FRACTION_ABSTRACT = 0.127


def mean_efw(ga_days: float) -> float:
    """Mean (50th centile) EFW in grams at ``ga_days`` (10 to 40 weeks)."""
    t = check_ga(ga_days, *RANGE_DAYS, f"the {NAME}") / 7.0
    return math.exp(0.578 + 0.332 * t - 0.00354 * t**2)


def efw_quantile(ga_days: float, centile: float, sd_fraction: float = SD_FRACTION) -> float:
    """EFW (g) at ``centile`` (percent) and ``ga_days``."""
    return mean_efw(ga_days) * (1.0 + centile_to_z(centile) * sd_fraction)


def efw_centile(efw_g: float, ga_days: float, sd_fraction: float = SD_FRACTION) -> Centile:
    """z-score and centile of an EFW (g) on Hadlock 1991."""
    mean = mean_efw(ga_days)
    efw = check_value(efw_g, "EFW")
    z = (efw - mean) / (sd_fraction * mean)
    return Centile(
        "hadlock1991",
        NAME,
        REF_HADLOCK_1991,
        "EFW",
        efw,
        float(ga_days),
        z,
        z_to_centile(z),
        method=(
            f"z = (EFW - mean) / ({sd_fraction:g} x mean); "
            "ln mean = 0.578 + 0.332 GA - 0.00354 GA^2 (GA in weeks)"
        ),
    )
