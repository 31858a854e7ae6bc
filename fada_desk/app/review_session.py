"""An exam open for review: the document, its undo stack, autosaved and audited.

:class:`ReviewSession` is what the review editor (GUI) and scripts use. It
loads the exam's :class:`~fada_desk.core.review_doc.AnnotationSet` through
:class:`~fada_desk.storage.review.ReviewStore` (persistence only) and keeps a
:class:`~fada_desk.core.commands.UndoStack` over it. Every push/undo/redo is
written immediately, rows and audit entries in one transaction, except a
mergeable step (a drag, a typing burst), which is written once it settles:
when the next step starts, on :meth:`ReviewSession.flush` (call it on mouse
release) or on close. A failed write raises StorageError and stays queued:
the next flush retries, nothing is dropped.

AI results come in through :meth:`ReviewSession.import_analysis` (pending AI
items + the interpretation under review, the whole analysis in the audit
trail); :meth:`ReviewSession.sign_off` finalizes the report (its next version,
through :mod:`fada_desk.app.report_versions`): from then on every edit of the
document (push, undo, redo, macro, AI import) is refused before it happens with
"The report is final; amend it to change it." until :meth:`ReviewSession.amend`
reopens it with a reason. The lock is read from the store at each edit, so a
report finalized elsewhere (the CLI) locks an open session too; an edit that was
still unsaved then is dropped and the document reloaded from the store.
:func:`open_review` opens the session of an exam
for the reviewer :func:`reviewer` names (any thread: it reads the whole
review document).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fada_desk.app import report_versions
from fada_desk.core.annotations import Annotation
from fada_desk.core.report_record import Amendment, ReportState
from fada_desk.core.review_doc import Change
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.core.audit import AuditEntry
from fada_desk.core.biometry import BiometryReport, Measurement, exam_biometry
from fada_desk.core.calibration import Calibration
from fada_desk.core.commands import AuditAction, Command, StackEvent
from fada_desk.core.errors import FadaError, StorageError
from fada_desk.core.interpretation import review_items_from_analysis
from fada_desk.export.bundle import review_tallies
from fada_desk.storage.review import (
    AI_OUTPUT,
    SIGN_OFF,
    AuditRecord,
    ReportLocked,
    ReviewError,
    ReviewStore,
    require_operator,
)
from fada_desk.storage import ExamStore


def _records(actions: Sequence[AuditAction], suffix: str = "", swap: bool = False) -> list[AuditRecord]:
    out = []
    for a in actions:
        before, after = (a.after, a.before) if swap else (a.before, a.after)
        out.append(AuditRecord(a.action + suffix, a.target, before, after))
    return out


@dataclass
class _Dirty:
    ids: set[str] = field(default_factory=set)
    frames: set[FrameRef] = field(default_factory=set)
    reset: bool = False


class ReviewSession:
    """An exam open for review by one operator: document + undo stack, autosaved, audited.

    Use commands from :mod:`fada_desk.core.commands` with :meth:`push`
    (``session.push(MoveVertex(session.doc, ...))``); read state from
    :attr:`doc`. Close (or use as a context manager) to write the last step.
    """

    def __init__(self, store: ExamStore, exam_id: int, operator: str) -> None:
        self.operator = require_operator(operator)
        self.store = store
        self.reviews = ReviewStore(store)
        self.exam = store.get_exam(exam_id)
        self.exam_id = exam_id
        self.doc = self.reviews.load(exam_id)
        self.doc.frame_validator = self._check_frame
        self._frames_ok: dict[int, int] = {}  # item id -> n_frames of items of this exam
        self.stack = report_versions.GuardedStack(self.doc, self._guard_edit)
        self._dirty = _Dirty()
        self._positions = {a.id: i for i, a in enumerate(self.doc)}
        self._pending: Command | None = None
        self._queued: list[AuditRecord] = []
        self._unsubs = [self.doc.subscribe(self._on_change), self.stack.subscribe(self.on_stack_event)]
        self._closed = False

    # ------------------------------------------------------------------ editing
    def push(self, cmd: Command) -> None:
        self._check_open()
        self.stack.push(cmd)

    def undo(self) -> Command | None:
        self._check_open()
        return self.stack.undo()

    def redo(self) -> Command | None:
        self._check_open()
        return self.stack.redo()

    def flush(self) -> list[AuditEntry]:
        """Write everything not yet written (the settling step, queued audit entries)."""
        self._check_open()
        if self._pending is not None:
            cmd, self._pending = self._pending, None
            if not cmd.is_obsolete():
                self._queued.extend(_records(cmd.audit()))
            self.stack.seal()
        return self._write()

    # ------------------------------------------------------------------ AI results
    def import_analysis(
        self,
        item_id: int,
        analysis: Mapping[str, Any],
        frame_index: int = 0,
        analysis_id: str | None = None,
        replace_reviewed: bool = False,
    ) -> list[Annotation]:
        """Add a FADA analysis (``AnalysisResult.to_dict()``) of one frame as pending AI items.

        The whole analysis document (raw model text included) is recorded in
        the audit trail. Replacing an interpretation a human already reviewed
        needs ``replace_reviewed=True`` (the old one stays in the audit trail).
        """
        self._check_open()
        self.flush()
        self.check_editable()
        frame = FrameRef(item_id, frame_index)
        self._check_frame(frame)
        analysis_id = analysis_id or uuid.uuid4().hex
        anns, interp = review_items_from_analysis(analysis, frame, analysis_id)
        old = self.doc.interpretation(frame)
        if interp is not None and old is not None:
            reviewed = [k for k, v in old.values.items() if v.status is not ReviewStatus.PENDING or v.edited]
            if reviewed and not replace_reviewed:
                raise ReviewError(
                    "This frame's interpretation was already reviewed; a new AI result would "
                    "replace it (confirm to replace)."
                )
        self.doc.insert_many(anns)
        if interp is not None:
            self.doc.set_interpretation(frame, interp)
            if old is not None:
                self.stack.clear()  # earlier interpretation edits no longer apply to this frame
        self._queued.append(
            AuditRecord(
                AI_OUTPUT,
                frame.key(),
                old.to_dict() if old else None,
                {
                    "analysis_id": analysis_id,
                    "analysis": dict(analysis),
                    "annotation_ids": [a.id for a in anns],
                },
            )
        )
        self._write()
        return anns

    def record_action(
        self, action: str, target: str = "", before: Any = None, after: Any = None
    ) -> AuditEntry:
        """Audit a human action made outside the editor (calibration change, exam edit, export...)."""
        self._check_open()
        self.flush()
        self._queued.append(AuditRecord(action, target, before, after))
        return self._write()[-1]

    # ------------------------------------------------------------------ measurements / sign-off
    def calibrations(self) -> dict[FrameRef, Calibration | None]:
        cals: dict[int, Calibration | None] = {}
        out: dict[FrameRef, Calibration | None] = {}
        for frame in self.doc.frames():
            if frame.item_id not in cals:
                cals[frame.item_id] = self.store.get_item(frame.item_id).calibration
            out[frame] = cals[frame.item_id]
        return out

    def measurements(self) -> tuple[list[Measurement], list[str]]:
        """Accepted, tagged annotations measured with their frame's calibration.

        Returns (measurements, problems): an annotation that cannot be measured
        (uncalibrated frame...) is reported, not silently skipped.
        """
        measured = exam_biometry(self.doc, self.calibrations())
        return measured.measurements, measured.problems

    def biometry(self) -> BiometryReport | None:
        return exam_biometry(self.doc, self.calibrations(), self.exam.ga_days).report()

    # ------------------------------------------------------------------ report versions
    def check_editable(self) -> None:
        """Raise :class:`~fada_desk.storage.review.ReportLocked` while the report is final."""
        self.reviews.check_editable(self.exam_id)

    def report_state(self) -> ReportState:
        return self.reviews.report_state(self.exam_id)

    def _guard_edit(self) -> None:
        """Refuse an edit of a final report before it happens. A store that cannot be read
        now (disk unplugged) lets the edit through: it stays on screen and its write, which
        checks the lock again inside its transaction, is retried (nothing typed is lost)."""
        try:
            self.check_editable()
        except ReportLocked:
            raise
        except StorageError:
            pass

    def sign_off(self, statement: str = "", allow_pending: bool = False) -> AuditEntry:
        """Finalize the report: its next version (signer, time, content hash), then locked.

        Refused while AI proposals are pending. ``allow_pending`` records the operator's
        review note instead while some are (the report stays preliminary: "Not yet signed
        off"); with none pending it finalizes as usual.
        """
        self._check_open()
        self.flush()
        if allow_pending:
            anns, values = review_tallies(self.doc, {it.id for it in self.store.list_items(self.exam_id)})
            if (anns + values).pending:
                return self._review_note(statement)
        entry = report_versions.finalize(self.store, self.exam_id, self.operator, statement)
        self.stack.clear()  # the edits are in the signed version; none of them can be undone now
        return entry

    def finalize(self, statement: str = "") -> AuditEntry:
        return self.sign_off(statement)

    def amend(self, reason: str) -> Amendment:
        """Reopen the final report for a change (the next finalize makes the amended version)."""
        self._check_open()
        self.flush()
        return report_versions.amend(self.store, self.exam_id, self.operator, reason)

    def _review_note(self, statement: str) -> AuditEntry:
        pending_fields = sum(len(i.pending_names()) for i in self.doc.interpretations())
        report = self.biometry()
        ms, problems = self.measurements()
        summary = {
            "operator": self.operator,
            "statement": statement,
            "annotations": {s.value: sum(1 for a in self.doc if a.status is s) for s in ReviewStatus},
            "pending_interpretation_values": pending_fields,
            "measurements": [m.to_dict() for m in ms],
            "measurement_problems": problems,
            "biometry": report.to_dict() if report else None,
        }
        self._queued.append(AuditRecord(SIGN_OFF, f"exam:{self.exam.uid}", None, summary))
        return self._write()[-1]

    # ------------------------------------------------------------------ lifecycle
    def close(self) -> None:
        if self._closed:
            return
        try:
            self.flush()
        finally:
            for u in self._unsubs:
                u()
            self._closed = True

    def __enter__(self) -> ReviewSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ReviewError("This review session is closed.")

    # ------------------------------------------------------------------ internals
    def _check_frame(self, frame: FrameRef) -> None:
        """Refuse content on frames that are not in this exam (before the document changes)."""
        n = self._frames_ok.get(frame.item_id)
        if n is None:
            item = self.store.get_item(frame.item_id)
            if item.exam_id != self.exam_id:
                raise ReviewError(f"Captured item #{frame.item_id} belongs to another exam.")
            n = self._frames_ok[frame.item_id] = item.n_frames
        if frame.frame_index >= n:
            raise ReviewError(
                f"Item #{frame.item_id} has {n} frame(s), there is no frame {frame.frame_index}."
            )

    def _on_change(self, change: Change) -> None:
        if change.kind == "reset":
            self._dirty.reset = True
        elif change.kind == "interpretation":
            self._dirty.frames.update(change.frames)
        else:
            self._dirty.ids.update(change.ids)

    def on_stack_event(self, event: StackEvent) -> None:
        """Persist + audit one undo-stack event. Subscribed to :attr:`stack`; a Qt
        QUndoStack adapter that runs these commands itself forwards its events here."""
        if event.kind == "merge":
            if event.command is self._pending and event.command is not None and event.command.is_obsolete():
                self._pending = None  # dragged back to where it started: nothing happened
            elif self._pending is None and event.command is not None:
                self._pending = event.command
            return
        if event.kind == "clean":
            return
        if self._pending is not None:
            cmd, self._pending = self._pending, None
            if not cmd.is_obsolete():
                self._queued.extend(_records(cmd.audit()))
        cmd = event.command
        if cmd is None:
            return
        if event.kind == "push":
            if cmd.merge_id >= 0:
                self._pending = cmd  # may still grow; written when it settles
                return
            self._queued.extend(_records(cmd.audit()))
        elif event.kind == "undo":
            self._queued.extend(_records(cmd.audit(), ".undo", swap=True))
        elif event.kind == "redo":
            self._queued.extend(_records(cmd.audit(), ".redo"))
        self._write()

    def _write(self) -> list[AuditEntry]:
        dirty = self._dirty
        if dirty.reset:
            ids = set(self._positions) | {a.id for a in self.doc}
            frames = set(self.doc.frames())
        else:
            ids, frames = set(dirty.ids), set(dirty.frames)
        positions = {a.id: i for i, a in enumerate(self.doc)}
        upserts = [(self.doc.get(i), positions[i]) for i in ids if i in self.doc]
        # order changes shift neighbours: rewrite every row whose position moved
        upserts += [
            (self.doc.get(i), p) for i, p in positions.items() if i not in ids and self._positions.get(i) != p
        ]
        removed = [i for i in ids if i not in self.doc]
        interps = [(f, self.doc.interpretation(f)) for f in frames]
        if not (upserts or removed or interps or self._queued):
            return []
        try:
            entries = self.reviews.commit(
                self.exam_id,
                operator=self.operator,
                annotations=upserts,
                removed=removed,
                interpretations=interps,
                audit=list(self._queued),
            )
        except ReportLocked:
            self._reload()  # finalized elsewhere before this edit was saved: the store wins
            raise
        # only now is it safe to forget what was written
        self._queued.clear()
        self._dirty = _Dirty()
        self._positions = positions
        return entries


    def _reload(self) -> None:
        """Drop what was not written and show the stored document again (history cleared)."""
        stored = self.reviews.load(self.exam_id)
        self._pending = None
        while self.stack.in_macro:
            self.stack.abort_macro()
        self.doc.reset(list(stored), stored.interpretations())
        self.stack.clear()
        self._queued.clear()
        self._dirty = _Dirty()
        self._positions = {a.id: i for i, a in enumerate(self.doc)}


def reviewer(exam: Any, fallback: str = "", operator: str = "") -> str:
    """Who signs the review of ``exam``: the given operator, the exam's, else the fallback."""
    return (operator or getattr(exam, "operator", "") or fallback).strip()


def open_review(store: ExamStore, exam_id: int, who: str) -> ReviewSession | FadaError | None:
    """The review session of exam ``exam_id`` signed by ``who``; the FadaError that refused
    it, or None without an operator name (nothing can be signed)."""
    if not who:
        return None
    try:
        return ReviewSession(store, exam_id, who)
    except FadaError as err:
        return err
