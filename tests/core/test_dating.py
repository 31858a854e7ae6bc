"""Pregnancy dating helpers (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from fada_desk.core.errors import DatingError, StorageError
from fada_desk.core.dating import (
    CONSISTENCY_TOLERANCE_DAYS,
    derive_dating,
    edd_from_lmp,
    format_ga,
    lmp_from_edd,
    validate_dating,
)

D = dt.date


def test_edd_is_lmp_plus_280_days() -> None:
    assert edd_from_lmp(D(2024, 1, 1)) == D(2024, 10, 7)  # 2024 is a leap year
    assert edd_from_lmp(D(2023, 1, 1)) == D(2023, 10, 8)
    assert lmp_from_edd(D(2023, 10, 8)) == D(2023, 1, 1)


@pytest.mark.parametrize(("days", "label"),
                         [(0, "0w0d"), (6, "0w6d"), (7, "1w0d"), (163, "23w2d"), (-3, "-0w3d"), (-10, "-1w3d"),
                          (2.6, "0w3d"), (2.4, "0w2d"), (-0.4, "0w0d")])
def test_format_ga(days: float, label: str) -> None:
    assert format_ga(days) == label


def test_derive_from_lmp() -> None:
    d = derive_dating(D(2024, 1, 10), None, D(2024, 6, 1))
    assert d is not None
    assert (d.basis, d.lmp, d.edd, d.ga_days, d.ga_weeks, d.ga_label) == (
        "lmp", D(2024, 1, 10), D(2024, 10, 16), 143, 20, "20w3d")


def test_derive_from_edd() -> None:
    d = derive_dating(None, D(2024, 10, 16), D(2024, 6, 1))
    assert d is not None
    assert (d.basis, d.lmp, d.edd, d.ga_days) == ("edd", D(2024, 1, 10), D(2024, 10, 16), 143)


def test_derive_none() -> None:
    assert derive_dating(None, None, D(2024, 6, 1)) is None
    assert validate_dating(None, None, D(2024, 6, 1)) is None


def test_both_given_keeps_both_and_dates_by_lmp() -> None:
    # Naegele by hand: 1 Mar + 1 y - 3 m + 7 d = 8 Dec = LMP + 282 days
    d = validate_dating(D(2023, 3, 1), D(2023, 12, 8), D(2023, 6, 1))
    assert d is not None and d.basis == "lmp" and d.edd == D(2023, 12, 8) and d.lmp == D(2023, 3, 1)


def test_naegele_hand_rule_is_always_within_tolerance() -> None:
    """Every EDD computed with the month rule is accepted with its LMP."""
    start = D(2020, 1, 1)
    for offset in range(366 * 4):
        lmp = start + dt.timedelta(days=offset)
        y, m = (lmp.year + 1, lmp.month - 3) if lmp.month > 3 else (lmp.year, lmp.month + 9)
        day = min(lmp.day, [31, 29 if y % 4 == 0 else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][m - 1])
        edd = D(y, m, day) + dt.timedelta(days=7)
        assert 0 <= (edd - edd_from_lmp(lmp)).days <= CONSISTENCY_TOLERANCE_DAYS
        validate_dating(lmp, edd, edd)


@pytest.mark.parametrize(("lmp", "edd", "on", "msg"), [
    (D(2024, 6, 2), None, D(2024, 6, 1), "after the exam date"),
    (None, D(2025, 3, 9), D(2024, 6, 1), "implies an LMP in the future"),
    (D(2024, 1, 10), D(2024, 11, 1), D(2024, 6, 1), "disagree by 16 days"),
    (D(2024, 1, 10), D(2024, 10, 15), D(2024, 6, 1), "disagree by 1 days"),
    (D(2023, 1, 1), None, D(2024, 6, 1), "check the LMP"),
    (None, D(2024, 1, 1), D(2024, 6, 1), "check the EDD"),
    (D(1899, 12, 31), None, D(2024, 6, 1), "not a plausible date"),
])
def test_invalid_dating(lmp: D | None, edd: D | None, on: D, msg: str) -> None:
    with pytest.raises(DatingError, match=msg):
        validate_dating(lmp, edd, on)


def test_lmp_on_exam_day_is_ga_zero() -> None:
    d = validate_dating(D(2024, 6, 1), None, D(2024, 6, 1))
    assert d is not None and d.ga_days == 0


def test_dating_error_is_a_storage_error() -> None:
    """The exam store and its dialogs catch StorageError for bad dating."""
    assert issubclass(DatingError, StorageError)
