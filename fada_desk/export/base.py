"""Exporter interface, options and file helpers shared by the JSON/PNG/PDF exporters.

An exporter is a class with ``name``, ``suffix`` and :meth:`Exporter.run`, a
generator job: it yields :class:`~fada_desk.core.cancel.Progress`, checks the
:class:`~fada_desk.core.cancel.CancelToken` between steps and *returns* the list
of files written. Exporters never open dialogs and never print; the caller
(CLI, Qt worker) drives the generator. Files are written to a temporary name
and renamed, so a cancelled or failed export never leaves half a file.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ExportError

if TYPE_CHECKING:
    from fada_desk.export.bundle import ExportBundle

PENDING_MARK = "pending review"
AI_NOTE = "AI-assisted, reviewed by {operator}"


@dataclass(frozen=True)
class ClinicHeader:
    """Clinic identity printed on reports (settings ``[clinic]`` name/address/phone/email)."""

    name: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""

    @property
    def lines(self) -> list[str]:
        contact = "  ".join(p for p in (self.phone, self.email) if p)
        return [p for p in (self.name, *self.address.splitlines(), contact) if p.strip()]

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "phone": self.phone, "email": self.email}


@dataclass(frozen=True)
class ExportOptions:
    """What to export.

    ``include_pending``: AI items not yet reviewed are left out unless asked;
    then they are marked "pending review" everywhere. ``operator`` overrides
    who is named as reviewer (default: the exam's last sign-off, else the
    exam operator). ``clinic`` None = read from the settings file.
    """

    include_pending: bool = False
    operator: str = ""
    clinic: ClinicHeader | None = None
    extra: dict[str, Any] = field(default_factory=dict)


Job = Generator[Progress, None, list[Path]]


class Exporter:
    """Base class: subclasses set ``name``/``suffix``/``description`` and implement :meth:`run`."""

    name: str = ""
    suffix: str = ""
    description: str = ""

    def run(
        self, bundle: ExportBundle, out_dir: Path, options: ExportOptions, cancel: CancelToken | None = None
    ) -> Job:
        raise NotImplementedError


def safe_name(text: str, fallback: str = "export") -> str:
    """A file-name-safe version of ``text`` (letters, digits, ``-_.``), never empty."""
    s = re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._")
    return s[:80] or fallback


def prepare_dir(out_dir: Path) -> Path:
    out = Path(out_dir).expanduser()
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(f"Cannot create the export folder {out}: {exc.strerror or exc}.") from exc
    if not os.access(out, os.W_OK):
        raise ExportError(f"The export folder {out} is not writable.")
    return out


def write_atomic(path: Path, write: Callable[[Path], None]) -> Path:
    """Call ``write(tmp_path)`` then rename onto ``path``; clean up on any failure."""
    tmp = path.with_name(f".{path.name}.part")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        try:
            tmp.unlink()
        except OSError:
            pass
        if isinstance(exc, OSError):
            raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc
        raise
    return path


def check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.check()
