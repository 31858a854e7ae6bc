"""Review data in the exam store: annotations, interpretations, audit trail.

Two layers on top of :class:`~fada_desk.storage.store.ExamStore` (schema 3,
``migrations/m0003_review.py``):

* :class:`ReviewStore` — persistence: load an exam's
  :class:`~fada_desk.core.annotations.AnnotationSet`, write changed rows and
  audit entries in **one transaction**, read and verify the hash-chained,
  append-only audit log (SQLite triggers refuse UPDATE/DELETE).
* :class:`ReviewSession` — what the editor uses: the document + its
  :class:`~fada_desk.core.commands.UndoStack`, autosaved and audited. Every
  push/undo/redo is written immediately, except a mergeable step (a drag, a
  typing burst), which is written once it settles: when the next step starts,
  on :meth:`ReviewSession.flush` (call it on mouse release) or on close. A
  failed write raises StorageError and stays queued: the next flush retries,
  nothing is dropped.

This module uses the store's package-internal ``_read``/``_write``
transaction helpers (same package); it never touches the store's own tables
except to check that an item belongs to the exam.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from fada_desk.core.annotations import (
    Annotation,
    AnnotationError,
    AnnotationSet,
    Change,
    FrameRef,
    ReviewStatus,
)
from fada_desk.core.audit import (
    AuditEntry,
    ChainCheck,
    canonical_json,
    chain_head,
    make_entry,
    utc_now,
    verify_chain,
)
from fada_desk.core.biometry import (
    BiometryReport,
    Measurement,
    biometry_report,
    latest_values,
    measure_annotation,
)
from fada_desk.core.calibration import Calibration
from fada_desk.core.commands import AuditAction, Command, StackEvent, UndoStack
from fada_desk.core.errors import FadaError, StorageError
from fada_desk.core.interpretation import Interpretation, review_items_from_analysis
from fada_desk.storage.store import ExamStore

SIGN_OFF = "exam.sign_off"

_UPSERT_ANNOTATION = """
INSERT INTO annotations (id, exam_id, item_id, frame_index, position, kind, label, provenance, status,
                         analysis_id, data, updated_at, deleted_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT(id) DO UPDATE SET position = excluded.position, label = excluded.label,
    provenance = excluded.provenance, status = excluded.status, data = excluded.data,
    updated_at = excluded.updated_at, deleted_at = NULL
WHERE annotations.exam_id = excluded.exam_id
"""

_UPSERT_INTERPRETATION = """
INSERT INTO interpretations (exam_id, item_id, frame_index, analysis_id, data, updated_at, deleted_at)
VALUES (?, ?, ?, ?, ?, ?, NULL)
ON CONFLICT(item_id, frame_index) DO UPDATE SET analysis_id = excluded.analysis_id, data = excluded.data,
    updated_at = excluded.updated_at, deleted_at = NULL
"""
AI_OUTPUT = "ai.output"


class ReviewError(FadaError):
    """A review operation is not allowed in the current state (e.g. signing off with pending AI items)."""


@dataclass(frozen=True)
class AuditRecord:
    """An audit entry to append (the chain fields are filled in on write)."""

    action: str
    target: str = ""
    before: Any = None
    after: Any = None


@contextmanager
def _sql(action: str) -> Iterator[None]:
    try:
        yield
    except (StorageError, AnnotationError):
        raise
    except sqlite3.IntegrityError as exc:
        raise StorageError(f"Could not {action}: {exc}") from exc
    except (sqlite3.Error, OSError) as exc:
        raise StorageError(f"Could not {action}: {exc}") from exc


def _entry(row: sqlite3.Row) -> AuditEntry:
    return AuditEntry(
        row["seq"],
        row["ts_utc"],
        row["operator"],
        row["exam_id"],
        row["action"],
        row["target"],
        json.loads(row["before"]),
        json.loads(row["after"]),
        row["prev_hash"],
        row["hash"],
    )


class ReviewStore:
    """Annotations, interpretations and the audit log of one :class:`ExamStore`."""

    def __init__(self, store: ExamStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ reading
    def load(self, exam_id: int) -> AnnotationSet:
        """The exam's current (not deleted) annotations and interpretations."""
        self.store.get_exam(exam_id)  # clear error for an unknown exam
        with _sql("load the exam's annotations"), self.store._read() as conn:
            rows = conn.execute(
                "SELECT data FROM annotations WHERE exam_id = ? AND deleted_at IS NULL "
                "ORDER BY position, rowid",
                (exam_id,),
            ).fetchall()
            irows = conn.execute(
                "SELECT data FROM interpretations WHERE exam_id = ? AND deleted_at IS NULL "
                "ORDER BY item_id, frame_index",
                (exam_id,),
            ).fetchall()
        try:
            anns = [Annotation.from_dict(json.loads(r["data"])) for r in rows]
            interps = [Interpretation.from_dict(json.loads(r["data"])) for r in irows]
        except (AnnotationError, ValueError) as exc:
            raise StorageError(f"The stored annotations of exam #{exam_id} are damaged: {exc}") from exc
        return AnnotationSet(anns, interps)

    def audit_entries(self, exam_id: int | None = None) -> list[AuditEntry]:
        """All entries in chain order, or those of one exam (a subsequence of the chain)."""
        with _sql("read the audit trail"), self.store._read() as conn:
            if exam_id is None:
                rows = conn.execute("SELECT * FROM audit_log ORDER BY seq").fetchall()
            else:
                rows = conn.execute(
                    "SELECT * FROM audit_log WHERE exam_id = ? ORDER BY seq", (exam_id,)
                ).fetchall()
        return [_entry(r) for r in rows]

    def verify_audit(self, expected_head: str | None = None) -> ChainCheck:
        """Recompute the whole chain (see :func:`fada_desk.core.audit.verify_chain`)."""
        return verify_chain(self.audit_entries(), expected_head)

    def audit_head(self) -> str:
        return chain_head(self.audit_entries())

    def last_sign_off(self, exam_id: int) -> AuditEntry | None:
        with _sql("read the sign-off"), self.store._read() as conn:
            row = conn.execute(
                "SELECT * FROM audit_log WHERE exam_id = ? AND action = ? ORDER BY seq DESC LIMIT 1",
                (exam_id, SIGN_OFF),
            ).fetchone()
        return _entry(row) if row else None

    # ------------------------------------------------------------------ writing
    def append_audit(
        self, operator: str, records: Sequence[AuditRecord], exam_id: int | None = None
    ) -> list[AuditEntry]:
        """Append entries (one transaction)."""
        return self.commit(exam_id, operator=operator, audit=records)

    def commit(
        self,
        exam_id: int | None,
        *,
        operator: str,
        annotations: Sequence[tuple[Annotation, int]] = (),
        removed: Sequence[str] = (),
        interpretations: Sequence[tuple[FrameRef, Interpretation | None]] = (),
        audit: Sequence[AuditRecord] = (),
    ) -> list[AuditEntry]:
        """Write changed rows and audit entries atomically.

        ``annotations``: (annotation, position) to insert or update;
        ``removed``: ids to mark deleted; ``interpretations``: per frame the
        new value or None (removed). Items must belong to ``exam_id``.
        """
        operator = _operator(operator)
        now = utc_now()
        with _sql("save the review"), self.store._write() as conn:
            if exam_id is not None:
                self._check_frames(
                    conn, exam_id, [a.frame for a, _ in annotations] + [f for f, _ in interpretations]
                )
            for ann, pos in annotations:
                data = canonical_json(ann.to_dict())
                row = (
                    ann.id,
                    exam_id,
                    ann.frame.item_id,
                    ann.frame.frame_index,
                    pos,
                    ann.kind,
                    ann.label,
                    ann.provenance.value,
                    ann.status.value,
                    ann.analysis_id,
                    data,
                    now,
                )
                conn.execute(_UPSERT_ANNOTATION, row)
                owner = conn.execute("SELECT exam_id FROM annotations WHERE id = ?", (ann.id,)).fetchone()
                if owner is None or owner["exam_id"] != exam_id:
                    raise StorageError(f"Annotation {ann.id} belongs to another exam.")
            for ann_id in removed:
                conn.execute(
                    "UPDATE annotations SET deleted_at = ?, updated_at = ? WHERE id = ? AND exam_id = ? "
                    "AND deleted_at IS NULL",
                    (now, now, ann_id, exam_id),
                )
            for frame, interp in interpretations:
                if interp is None:
                    conn.execute(
                        "UPDATE interpretations SET deleted_at = ?, updated_at = ? WHERE item_id = ? "
                        "AND frame_index = ?",
                        (now, now, frame.item_id, frame.frame_index),
                    )
                else:
                    row = (
                        exam_id,
                        frame.item_id,
                        frame.frame_index,
                        interp.analysis_id,
                        canonical_json(interp.to_dict()),
                        now,
                    )
                    conn.execute(_UPSERT_INTERPRETATION, row)
            return self._append(conn, operator, exam_id, audit, now)

    @staticmethod
    def _check_frames(conn: sqlite3.Connection, exam_id: int, frames: Sequence[FrameRef]) -> None:
        for frame in set(frames):
            row = conn.execute(
                "SELECT exam_id, n_frames FROM items WHERE id = ?", (frame.item_id,)
            ).fetchone()
            if row is None:
                raise StorageError(f"No captured item #{frame.item_id} in the exam store.")
            if row["exam_id"] != exam_id:
                raise StorageError(f"Captured item #{frame.item_id} belongs to another exam.")
            if frame.frame_index >= row["n_frames"]:
                raise StorageError(
                    f"Item #{frame.item_id} has {row['n_frames']} frame(s), "
                    f"there is no frame {frame.frame_index}."
                )

    @staticmethod
    def _append(
        conn: sqlite3.Connection, operator: str, exam_id: int | None, records: Sequence[AuditRecord], ts: str
    ) -> list[AuditEntry]:
        row = conn.execute("SELECT * FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        prev = _entry(row) if row else None
        out = []
        for rec in records:
            try:
                entry = make_entry(
                    prev,
                    operator=operator,
                    action=rec.action,
                    target=rec.target,
                    before=rec.before,
                    after=rec.after,
                    exam_id=exam_id,
                    ts_utc=ts,
                )
            except (TypeError, ValueError) as exc:
                raise StorageError(f"Audit data for {rec.action} is not JSON: {exc}") from exc
            conn.execute(
                "INSERT INTO audit_log (seq, ts_utc, operator, exam_id, action, target, before, after, "
                "prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    entry.seq,
                    entry.ts_utc,
                    entry.operator,
                    entry.exam_id,
                    entry.action,
                    entry.target,
                    canonical_json(entry.before),
                    canonical_json(entry.after),
                    entry.prev_hash,
                    entry.hash,
                ),
            )
            out.append(entry)
            prev = entry
        return out


def _operator(operator: str) -> str:
    if not isinstance(operator, str) or not operator.strip():
        raise ReviewError("An operator name is required: every review action is signed in the audit trail.")
    return operator.strip()


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
        self.operator = _operator(operator)
        self.store = store
        self.reviews = ReviewStore(store)
        self.exam = store.get_exam(exam_id)
        self.exam_id = exam_id
        self.doc = self.reviews.load(exam_id)
        self.doc.frame_validator = self._check_frame
        self._frames_ok: dict[int, int] = {}  # item id -> n_frames of items of this exam
        self.stack = UndoStack(self.doc)
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
        return exam_measurements(self.doc, self.calibrations())

    def biometry(self) -> BiometryReport | None:
        ms, _ = self.measurements()
        values = latest_values(ms)
        if not values:
            return None
        ga = self.exam.ga_days
        return biometry_report(values, ga_by_dates_days=float(ga) if ga else None)

    def sign_off(self, statement: str = "", allow_pending: bool = False) -> AuditEntry:
        """Record that the operator reviewed the exam (summary + biometry in the entry)."""
        self.flush()
        pending = self.doc.pending()
        pending_fields = sum(len(i.pending_names()) for i in self.doc.interpretations())
        if (pending or pending_fields) and not allow_pending:
            raise ReviewError(
                f"{len(pending)} AI annotation(s) and {pending_fields} interpretation value(s) are "
                "still pending review; accept or reject them before signing off."
            )
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
        entries = self._write()
        return entries[-1]

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
        entries = self.reviews.commit(
            self.exam_id,
            operator=self.operator,
            annotations=upserts,
            removed=removed,
            interpretations=interps,
            audit=list(self._queued),
        )
        # only now is it safe to forget what was written
        self._queued.clear()
        self._dirty = _Dirty()
        self._positions = positions
        return entries


def exam_measurements(
    doc: AnnotationSet, calibrations: Mapping[FrameRef, Calibration | None]
) -> tuple[list[Measurement], list[str]]:
    """Measure every accepted annotation tagged with a biometry parameter."""
    out: list[Measurement] = []
    problems: list[str] = []
    for ann in doc:
        if not ann.measure or ann.status is not ReviewStatus.ACCEPTED:
            continue
        try:
            out.append(measure_annotation(ann, calibrations.get(ann.frame)))
        except FadaError as exc:
            problems.append(f"{ann.measure} ({ann.label or ann.kind}, item #{ann.frame.item_id}): {exc}")
    return out, problems
