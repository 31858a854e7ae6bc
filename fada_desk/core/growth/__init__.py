"""Fetal growth standards: z-scores and centiles of biometry and EFW (pure core).

* :mod:`~fada_desk.core.growth.intergrowth`: INTERGROWTH-21st Fetal Growth Standards
  (Papageorghiou et al., Lancet 2014; HC, BPD, OFD, AC, FL, 14+0 to 40+0 weeks) and EFW
  standard (Stirnemann et al., UOG 2017; LMS, 22+0 to 40+0 weeks);
* :mod:`~fada_desk.core.growth.who`: WHO fetal growth charts (Kiserud et al., PLoS Med
  2017; quantiles of HC, BPD, AC, FL, HL and EFW, EFW also by fetal sex, 14 to 40 weeks;
  coefficients in :mod:`~fada_desk.core.growth.who_coefficients`);
* :mod:`~fada_desk.core.growth.hadlock1991`: Hadlock 1991 in-utero weight percentiles
  (Radiology 1991;181:129-133; 10 to 40 weeks);
* :mod:`~fada_desk.core.growth.centiles`: the :class:`Centile` result (z, centile, the
  standard's name and reference), GA parsing and range checks, and the GA used:
  :func:`centile_ga` (GA by dates, or "centiles need a dating GA");
* :mod:`~fada_desk.core.growth.assess`: one entry to every chart
  (:func:`standard_centile`, :func:`standard_quantile`) and an exam's measurements on one
  standard (:func:`assess_growth`, :func:`assess_report`).

Each module's docstring names where its coefficients come from and how they were checked.
Units: mm (EFW g); GA in days (exact weeks = days / 7). Outside a chart's GA range a
:class:`GrowthError` says so in one line: nothing is extrapolated.
"""

from fada_desk.core.growth.assess import (
    STANDARDS,
    EFWInput,
    GrowthAssessment,
    Standard,
    assess_growth,
    assess_report,
    get_standard,
    standard_centile,
    standard_quantile,
)
from fada_desk.core.growth.centiles import (
    NEEDS_DATING_GA,
    Centile,
    CentileGA,
    GrowthError,
    centile_ga,
    centile_to_z,
    check_ga,
    parse_ga,
    z_to_centile,
)

__all__ = [
    "NEEDS_DATING_GA",
    "STANDARDS",
    "Centile",
    "CentileGA",
    "EFWInput",
    "GrowthAssessment",
    "GrowthError",
    "Standard",
    "assess_growth",
    "assess_report",
    "centile_ga",
    "centile_to_z",
    "check_ga",
    "get_standard",
    "parse_ga",
    "standard_centile",
    "standard_quantile",
    "z_to_centile",
]
