"""Stored values read back with suspicion: every column checked for type, range and format.

The store validates what it writes, but a database file can still be damaged
(flipped bits on a disk, a bad copy, another program editing it). Reading must
then neither crash nor invent data: :class:`RowCheck` reads one row's columns,
each checked, and collects a reason per bad value (a safe placeholder is
returned in its place). Callers decide what damage means: an exam or patient
row is still shown, marked damaged; an item row with any bad value is skipped
(:class:`DamagedRecord`).

Text that is not valid UTF-8 comes back from the connection as
:class:`BadText` (see :func:`decode_text`, the connections' ``text_factory``),
so one bad byte damages one value, not the whole query.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import sqlite3
from collections.abc import Callable
from enum import Enum
from typing import Any, TypeVar

from fada_desk.core.calibration import Calibration, ManualCalibration, Region
from fada_desk.core.dating import EARLIEST_DATE
from fada_desk.core.errors import CalibrationError, StorageError

LATEST_DATE = dt.date(9000, 1, 1)  # beyond this date arithmetic (EDD = LMP + 280 d) may overflow
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)  # placeholder for an unreadable timestamp
MAX_JSON_DEPTH = 64
_SHA256 = re.compile(r"[0-9a-f]{64}")
E = TypeVar("E", bound=Enum)


class BadText(str):
    """Stored text that was not valid UTF-8 (shown with replacement characters)."""


def decode_text(data: bytes) -> str:
    """The connections' ``text_factory``: UTF-8, or :class:`BadText` instead of an exception."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return BadText(data.decode("utf-8", "replace"))


class DamagedRecord(StorageError):
    """A stored record cannot be used: one of its values is damaged."""


class BadValue(ValueError):
    """One stored value is unusable; the message says why."""


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadValue(f"non-finite number {text}")
    return value


def _no_constant(name: str) -> Any:
    raise BadValue(f"non-finite number {name}")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def _depth_ok(value: Any) -> bool:
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > MAX_JSON_DEPTH:
            return False
        if isinstance(v, dict):
            stack.extend((x, d + 1) for x in v.values())
        elif isinstance(v, list):
            stack.extend((x, d + 1) for x in v)
    return True


def strict_json(text: object) -> Any:
    """JSON as the store writes it (finite numbers, bounded depth); :class:`BadValue` otherwise."""
    if isinstance(text, BadText):
        raise BadValue("not valid UTF-8")
    if not isinstance(text, str):
        raise BadValue(f"not text but {type(text).__name__}")
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise BadValue("JSON nested too deeply") from None
    except BadValue:
        raise
    except ValueError as exc:  # JSONDecodeError, and integers beyond the int/str conversion limit
        raise BadValue(f"not valid JSON ({str(exc)[:80]})") from None
    if text.count("[") + text.count("{") > MAX_JSON_DEPTH and not _depth_ok(value):
        raise BadValue(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
    return value


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _int(v: Any, lo: int, hi: int) -> int:
    if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
        raise BadValue(f"{_show(v)} is not a whole number from {lo} to {hi}")
    return v


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise BadValue(f"{_show(v)} is not a finite number")
    return float(v)


def _point(v: Any) -> tuple[float, float]:
    if not isinstance(v, list) or len(v) != 2:
        raise BadValue(f"{_show(v)} is not a point [x, y]")
    return (_num(v[0]), _num(v[1]))


_COORD = 1 << 20  # larger than any frame the store accepts


def calibration_value(d: Any) -> Calibration | None:
    """A :class:`Calibration` from its stored dict, every field checked; :class:`BadValue` otherwise."""
    if d is None:
        return None
    if not isinstance(d, dict):
        raise BadValue(f"calibration is {type(d).__name__}, not an object")
    if not d:
        return None
    regions = d.get("regions", [])
    if not isinstance(regions, list):
        raise BadValue("calibration regions are not a list")
    out = []
    for r in regions:
        if not isinstance(r, dict):
            raise BadValue("a calibration region is not an object")
        try:
            box = {k: _int(r[k], -_COORD, _COORD) for k in ("x0", "y0", "x1", "y1")}
            deltas = {k: _num(r[k]) for k in ("delta_x", "delta_y")}
        except KeyError as exc:
            raise BadValue(f"a calibration region has no {exc.args[0]}") from None
        codes = {k: _int(r.get(k, default), 0, 0xFFFF)
                 for k, default in (("units_x", 3), ("units_y", 3), ("spatial_format", 1), ("data_type", 1))}
        out.append(Region(**box, **deltas, **codes))
    manual = d.get("manual")
    man = None
    if manual:
        if not isinstance(manual, dict) or not {"p1", "p2", "distance_mm"} <= manual.keys():
            raise BadValue("manual calibration is not {p1, p2, distance_mm}")
        try:
            man = ManualCalibration(_point(manual["p1"]), _point(manual["p2"]), _num(manual["distance_mm"]))
        except CalibrationError as exc:
            raise BadValue(f"manual calibration: {exc}") from None
    source = d.get("source", "")
    if not isinstance(source, str):
        raise BadValue("calibration source is not text")
    return Calibration(tuple(out), man, source)


def calibration_json(text: object) -> Calibration | None:
    """The ``calibration`` column (JSON or NULL) as a checked :class:`Calibration`."""
    if text is None or text == "":
        return None
    return calibration_value(strict_json(text))


class RowCheck:
    """Checked reads of one row's columns; ``problems`` collects what was wrong.

    Each reader returns the value, or ``default`` after noting the problem
    (``"<what> <column>: <why>"``).
    """

    def __init__(self, row: sqlite3.Row, what: str, prefix: str = "") -> None:
        self.row, self.what, self.prefix = row, what, prefix
        self.problems: list[str] = []

    def bad(self, col: str, why: str) -> None:
        self.problems.append(f"{self.what} {col}: {why}")

    def _get(self, col: str) -> Any:
        return self.row[self.prefix + col]

    def _checked(self, col: str, default: Any, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(self._get(col))
        except BadValue as exc:
            self.bad(col, str(exc))
            return default

    def text(self, col: str, default: str = "", nullable: bool = False) -> Any:
        v = self._get(col)
        if v is None and nullable:
            return None
        if isinstance(v, BadText):
            self.bad(col, "not valid UTF-8 text")
            return str(v)
        if isinstance(v, str):
            return v
        self.bad(col, f"{type(v).__name__} instead of text")
        return default

    def integer(self, col: str, lo: int, hi: int, default: int | None = 0, nullable: bool = False) -> Any:
        v = self._get(col)
        if v is None and nullable:
            return None
        return self._checked(col, default, lambda x: _int(x, lo, hi))

    def real(self, col: str, lo: float, hi: float) -> float | None:
        """A nullable finite number in [lo, hi]."""
        def parse(v: Any) -> float | None:
            if v is None:
                return None
            x = _num(v)
            if not lo <= x <= hi:
                raise BadValue(f"{x!r} is outside {lo:g}..{hi:g}")
            return x

        return self._checked(col, None, parse)

    def date(self, col: str, default: dt.date | None = None, nullable: bool = True) -> dt.date | None:
        def parse(v: Any) -> dt.date | None:
            if v is None or v == "":
                if nullable:
                    return None
                raise BadValue("missing")
            if not isinstance(v, str) or isinstance(v, BadText) or len(v) != 10:
                raise BadValue(f"{_show(v)} is not a date like 2024-05-31")
            try:
                d = dt.date.fromisoformat(v)
            except ValueError:
                raise BadValue(f"{_show(v)} is not a date like 2024-05-31") from None
            if not EARLIEST_DATE <= d <= LATEST_DATE:
                raise BadValue(f"{v} is not a plausible date")
            return d

        return self._checked(col, default, parse)  # type: ignore[no-any-return]

    def timestamp(self, col: str, nullable: bool = False) -> dt.datetime | None:
        def parse(v: Any) -> dt.datetime | None:
            if v is None and nullable:
                return None
            if not isinstance(v, str) or isinstance(v, BadText) or not 19 <= len(v) <= 40:
                raise BadValue(f"{_show(v)} is not a UTC timestamp")
            try:
                t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            except ValueError:
                raise BadValue(f"{_show(v)} is not a UTC timestamp") from None
            if t.tzinfo is None or not EARLIEST_DATE.year <= t.year < LATEST_DATE.year:
                raise BadValue(f"{_show(v)} is not a plausible UTC timestamp")
            return t.astimezone(dt.timezone.utc)

        return self._checked(col, None if nullable else EPOCH, parse)  # type: ignore[no-any-return]

    def choice(self, col: str, enum: type[E], default: E) -> E:
        v = self._get(col)
        try:
            return enum(v)
        except (ValueError, TypeError):
            self.bad(col, f"{_show(v)} is not one of {', '.join(str(e.value) for e in enum)}")
            return default

    def json_object(self, col: str) -> dict[str, Any]:
        def parse(v: Any) -> dict[str, Any]:
            value = strict_json(v)
            if not isinstance(value, dict):
                raise BadValue(f"JSON {type(value).__name__}, not an object")
            return value

        return self._checked(col, {}, parse)  # type: ignore[no-any-return]

    def calibration(self, col: str) -> Calibration | None:
        return self._checked(col, None, calibration_json)  # type: ignore[no-any-return]

    def sha256(self, col: str) -> str:
        v = self.text(col)
        if not _SHA256.fullmatch(v):
            self.bad(col, "not a SHA-256 hex digest")
        return v  # type: ignore[no-any-return]

    def media_path(self, col: str) -> str:
        """``<exam uid>/<file name>``: two plain names, nothing that could leave the media folder."""
        v = self.text(col)
        parts = v.split("/")
        if (len(parts) != 2 or any(not p or p in (".", "..") or p.startswith(".") for p in parts)
                or any(c in v for c in "\\\0:")):
            self.bad(col, f"{_show(v)} is not a media file name")
        return v  # type: ignore[no-any-return]


def checked_uid(value: Any) -> bool:
    """A DICOM UID as the store makes them (digits and dots, at most 64 characters)."""
    return (isinstance(value, str) and not isinstance(value, BadText) and 0 < len(value) <= 64
            and re.fullmatch(r"[0-9]+(\.[0-9]+)*", value) is not None)
