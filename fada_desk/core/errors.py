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


class ModelError(FadaError):
    """A model file is missing, truncated, mismatched or cannot be loaded."""


class ExportError(FadaError):
    """An export could not be written."""


class Cancelled(FadaError):
    """A long-running job was cancelled by the user."""
