"""Values going into and out of the exam store: validation, conversion, error text.

Everything here is pure (no connection): timestamps and dates as stored
(ISO text, UTC with a ``Z``), user text checked for length and control
characters, frame metadata made JSON-safe, and the translation of sqlite/OS
failures into one-line :class:`StorageError` messages (:func:`guard`).
"""

from __future__ import annotations

import datetime as dt
import errno
import functools
import json
import math
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from fada_desk.core.errors import StorageError
from fada_desk.storage.models import SEXES

LOADED_KEYS = ("store_item_id", "source_index")  # added to loaded frames' meta, never stored back

T = TypeVar("T")


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "keep the stored value" for optional update arguments


# ----------------------------------------------------------------------------- time and dates

def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def ts_text(value: dt.datetime) -> str:
    """A timestamp as stored: UTC, microseconds, ``Z``."""
    return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def as_date(value: object, what: str) -> dt.date | None:
    """A date from a date, datetime or ISO text; None for empty; StorageError otherwise."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise StorageError(f"{what} must be a date like 2024-05-31, got {value!r}.")


# ----------------------------------------------------------------------------- text

def fold(text: object) -> str:
    """Case-folded text (the SQL function ``fold`` used for searching).

    Searches pass columns as BLOBs (``fold(CAST(col AS BLOB))``): text that is
    not valid UTF-8 (a damaged row) is then folded with replacement characters
    instead of failing the whole query.
    """
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return str(text).casefold()


def like_pattern(term: str) -> str:
    """``%term%`` for ``LIKE ... ESCAPE '\\'``, case-folded, wildcards escaped."""
    escaped = term.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def clean_text(value: object, what: str, max_len: int, multiline: bool = False) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise StorageError(f"{what} must be text, got {type(value).__name__}.")
    text = value.strip() if not multiline else value.strip("\r\n\t ").replace("\r\n", "\n")
    allowed = "\n\t" if multiline else ""
    if any((ord(c) < 32 and c not in allowed) or ord(c) == 127 for c in text):
        raise StorageError(f"{what} contains control characters.")
    if len(text) > max_len:
        raise StorageError(f"{what} is too long ({len(text)} characters, at most {max_len}).")
    return text


def clean_sex(value: object) -> str:
    text = clean_text(value, "Sex", 16).upper()
    text = {"FEMALE": "F", "MALE": "M", "OTHER": "O"}.get(text, text)
    if text not in SEXES:
        raise StorageError(f"Sex must be F, M, O or empty, got {value!r}.")
    return text


# ----------------------------------------------------------------------------- metadata

def jsonable(value: Any, depth: int = 0) -> Any:
    """Best-effort conversion of frame/DICOM metadata to JSON; nothing raises, nothing is dropped silently."""
    if depth > 20:
        return str(value)
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return jsonable(value.item(), depth + 1)
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist(), depth + 1) if value.size <= 4096 else f"<array {value.shape}>"
    if isinstance(value, dict):
        return {str(k): jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v, depth + 1) for v in value]
    if isinstance(value, (dt.date, dt.datetime, dt.time)):
        return value.isoformat()
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def meta_json(*parts: dict[str, Any] | None) -> str:
    """The ``meta`` column: the dicts merged (later wins), JSON-safe, without :data:`LOADED_KEYS`."""
    merged: dict[str, Any] = {}
    for part in parts:
        if part is None:
            continue
        if not isinstance(part, dict):
            raise StorageError(f"Item metadata must be a dict, got {type(part).__name__}.")
        merged.update(jsonable(part))
    for key in LOADED_KEYS:
        merged.pop(key, None)
    return json.dumps(merged, allow_nan=False, ensure_ascii=False, sort_keys=True)


# ----------------------------------------------------------------------------- errors

def describe(exc: BaseException, action: str) -> str:
    """One user-facing line for a low-level failure."""
    if isinstance(exc, UnicodeDecodeError):  # SQLite's error message quoted damaged bytes
        return f"The exam store database is damaged: could not {action} (unreadable text in the database)."
    text = " ".join(str(exc).split())
    low = text.lower()
    err = getattr(exc, "errno", None)
    if err == errno.ENOSPC or "database or disk is full" in low:
        return f"The disk is full: could not {action}. Free some disk space and try again."
    if err in (errno.EACCES, errno.EPERM, errno.EROFS) or "readonly" in low or "read-only" in low:
        return f"Permission denied: could not {action} ({text})."
    if "locked" in low or "busy" in low:
        return f"The exam store is busy (locked by another program): could not {action}. Try again."
    if "not a database" in low or "malformed" in low:
        return f"The exam store database is damaged: could not {action} ({text})."
    return f"Could not {action}: {text}"


def guard(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn sqlite/OS errors escaping a public method into one-line StorageErrors."""

    def deco(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return fn(*args, **kwargs)
            except StorageError:
                raise
            except (sqlite3.Error, OSError, UnicodeDecodeError) as exc:
                raise StorageError(describe(exc, action)) from exc

        return wrapper

    return deco
