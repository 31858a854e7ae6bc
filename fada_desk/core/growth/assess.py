"""Measurements and EFW of one exam placed on one growth standard, at the GA by dates.

:data:`STANDARDS` describes the three standards (``intergrowth``, ``who``, ``hadlock``):
their charts, GA range and the EFW formula each was built on.
:func:`standard_centile` / :func:`standard_quantile` are one entry point to every chart
(the quantile gives the centile curves a growth chart draws). :func:`assess_growth` is
what a report prints: a :class:`GrowthAssessment` with one :class:`Centile` per charted
measurement and one for the EFW, notes for what could not be charted, and the sentence
saying which GA was used, or that centiles need a dating GA.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fada_desk.core.biometry import REF_IG_EFW_2017, BiometryReport
from fada_desk.core.growth import hadlock1991, intergrowth, who
from fada_desk.core.growth.centiles import (
    Centile,
    CentileGA,
    GrowthError,
    centile_ga,
    check_ga,
)

_HADLOCK_1985 = (
    "hadlock1985_hc_ac_fl",
    "hadlock1985_bpd_hc_ac_fl",
    "hadlock1985_bpd_ac_fl",
    "hadlock1985_ac_fl",
)


@dataclass(frozen=True)
class Standard:
    """A growth standard: its charts (parameter -> GA range in days) and the EFW formula behind it."""

    key: str
    name: str
    charts: Mapping[str, tuple[float, float]]
    efw_equations: tuple[str, ...]  # EFW equation keys the EFW chart is meant for, preferred first
    efw_basis: str  # the formula named in notes
    references: tuple[str, ...]
    sex_charts: tuple[str, ...] = ()  # parameters with charts by fetal sex
    aliases: tuple[str, ...] = field(default=())

    @property
    def ga_range_days(self) -> tuple[float, float]:
        """The span of GA any of its charts covers."""
        return min(lo for lo, _ in self.charts.values()), max(hi for _, hi in self.charts.values())

    def to_dict(self) -> dict[str, Any]:
        lo, hi = self.ga_range_days
        return {"key": self.key, "name": self.name, "parameters": list(self.charts),
                "ga_range_days": [lo, hi], "references": list(self.references)}


_IG_FETAL = {p: intergrowth.FETAL_RANGE_DAYS for p in intergrowth.FETAL_EQUATIONS}

STANDARDS: dict[str, Standard] = {
    s.key: s
    for s in (
        Standard(
            "intergrowth",
            "INTERGROWTH-21st",
            {**_IG_FETAL, "EFW": intergrowth.EFW_RANGE_DAYS},
            ("intergrowth2017_ac_hc",),
            "the INTERGROWTH-21st (AC, HC) formula",
            (intergrowth.REF_IG_FETAL_2014, REF_IG_EFW_2017),
            aliases=("ig", "intergrowth21", "intergrowth-21st"),
        ),
        Standard(
            "who",
            "WHO",
            {p: who.RANGE_DAYS for p in who.PARAMETERS},
            ("hadlock1985_hc_ac_fl",),
            "Hadlock 1985 (HC, AC, FL)",
            (who.REF_WHO_2017,),
            sex_charts=("EFW",),
        ),
        Standard(
            "hadlock",
            "Hadlock 1991",
            {"EFW": hadlock1991.RANGE_DAYS},
            _HADLOCK_1985,
            "a Hadlock 1985 formula",
            (hadlock1991.REF_HADLOCK_1991,),
            aliases=("hadlock1991",),
        ),
    )
}


def get_standard(key: str) -> Standard:
    k = key.strip().lower()
    for s in STANDARDS.values():
        if k == s.key or k in s.aliases:
            return s
    raise GrowthError(f"Unknown growth standard {key!r} (choose {', '.join(STANDARDS)}).")


def _sex(sex: str | None) -> str | None:
    if sex is None or not str(sex).strip():
        return None
    s = str(sex).strip().upper()[:1]
    if s not in ("F", "M"):
        raise GrowthError(f"Fetal sex must be f or m, got {sex!r}.")
    return s


def standard_centile(
    standard: str, parameter: str, value: float, ga_days: float, sex: str | None = None
) -> Centile:
    """One value on one standard's chart; out-of-range GA and unknown charts raise GrowthError."""
    std = get_standard(standard)
    if parameter not in std.charts:
        raise GrowthError(f"{std.name} has no {parameter} chart (it has {', '.join(std.charts)}).")
    sx = _sex(sex)
    if std.key == "intergrowth":
        if parameter == "EFW":
            return intergrowth.efw_centile(value, ga_days)
        return intergrowth.fetal_centile(parameter, value, ga_days)
    if std.key == "who":
        return who.centile(parameter, value, ga_days, sx)
    return hadlock1991.efw_centile(value, ga_days)


def standard_quantile(
    standard: str, parameter: str, ga_days: float, centile: float, sex: str | None = None
) -> float:
    """The value at ``centile`` (percent): a point of the chart's centile curve."""
    std = get_standard(standard)
    if parameter not in std.charts:
        raise GrowthError(f"{std.name} has no {parameter} chart (it has {', '.join(std.charts)}).")
    if std.key == "intergrowth":
        if parameter == "EFW":
            return intergrowth.efw_quantile(ga_days, centile)
        return intergrowth.fetal_quantile(parameter, ga_days, centile)
    if std.key == "who":
        return who.quantile(parameter, ga_days, centile, _sex(sex))
    return hadlock1991.efw_quantile(ga_days, centile)


@dataclass(frozen=True)
class EFWInput:
    """An EFW to place on a chart: the equation's key and name, and grams."""

    key: str
    name: str
    grams: float


@dataclass(frozen=True)
class GrowthAssessment:
    standard: Standard
    ga: CentileGA
    sex: str | None
    centiles: tuple[Centile, ...]
    efw: Centile | None = None
    efw_equation: str | None = None
    notes: tuple[str, ...] = ()

    @property
    def needs_dating_ga(self) -> bool:
        return not self.ga.known

    @property
    def title(self) -> str:
        return f"Centiles ({self.standard.name})"

    def to_dict(self) -> dict[str, Any]:
        efw = None
        if self.efw is not None:
            efw = {**self.efw.to_dict(), "efw_equation": self.efw_equation}
        return {
            "standard": self.standard.name,
            "standard_key": self.standard.key,
            "references": list(self.standard.references),
            "ga": self.ga.to_dict(),
            "needs_dating_ga": self.needs_dating_ga,
            "statement": self.ga.statement,
            "sex": self.sex,
            "measurements": [c.to_dict() for c in self.centiles],
            "efw": efw,
            "notes": list(self.notes),
        }


def _pick_efw(std: Standard, efws: Sequence[EFWInput]) -> tuple[EFWInput | None, str | None]:
    by_key = {e.key: e for e in efws}
    for k in std.efw_equations:
        if k in by_key:
            return by_key[k], None
    if not efws:
        return None, None
    first = efws[0]
    return first, f"EFW by {first.name}: the {std.name} EFW chart was built on {std.efw_basis}."


def assess_growth(
    measurements_mm: Mapping[str, float],
    ga: CentileGA | float | None,
    standard: str = "intergrowth",
    sex: str | None = None,
    efws: Sequence[EFWInput] = (),
) -> GrowthAssessment:
    """Each charted measurement (and the EFW) on ``standard`` at the GA by dates.

    ``ga``: a :class:`CentileGA` (or days, or None); None gives an assessment with no
    centiles whose statement is that centiles need a dating GA. A GA outside the range of
    every chart of the standard raises :class:`GrowthError` when there is something to
    chart (CRL or NT alone are never charted: no error, a note); a chart with a narrower range
    (INTERGROWTH EFW: 22+0 weeks on) is left out with a note. ``efws``: EFW estimates,
    the primary first; the one matching the standard's formula is used.
    """
    std = get_standard(standard)
    sx = _sex(sex)
    dating = ga if isinstance(ga, CentileGA) else centile_ga(ga)
    notes: list[str] = []
    if sx is not None and not std.sex_charts:
        notes.append(f"{std.name} charts are not by fetal sex.")
    elif sx is not None and set(std.sex_charts) != set(std.charts):
        notes.append(f"Only the {std.name} {', '.join(std.sex_charts)} chart is by fetal sex.")
    if dating.ga_days is None:
        return GrowthAssessment(std, dating, sx, (), notes=tuple(notes))
    charted = [p for p in measurements_mm if p in std.charts and p != "EFW"]
    if not charted and not (efws and "EFW" in std.charts):
        notes.append(f"No measurement here is on the {std.name} charts.")
        return GrowthAssessment(std, dating, sx, (), notes=tuple(notes))
    ga_days = check_ga(dating.ga_days, *std.ga_range_days, f"the {std.name} charts")

    def in_range(parameter: str) -> bool:
        lo, hi = std.charts[parameter]
        if lo - 1e-6 <= ga_days <= hi + 1e-6:
            return True
        notes.append(f"No {parameter} centile: the {std.name} {parameter} chart covers "
                     f"{lo / 7:g} to {hi / 7:g} weeks.")
        return False

    centiles: list[Centile] = []
    unknown: list[str] = []
    for parameter, value in measurements_mm.items():
        if parameter == "EFW" or parameter not in std.charts:
            unknown.append(parameter)
        elif in_range(parameter):
            centiles.append(standard_centile(std.key, parameter, value, ga_days, sx))
    uncharted = [p for p in unknown if p not in ("CRL", "NT", "EFW")]
    if uncharted:
        notes.append(f"{std.name} has no chart for {', '.join(uncharted)}.")
    efw_c, efw_name = None, None
    picked, note = _pick_efw(std, efws)
    if picked is not None and "EFW" in std.charts and in_range("EFW"):
        efw_c = standard_centile(std.key, "EFW", picked.grams, ga_days, sx)
        efw_name = picked.name
        if note:
            notes.append(note)
    return GrowthAssessment(std, dating, sx, tuple(centiles), efw_c, efw_name, tuple(notes))


def assess_report(
    report: BiometryReport,
    ga: CentileGA | float | None,
    standard: str = "intergrowth",
    sex: str | None = None,
    extra_mm: Mapping[str, float] | None = None,
) -> GrowthAssessment:
    """:func:`assess_growth` of a biometry report's measurements and EFW estimates (primary first).

    ``extra_mm``: measurements the biometry report does not take (HL for the WHO charts).
    """
    efws = sorted(report.efw, key=lambda e: e is not report.primary_efw)
    return assess_growth(
        {**report.measurements_mm, **(extra_mm or {})},
        ga,
        standard,
        sex,
        [EFWInput(e.equation.key, e.equation.name, e.value) for e in efws],
    )
