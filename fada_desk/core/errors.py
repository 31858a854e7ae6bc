"""Error hierarchy. Every error carries a one-line, user-facing message.

The GUI shows ``str(err)`` in a message box / status bar, the CLI prints it on
one line and exits non-zero. Never raise bare exceptions across a package
boundary for *expected* failures (bad input, missing device, corrupt file).
"""

from __future__ import annotations


class FadaError(Exception):
    """Base class for all expected, user-explainable failures."""


class SourceError(FadaError):
    """A frame source could not be opened or read (corrupt file, device gone...)."""


class UnsupportedFormatError(SourceError):
    """The input exists but its format / transfer syntax is not supported."""


class DeviceLostError(SourceError):
    """A live capture device disappeared while streaming."""


class CalibrationError(FadaError):
    """A measurement cannot be made: frame uncalibrated, points span regions, ..."""


class StorageError(FadaError):
    """The exam store could not complete an operation."""


class DatingError(StorageError):
    """LMP / EDD / exam date are impossible or inconsistent.

    A :class:`StorageError` because the store refuses to save such dating; the
    check itself is pure (``fada_desk.core.dating``).
    """


class ModelError(FadaError):
    """A model file is missing, truncated, mismatched or cannot be loaded."""


class ExportError(FadaError):
    """An export could not be written."""


class Cancelled(FadaError):
    """A long-running job was cancelled by the user."""


def first_line(err: BaseException, limit: int | None = None) -> str:
    """The first line of an exception's message (its type name when it has none)."""
    text = str(err).strip()
    line = text.splitlines()[0] if text else type(err).__name__
    return line[:limit] if limit is not None else line


def error_text(err: BaseException) -> str:
    """One line for the user: a FadaError's own message, else the type and first line."""
    if isinstance(err, FadaError):
        return str(err)
    text = str(err).strip()
    line = text.splitlines()[0] if text else ""
    return f"Unexpected error: {type(err).__name__}" + (f": {line}" if line else "")
