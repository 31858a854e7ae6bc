"""Pregnancy dating: LMP <-> EDD and gestational age (pure functions).

Naegele's rule as used by ultrasound software: EDD = LMP + 280 days, GA at a
date = days since LMP. Hand-computed EDDs (add a year, minus 3 months, plus
7 days) land 0..3 days after LMP + 280, so a user-given LMP and EDD are
accepted as consistent within :data:`CONSISTENCY_TOLERANCE_DAYS`.

The exam store keeps what the user typed (LMP and/or EDD); everything else is
derived here, so nothing is stored twice and nothing can disagree.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from fada_desk.core.errors import DatingError

GESTATION_DAYS = 280
CONSISTENCY_TOLERANCE_DAYS = 3
MAX_GA_DAYS = 44 * 7  # beyond this the date is a typo, not a pregnancy
EARLIEST_DATE = dt.date(1900, 1, 1)


def edd_from_lmp(lmp: dt.date) -> dt.date:
    return lmp + dt.timedelta(days=GESTATION_DAYS)


def lmp_from_edd(edd: dt.date) -> dt.date:
    return edd - dt.timedelta(days=GESTATION_DAYS)


def format_ga(days: float) -> str:
    """GA in days -> ``23w4d``, rounded to the nearest day.

    The one GA formatter of the project. Negative ages are shown as such
    (``-1w2d``), never hidden or wrapped into nonsense like ``-2w5d``.
    """
    d = int(round(days))
    sign = "-" if d < 0 else ""
    w, r = divmod(abs(d), 7)
    return f"{sign}{w}w{r}d"


@dataclass(frozen=True)
class Dating:
    """The dating of a pregnancy as seen on one day.

    ``basis`` says which given date the GA comes from: the LMP when it was
    given, else the EDD.
    """

    lmp: dt.date
    edd: dt.date
    basis: Literal["lmp", "edd"]
    on: dt.date
    ga_days: int

    @property
    def ga_weeks(self) -> int:
        return self.ga_days // 7

    @property
    def ga_label(self) -> str:
        return format_ga(self.ga_days)


def derive_dating(lmp: dt.date | None, edd: dt.date | None, on: dt.date) -> Dating | None:
    """Dating at ``on`` from what was given; None when neither date is known."""
    if lmp is not None:
        eff_lmp, basis = lmp, "lmp"
    elif edd is not None:
        eff_lmp, basis = lmp_from_edd(edd), "edd"
    else:
        return None
    return Dating(lmp=eff_lmp, edd=edd if edd is not None else edd_from_lmp(eff_lmp),
                  basis=basis, on=on, ga_days=(on - eff_lmp).days)  # type: ignore[arg-type]


def validate_dating(lmp: dt.date | None, edd: dt.date | None, on: dt.date) -> Dating | None:
    """:func:`derive_dating`, raising :class:`DatingError` for impossible input."""
    for name, value in (("LMP", lmp), ("EDD", edd)):
        if value is not None and value < EARLIEST_DATE:
            raise DatingError(f"{name} {value.isoformat()} is not a plausible date.")
    if lmp is not None and lmp > on:
        raise DatingError(f"LMP {lmp.isoformat()} is after the exam date {on.isoformat()}.")
    if lmp is not None and edd is not None:
        diff = (edd - edd_from_lmp(lmp)).days
        if not 0 <= diff <= CONSISTENCY_TOLERANCE_DAYS:
            raise DatingError(
                f"LMP {lmp.isoformat()} and EDD {edd.isoformat()} disagree by {abs(diff)} days "
                f"(EDD = LMP + 280 days); enter only one of them."
            )
    dating = derive_dating(lmp, edd, on)
    if dating is not None:
        if dating.ga_days < 0:
            raise DatingError(f"EDD {dating.edd.isoformat()} is more than 280 days after the exam date "
                               f"{on.isoformat()} (it implies an LMP in the future).")
        if dating.ga_days > MAX_GA_DAYS:
            raise DatingError(f"Gestational age at the exam would be {dating.ga_label}: check the "
                               f"{dating.basis.upper()}.")
    return dating
