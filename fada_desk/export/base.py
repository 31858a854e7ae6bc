"""Exporter interface and file helpers shared by the JSON/PNG/PDF exporters.

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
from pathlib import Path

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ExportError
from fada_desk.core.fileio import atomic_write_via_path
from fada_desk.export.bundle import ExportBundle
from fada_desk.export.options import ExportOptions

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
    try:
        return atomic_write_via_path(path, write)
    except OSError as exc:
        raise ExportError(f"Could not write {path}: {exc.strerror or exc}.") from exc


def check(cancel: CancelToken | None) -> None:
    if cancel is not None:
        cancel.check()
