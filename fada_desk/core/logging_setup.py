"""The application log: a rotating file under ``<user data dir>/logs/`` that holds no patient data.

:class:`PhiRedactor` is a :class:`logging.Filter` on the log's handler: before
a record is written it replaces

* every name and ID of a patient the session has seen (:meth:`~PhiRedactor.note_patient`:
  the GUI calls it for the open exam and for each DICOM header) - the whole
  value and, for a name, each of its parts (``DOE^JANE`` also hides ``Jane
  Doe`` and a ``/scans/doe_jane/`` path), case-insensitively;
* any DICOM person name (``FAMILY^GIVEN^...``, the PN form) whoever it belongs
  to (referring physician, operator);

with ``<redacted>``, in the message, its arguments, the formatted traceback
and the stack. :data:`REDACTOR` is the one instance the log and the error
dialog share (the dialog's "Copy details" text goes into support e-mails).
Pure Python: no Qt; safe from any thread.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import threading
from pathlib import Path

LOG_NAME = "fada_desk.log"
MAX_BYTES = 1 << 20
BACKUPS = 5
REDACTED = "<redacted>"
FORMAT = "%(asctime)s %(levelname)s %(name)s [%(threadName)s] %(message)s"

# A DICOM person name: two or more caret-separated components (the caret never occurs in prose).
_PN = re.compile(r"[^\s\^\\=\"'<>/,;:()\[\]{}]+(?:\^[^\s\^\\=\"'<>/,;:()\[\]{}]*)+")
_MIN_PART = 2  # name parts shorter than this ("A", initials) are not hidden on their own
_MAX_VALUES = 500


class PhiRedactor(logging.Filter):
    """Hides patient names / IDs and DICOM person names in log records (see the module doc)."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._values: dict[str, None] = {}  # insertion-ordered set, oldest dropped past _MAX_VALUES
        self._pattern: re.Pattern[str] | None = None

    def note_patient(self, name: object = "", patient_id: object = "", *more: object) -> None:
        """Remember PHI values to hide from now on (names also by part)."""
        values: list[str] = []
        for raw in (name, patient_id, *more):
            text = str(raw or "").strip()
            if not text:
                continue
            values.append(text)
            parts = [p for p in re.split(r"[\^=\s,]+", text) if len(p) >= _MIN_PART]
            values += parts
            if len(parts) > 1:
                values += [" ".join(parts), " ".join(reversed(parts))]
        if not values:
            return
        with self._lock:
            for v in values:
                self._values.pop(v, None)
                self._values[v] = None
            while len(self._values) > _MAX_VALUES:
                self._values.pop(next(iter(self._values)))
            ordered = sorted(self._values, key=len, reverse=True)  # longest first: "JANE DOE" before "JANE"
            self._pattern = re.compile("|".join(_boundary(v) for v in ordered), re.IGNORECASE)

    def note_exam(self, exam: object) -> None:
        """The exam now open (a storage ``Exam`` or None): its patient's name and ID."""
        patient = getattr(exam, "patient", None)
        if patient is not None:
            self.note_patient(getattr(patient, "name", ""), getattr(patient, "patient_id", ""))

    def note_metadata(self, meta: object) -> None:
        """A source's metadata (a DICOM header summary): its patient name and ID."""
        if isinstance(meta, dict):
            self.note_patient(meta.get("PatientName", ""), meta.get("PatientID", ""))

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
            self._pattern = None

    def redact(self, text: str) -> str:
        if not text:
            return text
        pattern = self._pattern
        if pattern is not None:
            text = pattern.sub(REDACTED, text)
        return _PN.sub(REDACTED, text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string: log what there is
            message = f"{record.msg!r} % {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def _boundary(value: str) -> str:
    """``value`` as a regex that does not match inside a longer word (``ANN`` in ``ANNOTATION``)."""
    return r"(?<![0-9A-Za-z])" + re.escape(value) + r"(?![0-9A-Za-z])"


REDACTOR = PhiRedactor()


def log_dir() -> Path:
    from fada_desk.core.paths import user_data_dir

    return user_data_dir() / "logs"


class _AppLogHandler(logging.handlers.RotatingFileHandler):
    """The handler :func:`setup_logging` installs (recognised so a second call replaces it)."""

    root_level_before = logging.WARNING


def setup_logging(directory: Path | None = None, level: int = logging.INFO,
                  redactor: PhiRedactor = REDACTOR) -> Path:
    """Log to ``directory/fada_desk.log`` (default ``<user data dir>/logs``), rotated at 1 MB x 5.

    Replaces the handler of an earlier call (the folder may have changed);
    returns the log file's path.
    """
    folder = Path(directory) if directory is not None else log_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOG_NAME
    root = logging.getLogger()
    shutdown_logging()
    handler = _AppLogHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(logging.Formatter(FORMAT))
    handler.addFilter(redactor)
    handler.setLevel(level)
    handler.root_level_before = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    return path


def shutdown_logging() -> None:
    """Remove (and close) the handler :func:`setup_logging` installed, if any."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if isinstance(h, _AppLogHandler):
            root.removeHandler(h)
            h.close()
            root.setLevel(h.root_level_before)


def current_log_file() -> Path | None:
    for h in logging.getLogger().handlers:
        if isinstance(h, _AppLogHandler):
            return Path(h.baseFilename)
    return None

