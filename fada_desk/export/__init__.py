"""Exporters: JSON (FADA-compatible), PNG with burned-in overlays, PDF report.

Usage (pure, no Qt; drive the generator from a worker thread or the CLI)::

    from fada_desk.export import ExportOptions, export_exam
    job = export_exam(store, exam_id, "pdf", out_dir, ExportOptions(include_pending=False), cancel)
    for progress in job: ...            # Progress(message, fraction, payload=path when a file is done)
    # the generator's return value (StopIteration.value) is the list of written paths

:data:`EXPORTERS` maps a format name to its exporter class, imported lazily
("module:Class" entries) so reportlab is loaded only for PDF. Add a format by
writing an :class:`~fada_desk.export.base.Exporter` subclass and registering it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ExportError
from fada_desk.core.registry import Registry
from fada_desk.export.options import ClinicHeader, ExportOptions

if TYPE_CHECKING:
    from fada_desk.export.base import Exporter, Job
    from fada_desk.export.bundle import ExportBundle

EXPORTERS: Registry[type["Exporter"]] = Registry("exporter")
EXPORTERS.register("json", "fada_desk.export.json_export:JsonExporter")
EXPORTERS.register("png", "fada_desk.export.png_export:PngExporter")
EXPORTERS.register("pdf", "fada_desk.export.pdf_export:PdfExporter")


def get_exporter(fmt: str) -> Exporter:
    try:
        return EXPORTERS.get(fmt)()
    except KeyError:
        raise ExportError(
            f"Unknown export format {fmt!r} (choose from {', '.join(EXPORTERS.names())})."
        ) from None


def export_bundle(
    bundle: ExportBundle,
    fmt: str,
    out_dir: Path | str,
    options: ExportOptions | None = None,
    cancel: CancelToken | None = None,
) -> "Job":
    """Run one exporter on an already gathered bundle (a generator job)."""
    exporter = get_exporter(fmt)
    return (yield from exporter.run(bundle, Path(out_dir), options or ExportOptions(), cancel))


def export_exam(
    store: Any,
    exam_id: int,
    fmt: str,
    out_dir: Path | str,
    options: ExportOptions | None = None,
    cancel: CancelToken | None = None,
    audit: bool = True,
) -> "Job":
    """Gather exam ``exam_id`` from an ExamStore and export it as ``fmt`` into ``out_dir``.

    A successful export is recorded in the audit trail (``exam.export``: format,
    files, whether pending items were included, by the reviewer named on it).
    """
    from fada_desk.export.report_snapshot import report_bundle
    from fada_desk.storage.review import AuditRecord, ReviewStore

    options = options or ExportOptions()
    exporter = get_exporter(fmt)  # unknown format: fail before reading anything
    yield Progress("reading the exam", 0.0)
    bundle = report_bundle(store, exam_id, options)  # a final report: its latest version
    if cancel is not None:
        cancel.check()
    paths = yield from exporter.run(bundle, Path(out_dir), options, cancel)
    if audit:
        ReviewStore(store).append_audit(
            bundle.operator or "unknown operator",
            [
                AuditRecord(
                    "exam.export",
                    f"exam:{bundle.exam.uid}",
                    None,
                    {
                        "format": fmt,
                        "files": [str(p) for p in paths],
                        "include_pending": bundle.include_pending,
                        "audit_head_in_export": bundle.audit_head,
                        "report_version": bundle.version.version if bundle.version else None,
                    },
                )
            ],
            exam_id=exam_id,
        )
    return paths


__all__ = [
    "EXPORTERS",
    "ClinicHeader",
    "ExportOptions",
    "Exporter",
    "export_bundle",
    "export_exam",
    "get_exporter",
]
