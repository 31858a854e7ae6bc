"""What every growth standard shares: the result type, GA handling and the normal distribution.

* :class:`Centile`: one measurement placed on one standard (z-score, centile, the
  standard's name and reference, the GA used);
* :func:`parse_ga`: ``28w0d`` / ``28w`` / ``28+0`` / ``200`` (days) -> days;
* :func:`check_ga`: a GA outside a standard's published range is a
  :class:`GrowthError` with a one-line message (never silent extrapolation);
* :class:`CentileGA` / :func:`centile_ga`: the GA centiles use is the exam's GA by
  dates (LMP, EDD or an earlier dating scan); without one, centiles "need a
  dating GA" and the report says so. The GA by ultrasound of the same exam is
  never used: a fetus measured against its own size is always on the 50th.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

from fada_desk.core.dating import format_ga
from fada_desk.core.errors import FadaError

_NORMAL = NormalDist()

UNITS = {"EFW": "g"}  # everything else is in mm

NEEDS_DATING_GA = (
    "Centiles need a dating GA (LMP, EDD or an earlier dating scan); none is known, so no centile is given."
)


class GrowthError(FadaError):
    """A measurement cannot be placed on a growth standard (GA out of range, unknown parameter...)."""


def z_to_centile(z: float) -> float:
    """Standard normal z -> centile in percent (0-100)."""
    return 100.0 * _NORMAL.cdf(z)


def centile_to_z(centile: float) -> float:
    """Centile in percent (strictly between 0 and 100) -> standard normal z."""
    if not 0.0 < centile < 100.0:
        raise GrowthError(f"A centile must be between 0 and 100 (exclusive), got {centile:g}.")
    return _NORMAL.inv_cdf(centile / 100.0)


def weeks_days(days: float) -> str:
    """GA in days -> ``14+0`` (the notation of the standards' publications)."""
    d = int(round(days))
    return f"{d // 7}+{d % 7}"


def check_ga(ga_days: float, lo_days: float, hi_days: float, what: str) -> float:
    """``ga_days`` if within ``[lo_days, hi_days]``, else a one-line :class:`GrowthError`."""
    ga = float(ga_days)
    if not math.isfinite(ga):
        raise GrowthError(f"The GA for {what} must be a number of days, got {ga_days!r}.")
    # a GA is whole days; allow float noise at the edges (e.g. 40 weeks given as 40.0 * 7)
    if not lo_days - 1e-6 <= ga <= hi_days + 1e-6:
        raise GrowthError(
            f"GA {format_ga(ga)} is outside the range of {what} "
            f"({weeks_days(lo_days)} to {weeks_days(hi_days)} weeks)."
        )
    return ga


def check_value(value: float, parameter: str) -> float:
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        unit = UNITS.get(parameter, "mm")
        raise GrowthError(f"{parameter} must be a positive number of {unit}, got {value!r}.")
    return v


_WEEKS_DAYS = (re.compile(r"(\d{1,2})\+(\d{1,2})"), re.compile(r"(\d{1,2})w(?:(\d{1,2})d?)?"))
_DAYS = re.compile(r"(\d{1,3}(?:[.,]\d+)?)d?")


def parse_ga(text: str) -> float:
    """A GA as typed: ``28w0d``, ``28w 3d``, ``28w``, ``28+3`` (weeks+days) or ``196``/``196d`` (days)."""
    s = re.sub(r"\s+", "", str(text).lower()).replace("weeks", "w").replace("days", "d")
    for pattern in _WEEKS_DAYS:
        m = pattern.fullmatch(s)
        if m:
            weeks, days = int(m.group(1)), int(m.group(2) or 0)
            if days > 6:
                raise GrowthError(f"GA {text!r}: days must be 0-6 (write {weeks + days // 7}w{days % 7}d).")
            return float(7 * weeks + days)
    m = _DAYS.fullmatch(s)
    if m:
        return float(m.group(1).replace(",", "."))
    raise GrowthError(f"GA must be weeks+days like 28w0d or 28+0, or days like 196, got {text!r}.")


@dataclass(frozen=True)
class CentileGA:
    """The GA centiles are computed at, and where it comes from (``basis``), or its absence."""

    ga_days: float | None
    basis: str = "dates"  # "LMP", "EDD", "earlier dating scan", "GA entered", ...

    @property
    def known(self) -> bool:
        return self.ga_days is not None

    @property
    def statement(self) -> str:
        """The sentence a report prints about the GA its centiles use."""
        if self.ga_days is None:
            return NEEDS_DATING_GA
        return f"Centiles at GA {format_ga(self.ga_days)} by dates ({self.basis})."

    def to_dict(self) -> dict[str, Any]:
        return {
            "ga_days": None if self.ga_days is None else round(self.ga_days, 1),
            "ga_text": None if self.ga_days is None else format_ga(self.ga_days),
            "basis": self.basis if self.ga_days is not None else None,
            "needs_dating_ga": self.ga_days is None,
            "statement": self.statement,
        }


def centile_ga(ga_days: float | None, basis: str = "dates") -> CentileGA:
    """The GA for centiles: the exam's GA by dates when known, else a "needs a dating GA" outcome.

    ``ga_days`` comes from the LMP, the EDD or an earlier dating scan (``basis`` says which);
    never from the biometry being assessed.
    """
    if ga_days is None:
        return CentileGA(None, basis)
    ga = float(ga_days)
    if not math.isfinite(ga) or ga <= 0:
        raise GrowthError(f"The dating GA must be a positive number of days, got {ga_days!r}.")
    return CentileGA(ga, basis)


@dataclass(frozen=True)
class Centile:
    """One measurement on one growth standard.

    ``centile`` is in percent. ``bound`` is ``"below"`` / ``"above"`` when the value lies
    outside the quantiles a standard publishes (WHO: 1st-99th); ``centile`` is then that
    limit and ``z`` is None.
    """

    standard_key: str
    standard: str  # e.g. "INTERGROWTH-21st Fetal Growth Standards"
    reference: str
    parameter: str  # "HC", "EFW", ...
    value: float  # mm, or g for EFW
    ga_days: float
    z: float | None
    centile: float
    sex: str | None = None  # "F" / "M" when a sex-specific chart was used
    bound: str | None = None
    method: str = ""

    @property
    def unit(self) -> str:
        return UNITS.get(self.parameter, "mm")

    @property
    def centile_text(self) -> str:
        """``P23.4``; ``<P1`` / ``>P99`` beyond a chart's published quantiles; ``<P0.1`` / ``>P99.9``."""
        if self.bound == "below":
            return f"<P{self.centile:g}"
        if self.bound == "above":
            return f">P{self.centile:g}"
        if self.centile < 0.1:
            return "<P0.1"
        if self.centile > 99.9:
            return ">P99.9"
        return f"P{self.centile:.1f}"

    @property
    def z_text(self) -> str:
        return "-" if self.z is None else f"{self.z:+.2f}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "parameter": self.parameter,
            "value": round(self.value, 1),
            "unit": self.unit,
            "standard": self.standard,
            "standard_key": self.standard_key,
            "reference": self.reference,
            "ga_days": round(self.ga_days, 1),
            "ga_text": format_ga(self.ga_days),
            "z": None if self.z is None else round(self.z, 3),
            "centile": round(self.centile, 2),
            "centile_text": self.centile_text,
            "bound": self.bound,
            "sex": self.sex,
            "method": self.method,
        }
