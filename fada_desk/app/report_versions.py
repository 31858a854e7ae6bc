"""Sign-off and amendment of an exam's report: the service ``fada-desk report`` and the GUI share.

* :func:`finalize` records the next version of the report (refused while AI proposals are
  still pending, counted as every export counts them, or while the exam is damaged in the
  store): signer, time, the content snapshot and its SHA-256 in one ``exam.sign_off`` audit
  entry. The report is then locked: the review store refuses edits of the exam's review,
  the review session says :data:`~fada_desk.core.report_record.LOCKED_MESSAGE`.
* :func:`amend` reopens a final report with a reason (``report.amend``); the next
  :func:`finalize` records version N+1, status *amended*, with that reason.
* :func:`report_status` says where the report stands, and whether the exam changed since its
  final version (a calibration or a capture made outside the review, a patient edited on
  another exam): the report of record stays the signed version until it is amended.
* :func:`export_version` writes any version again, byte for byte as before.
* :class:`GuardedStack` is the review session's undo stack: each change of the document
  first asks the lock (push, undo, redo, macros), so a refused edit never happens at all.

Reading and appending happen in one write transaction (``ReviewStore.append_under_lock``),
so an edit can never slip in between the content that was hashed and its signature.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fada_desk.core.audit import AuditEntry
from fada_desk.core.cancel import CancelToken, Job, Progress
from fada_desk.core.commands import Command, UndoStack
from fada_desk.core.report_record import AMEND, FINALIZE, Amendment, ReportState, content_hash, report_block
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_tally import ReviewTally
from fada_desk.core.review_types import ReviewStatus
from fada_desk.export import export_bundle, get_exporter
from fada_desk.export.bundle import ExportBundle, build_bundle
from fada_desk.export.options import ClinicHeader, ExportOptions
from fada_desk.export.report_snapshot import content_of, snapshot, version_bundle
from fada_desk.export.settings import load_clinic_header
from fada_desk.storage.review import AuditRecord, ReviewError, ReviewStore, require_operator

#: The formats a version can be exported in (the report itself and its data).
VERSION_FORMATS: tuple[str, ...] = ("pdf", "json")


def finalize_refusal(tally: ReviewTally, damage: Sequence[str] = ()) -> str:
    """Why the report cannot be finalized now ("" when it can)."""
    if tally.pending:
        what = "AI proposal is" if tally.pending == 1 else "AI proposals are"
        return (f"{tally.pending} {what} still pending review ({tally.counts_text()}); accept or reject "
                f"{'it' if tally.pending == 1 else 'them'} before finalizing the report.")
    if damage:
        return (f"The exam is damaged in the exam store ({damage[0]}); a damaged exam cannot be finalized "
                "(restore it from a backup first).")
    return ""


def _summary(bundle: ExportBundle, doc: Any, statement: str) -> dict[str, Any]:
    """What the sign-off entry says at a glance (its ``snapshot`` holds the whole content)."""
    return {
        "operator": bundle.operator,
        "statement": statement,
        "annotations": {s.value: sum(1 for a in doc if a.status is s) for s in ReviewStatus},
        "pending_interpretation_values": bundle.review_interpretation.pending,
        "ai_proposals": bundle.review.to_dict(),
        "measurements": [m.to_dict() for m in bundle.measurements],
        "measurement_problems": list(bundle.measurement_problems),
        "biometry": bundle.biometry.to_dict() if bundle.biometry else None,
    }


def finalize(store: Any, exam_id: int, operator: str, statement: str = "",
             clinic: ClinicHeader | None = None) -> AuditEntry:
    """Sign the exam's report as its next version and lock it; returns the audit entry.

    ``clinic`` None: the header from the settings file (kept with the version). Raises
    :class:`~fada_desk.storage.review.ReviewError` with a one-line reason when refused.
    """
    operator = require_operator(operator)
    statement = (statement or "").strip()
    header = clinic if clinic is not None else load_clinic_header()
    reviews = ReviewStore(store)

    def make(state: ReportState) -> list[AuditRecord]:
        latest = state.latest
        if state.locked and latest is not None:
            raise ReviewError(f"The report is already final ({latest.signed_text()}); amend it to change it.")
        bundle = build_bundle(store, exam_id, ExportOptions(operator=operator, clinic=header), state)
        doc, problems = reviews.load_checked(exam_id)
        refusal = finalize_refusal(bundle.review, [*bundle.exam.damage, *problems])
        if refusal:
            raise ReviewError(refusal)
        snap = snapshot(bundle)
        sha = content_hash(snap["content"])
        a = state.amendment
        block = report_block(state.version, sha, statement, a.reason if a else "", a.operator if a else "")
        before = {"version": latest.version, "content_hash": latest.content_hash} if latest else None
        after = {**_summary(bundle, doc, statement), "report": block, "snapshot": snap}
        return [AuditRecord(FINALIZE, f"exam:{bundle.exam.uid}", before, after)]

    return reviews.append_under_lock(exam_id, operator, make)[-1]


def amend(store: Any, exam_id: int, operator: str, reason: str) -> Amendment:
    """Reopen the final report of exam ``exam_id`` for a change; the reason is required."""
    operator = require_operator(operator)
    reason = " ".join((reason or "").split())
    if not reason:
        raise ReviewError("An amendment needs a reason: say what changes and why.")
    exam = store.get_exam(exam_id)
    reviews = ReviewStore(store)

    def make(state: ReportState) -> list[AuditRecord]:
        latest, open_ = state.latest, state.amendment
        if latest is None:
            raise ReviewError("The report is not final yet: there is nothing to amend (finalize it first).")
        if open_ is not None:
            raise ReviewError(f"An amendment of version {open_.amends} is already open (reason: {open_.reason}); "
                              "finalize it first.")
        return [AuditRecord(AMEND, f"exam:{exam.uid}",
                            {"version": latest.version, "content_hash": latest.content_hash},
                            {"reason": reason, "amends": latest.version, "next_version": latest.version + 1})]

    reviews.append_under_lock(exam_id, operator, make)
    amendment = reviews.report_state(exam_id).amendment
    assert amendment is not None
    return amendment


@dataclass(frozen=True)
class ReportStatus:
    """Where an exam's report stands (``fada-desk report status``, the GUI's report panel)."""

    exam: Any  # fada_desk.storage.Exam
    state: ReportState
    tally: ReviewTally  # AI proposals of the exam now
    current_hash: str  # the content hash the exam would be finalized with now
    damage: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when the exam no longer matches its final version (changed outside the review)."""
        signed = self.state.signed
        return signed is not None and signed.content_hash != self.current_hash

    @property
    def refusal(self) -> str:
        """Why finalizing is refused now ("" when it is allowed)."""
        latest = self.state.latest
        if self.state.locked and latest is not None:
            return f"The report is already final ({latest.signed_text()}); amend it to change it."
        return finalize_refusal(self.tally, self.damage)

    def lines(self) -> list[str]:
        exam, state = self.exam, self.state
        name = exam.patient.display_name or exam.patient.name
        out = [f"Exam #{exam.id} {exam.patient_id}" + (f" ({name})" if name else "")
               + f", {exam.exam_date.isoformat()}: {state.headline()}", state.sign_off_text()]
        signed = state.signed
        if signed is not None:
            out.append(f"Content hash: {signed.content_hash}")
            out += [f"Statement: {signed.statement}"] * bool(signed.statement)
            out += [f"Reason for amendment: {signed.reason}"] * bool(signed.reason)
        out.append(f"AI proposals: {self.tally.counts_text()}")
        if state.versions:
            out.append("Versions:")
            out += [f"  {line}" for line in state.history_lines()]
        if self.changed:
            out.append(f"Warning: the exam changed since version {state.version} was finalized (content hash now "
                       f"{self.current_hash}); the report of record is still version {state.version}: amend it "
                       "to include the changes.")
        if not state.locked:
            out.append(f"Cannot finalize: {self.refusal}" if self.refusal else "Ready to finalize.")
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"exam_id": self.exam.id, "exam_uid": self.exam.uid, **self.state.to_dict(),
                "ai_proposals": self.tally.to_dict(), "current_content_hash": self.current_hash,
                "changed_since_final": self.changed, "can_finalize": not self.refusal,
                "finalize_refusal": self.refusal or None}


def report_status(store: Any, exam_id: int) -> ReportStatus:
    """Read the report state, the AI review counts and the exam's current content hash."""
    reviews = ReviewStore(store)
    exam = store.get_exam(exam_id)
    bundle = build_bundle(store, exam_id, ExportOptions(clinic=ClinicHeader()))
    problems = reviews.load_checked(exam_id)[1]
    return ReportStatus(exam, bundle.report, bundle.review, content_hash(content_of(bundle)),
                        (*exam.damage, *problems))


def export_version(store: Any, exam_id: int, version: int, fmt: str, out_dir: Path | str,
                   cancel: CancelToken | None = None) -> Job[list[Path]]:
    """Write report ``version`` of the exam as ``fmt`` (a generator job; audited like every export)."""
    get_exporter(fmt)  # an unknown format fails before anything is read
    reviews = ReviewStore(store)
    bundle = version_bundle(store, exam_id, reviews.report_state(exam_id), version)  # no such version: fail now
    yield Progress(f"read report version {version}", 0.05)
    if cancel is not None:
        cancel.check()
    paths = yield from export_bundle(bundle, fmt, out_dir, ExportOptions(), cancel)
    reviews.append_audit(bundle.operator, [AuditRecord(
        "exam.export", f"exam:{bundle.exam.uid}", None,
        {"format": fmt, "files": [str(p) for p in paths], "include_pending": False,
         "audit_head_in_export": bundle.audit_head, "report_version": version})], exam_id=exam_id)
    return paths


class GuardedStack(UndoStack):
    """An undo stack whose every change of the document first calls ``guard`` (which raises
    to refuse it, e.g. while the report is final): push, undo, redo and macros alike."""

    def __init__(self, doc: AnnotationSet, guard: Callable[[], None]) -> None:
        super().__init__(doc)
        self.guard = guard

    def push(self, cmd: Command) -> None:
        self.guard()
        super().push(cmd)

    def undo(self) -> Command | None:
        if self.can_undo:
            self.guard()
        return super().undo()

    def redo(self) -> Command | None:
        if self.can_redo:
            self.guard()
        return super().redo()

    def begin_macro(self, text: str) -> None:
        self.guard()
        super().begin_macro(text)


__all__ = ["VERSION_FORMATS", "GuardedStack", "ReportStatus", "amend", "export_version", "finalize",
           "finalize_refusal", "report_status"]
