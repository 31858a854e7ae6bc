"""The one way the DICOM source reads an attribute: :class:`Attrs`.

pydicom converts an element's bytes on first access, and damaged bytes fail
there in every way (unknown VR, a value length that is not a multiple of the
value size, a UID that is a number, a "sequence" that is not one). Every
attribute the sources read goes through :class:`Attrs`, which checks VR, VM,
type and range and turns any failure into one line naming the attribute::

    OBXXXX1A.dcm: corrupt or unsupported file: Rows (0028,0010) has 2 values, expected 1

``strict=False`` (display hints: window, frame rate, calibration items)
records the same sentence, ending in "ignored", in ``notes`` and returns None.
"""

from __future__ import annotations

import math
import re
from typing import Any

from fada_desk.core.errors import SourceError

_UID_RE = re.compile(r"^[0-9]+(\.[0-9]+)*$")
_INT_VRS = frozenset({"US", "SS", "UL", "SL", "UV", "SV", "IS"})
_FLOAT_VRS = frozenset({"DS", "FL", "FD"})
_TEXT_VRS = frozenset({"CS", "LO", "SH", "ST", "LT", "UT", "UC", "PN", "DA", "TM", "DT", "AS", "AE", "UR"})


class Bad(Exception):
    """Raised inside the accessor; becomes the SourceError (strict) or a note (lenient)."""


def _reason(err: BaseException) -> str:
    lines = [ln.strip() for ln in str(err).splitlines() if ln.strip()]
    return (lines[0] if lines else type(err).__name__)[:160]


def _is_multi(value: Any) -> bool:
    return isinstance(value, list | tuple) or type(value).__name__ == "MultiValue"


def _empty(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip(" \0") == ""
    if isinstance(value, bytes) or _is_multi(value):
        return len(value) == 0
    return False


class Attrs:
    """Validated reads from one data set (or one sequence item: ``where`` names it)."""

    def __init__(self, ds: Any, name: str, notes: list[str] | None = None, where: str = "") -> None:
        self.ds = ds
        self.name = name
        self.notes = notes if notes is not None else []
        self.where = where

    # -- naming and failing -------------------------------------------------------
    @staticmethod
    def _tag(kw: str) -> int:
        from pydicom.datadict import tag_for_keyword

        tag = tag_for_keyword(kw)
        if tag is None:
            raise KeyError(f"not a DICOM keyword: {kw}")
        return int(tag)

    def label(self, kw: str) -> str:
        tag = self._tag(kw)
        return f"{self.where}{kw} ({tag >> 16:04X},{tag & 0xFFFF:04X})"

    def corrupt(self, kw: str, what: str) -> SourceError:
        return SourceError(f"{self.name}: corrupt or unsupported file: {self.label(kw)} {what}")

    def _fail(self, kw: str, err: Bad, strict: bool) -> None:
        if strict:
            raise self.corrupt(kw, str(err)) from None
        note = f"{self.label(kw)} {err}: ignored"
        if note not in self.notes:
            self.notes.append(note)

    # -- elements ---------------------------------------------------------------------
    def has(self, kw: str) -> bool:
        """The attribute is present (nothing is converted)."""
        try:
            return self._tag(kw) in self.ds
        except Exception:  # noqa: BLE001 - a damaged data set may fail even here
            return False

    def _value(self, kw: str, vrs: frozenset[str] | None) -> Any:
        """The converted value, None when absent or empty; Bad on a conversion error or wrong VR."""
        tag = self._tag(kw)
        try:
            if tag not in self.ds:
                return None
            elem = self.ds[tag]
            value = elem.value
        except Exception as err:  # noqa: BLE001 - pydicom's conversion can raise anything on damaged bytes
            raise Bad(f"cannot be read ({_reason(err)})") from None
        vr = str(getattr(elem, "VR", "") or "")
        if vrs is not None and vr not in vrs:
            raise Bad(f"has VR {vr or '?'}, expected {' or '.join(sorted(vrs))}")
        return None if _empty(value) else value

    def _get(self, kw: str, strict: bool, fn: Any) -> Any:
        try:
            return fn()
        except Bad as err:
            self._fail(kw, err, strict)
            return None

    # -- typed reads --------------------------------------------------------------------
    def integer(
        self, kw: str, *, strict: bool = True, lo: int | None = None, hi: int | None = None
    ) -> int | None:
        """One integer (US/SS/UL/SL/IS), None when absent; range-checked."""

        def read() -> int | None:
            value = self._value(kw, _INT_VRS)
            return None if value is None else self._int(kw, value, lo, hi)

        return self._get(kw, strict, read)

    def integers(self, kw: str, *, count: int | None = None, strict: bool = True) -> list[int] | None:
        """All values as integers; ``count`` values exactly when given."""

        def read() -> list[int] | None:
            value = self._value(kw, _INT_VRS | {"OW", "OB", "AT"})
            if value is None:
                return None
            if isinstance(value, bytes):
                raise Bad("holds bytes, expected numbers")
            values = list(value) if _is_multi(value) else [value]
            if count is not None and len(values) != count:
                raise Bad(f"has {len(values)} values, expected {count}")
            return [self._int(kw, v, None, None) for v in values]

        return self._get(kw, strict, read)

    def number(self, kw: str, *, strict: bool = True, index: int | None = None) -> float | None:
        """One finite number (DS/FL/FD/IS/US...); ``index`` picks one of several values."""

        def read() -> float | None:
            value = self._value(kw, _FLOAT_VRS | _INT_VRS)
            if value is None:
                return None
            if _is_multi(value):
                if index is None and len(value) != 1:
                    raise Bad(f"has {len(value)} values, expected 1")
                value = value[index or 0]
            return self._float(value)

        return self._get(kw, strict, read)

    def numbers(self, kw: str, *, count: int | None = None, strict: bool = True) -> list[float] | None:
        def read() -> list[float] | None:
            value = self._value(kw, _FLOAT_VRS | _INT_VRS)
            if value is None:
                return None
            values = list(value) if _is_multi(value) else [value]
            if count is not None and len(values) != count:
                raise Bad(f"has {len(values)} values, expected {count}")
            return [self._float(v) for v in values]

        return self._get(kw, strict, read)

    def text(self, kw: str, *, strict: bool = True, upper: bool = False) -> str | None:
        """One text value (CS, LO, ...), stripped; None when absent or empty."""

        def read() -> str | None:
            value = self._value(kw, _TEXT_VRS)
            if value is None:
                return None
            if _is_multi(value):
                if len(value) != 1:
                    raise Bad(f"has {len(value)} values, expected 1")
                value = value[0]
            if not isinstance(value, str):
                raise Bad(f"is a {type(value).__name__}, expected text")
            text = value.strip()
            return (text.upper() if upper else text) or None

        return self._get(kw, strict, read)

    def uid(self, kw: str, *, strict: bool = True) -> str | None:
        """A UID: one string of digits and dots, at most 64 characters."""

        def read() -> str | None:
            value = self._value(kw, frozenset({"UI"}))
            if value is None:
                return None
            if _is_multi(value):
                raise Bad(f"has {len(value)} values, expected 1")
            if not isinstance(value, str):
                raise Bad(f"is a {type(value).__name__}, expected a UID")
            text = value.strip().rstrip("\0").strip()
            if len(text) > 64 or not _UID_RE.match(text):
                raise Bad(f"is not a valid UID ({text[:40]!r})")
            return text

        return self._get(kw, strict, read)

    def tags(self, kw: str, *, strict: bool = True) -> list[int] | None:
        """Attribute tags (AT), e.g. the Frame Increment Pointer."""

        def read() -> list[int] | None:
            value = self._value(kw, frozenset({"AT"}))
            if value is None:
                return None
            values = list(value) if _is_multi(value) else [value]
            return [self._int(kw, v, 0, 0xFFFFFFFF) for v in values]

        return self._get(kw, strict, read)

    def raw(self, kw: str, *, strict: bool = True) -> bytes | list[int] | None:
        """Binary data (OB/OW, or US/SS values, e.g. LUT Data) as bytes or a list of ints."""

        def read() -> bytes | list[int] | None:
            value = self._value(kw, frozenset({"OB", "OW", "OV", "OL", "US", "SS"}))
            if value is None or isinstance(value, bytes):
                return value
            values = list(value) if _is_multi(value) else [value]
            return [self._int(kw, v, None, None) for v in values]

        return self._get(kw, strict, read)

    def items(self, kw: str, *, strict: bool = True) -> list[Attrs]:
        """The items of a sequence, each as :class:`Attrs` (empty list when absent)."""
        from pydicom.dataset import Dataset
        from pydicom.sequence import Sequence

        def read() -> list[Attrs]:
            value = self._value(kw, frozenset({"SQ"}))
            if value is None:
                return []
            if not isinstance(value, Sequence):
                raise Bad(f"is a {type(value).__name__}, expected a sequence")
            out = []
            for n, item in enumerate(value, start=1):
                if not isinstance(item, Dataset):
                    raise Bad(f"item {n} is not a data set")
                out.append(Attrs(item, self.name, self.notes, f"{self.where}{kw}[{n}] > "))
            return out

        got = self._get(kw, strict, read)
        return got if got is not None else []

    def plain(self, kw: str) -> Any:
        """Any value as JSON-friendly Python for metadata (None when absent or unreadable)."""
        try:
            value = self._value(kw, None)
        except Bad:
            return None
        return plain_value(value)

    # -- conversions --------------------------------------------------------------------
    @staticmethod
    def _int(kw: str, value: Any, lo: int | None, hi: int | None) -> int:
        if _is_multi(value):
            if len(value) != 1:
                raise Bad(f"has {len(value)} values, expected 1")
            value = value[0]
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Bad(f"is a {type(value).__name__}, expected an integer")
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):
            raise Bad(f"is {str(value)[:40]!r}, expected an integer") from None
        if not math.isfinite(f) or f != int(f):
            raise Bad(f"is {str(value)[:40]!r}, expected an integer")
        n = int(f)
        if (lo is not None and n < lo) or (hi is not None and n > hi):
            bounds = f"{lo if lo is not None else ''}..{hi if hi is not None else ''}"
            raise Bad(f"is {n}, expected {bounds}")
        return n

    @staticmethod
    def _float(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise Bad(f"is a {type(value).__name__}, expected a number")
        try:
            f = float(value)
        except (TypeError, ValueError, OverflowError):
            raise Bad(f"is {str(value)[:40]!r}, expected a number") from None
        if not math.isfinite(f):
            raise Bad(f"is {f}, expected a finite number")
        return f


def plain_value(value: Any) -> Any:
    """A pydicom element value as JSON-friendly Python."""
    from pydicom.multival import MultiValue
    from pydicom.uid import UID
    from pydicom.valuerep import IS, DSfloat, PersonName

    if value is None:
        return None
    if isinstance(value, UID | PersonName):
        return str(value)
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, DSfloat):
        f = float(value)
        return f if math.isfinite(f) else None
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value if not (isinstance(value, float) and not math.isfinite(value)) else None
    if isinstance(value, MultiValue | list | tuple):
        return [plain_value(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if type(value).__name__ == "Sequence":
        return f"<sequence of {len(value)} items>"
    return str(value)
