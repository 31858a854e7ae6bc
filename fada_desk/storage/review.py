"""Review data in the exam store: annotations, interpretations, audit trail.

Persistence on top of :class:`~fada_desk.storage.store.ExamStore` (schema 3,
``migrations/m0003_review.py``): :class:`ReviewStore` loads an exam's
:class:`~fada_desk.core.review_doc.AnnotationSet`, writes changed rows and
audit entries in **one transaction**, reads and verifies the hash-chained,
append-only audit log (SQLite triggers refuse UPDATE/DELETE). Report versions live
in that log (:meth:`ReviewStore.report_state`); while an exam's report is final,
:meth:`ReviewStore.commit` refuses changed rows (:class:`ReportLocked`).

The editing session on top of it (document + undo stack, autosaved and
audited) is :class:`fada_desk.app.review_session.ReviewSession`.

This module uses the store's ``read_tx``/``write_tx`` transactions; it never
touches the store's own tables except to check that an item belongs to the exam.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import AnnotationError, FrameRef
from fada_desk.core.audit import (
    AuditEntry,
    ChainCheck,
    canonical_json,
    chain_head,
    make_entry,
    utc_now,
    verify_chain,
)
from fada_desk.core.errors import FadaError, StorageError
from fada_desk.core.interpretation import Interpretation
from fada_desk.core.report_record import AMEND, FINALIZE, LOCKED_MESSAGE, ReportState, report_state
from fada_desk.storage.checks import BadValue, RowCheck, strict_json
from fada_desk.storage.store import ExamStore
from fada_desk.storage.values import describe

log = logging.getLogger(__name__)

SIGN_OFF = FINALIZE  # "exam.sign_off": a finalized report version (or, before versions, a note)

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


#: SQLite INTEGER is 64-bit: the next audit entry number must still fit.
_MAX_SEQ = 2**63 - 1


class ReviewError(FadaError):
    """A review operation is not allowed in the current state (e.g. signing off with pending AI items)."""


class ReportLocked(ReviewError):
    """An edit of an exam whose report is final (amend the report first)."""


_LOCK_ROW = """  -- the newest finalize (with a report block) or amendment decides
SELECT action FROM audit_log WHERE exam_id = ? AND (action = ? OR (action = ? AND json_valid(after)
    AND json_type(after, '$.report') IS NOT NULL)) ORDER BY seq DESC LIMIT 1
"""


def _locked(conn: sqlite3.Connection, exam_id: int) -> bool:
    row = conn.execute(_LOCK_ROW, (exam_id, AMEND, FINALIZE)).fetchone()
    return row is not None and row["action"] == FINALIZE


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
    except (sqlite3.Error, OSError, UnicodeDecodeError) as exc:
        raise StorageError(describe(exc, action)) from exc


def _json_or_text(value: Any) -> Any:
    """A stored JSON value; a damaged one as its text (its entry then fails :func:`verify_chain`)."""
    try:
        return strict_json(value)
    except BadValue:
        return value if isinstance(value, str) else repr(value)


def _entry(row: sqlite3.Row) -> AuditEntry:
    """An entry as stored; damaged values become placeholders, which the chain check reports."""
    c = RowCheck(row, "audit entry")
    return AuditEntry(
        c.integer("seq", 1, 2**63 - 1),
        c.text("ts_utc"),
        c.text("operator"),
        c.integer("exam_id", 0, 2**63 - 1, default=None, nullable=True),
        c.text("action"),
        c.text("target"),
        _json_or_text(row["before"]),
        _json_or_text(row["after"]),
        c.text("prev_hash"),
        c.text("hash"),
    )


_ROW_ERRORS = (BadValue, AnnotationError, ValueError, TypeError, KeyError, AttributeError, RecursionError)


def _row_object(value: Any) -> dict[str, Any]:
    data = strict_json(value)
    if not isinstance(data, dict):
        raise BadValue(f"JSON {type(data).__name__}, not an object")
    return data


class ReviewStore:
    """Annotations, interpretations and the audit log of one :class:`ExamStore`."""

    def __init__(self, store: ExamStore) -> None:
        self.store = store

    # ------------------------------------------------------------------ reading
    def load(self, exam_id: int) -> AnnotationSet:
        """The exam's current (not deleted) annotations and interpretations.

        A damaged row is left out (logged; :meth:`load_checked` returns why), the rest loads."""
        doc, problems = self.load_checked(exam_id)
        for p in problems:
            log.warning("exam #%d: %s", exam_id, p)
        return doc

    def load_checked(self, exam_id: int) -> tuple[AnnotationSet, list[str]]:
        """:meth:`load`, and one reason per stored annotation or interpretation left out as damaged."""
        self.store.get_exam(exam_id)  # clear error for an unknown exam
        with _sql("load the exam's annotations"), self.store.read_tx() as conn:
            rows = conn.execute(
                "SELECT id, data FROM annotations WHERE exam_id = ? AND deleted_at IS NULL "
                "ORDER BY position, rowid",
                (exam_id,),
            ).fetchall()
            irows = conn.execute(
                "SELECT item_id, frame_index, data FROM interpretations WHERE exam_id = ? "
                "AND deleted_at IS NULL ORDER BY item_id, frame_index",
                (exam_id,),
            ).fetchall()
        problems: list[str] = []
        anns, seen = [], set()
        for r in rows:
            try:
                ann = Annotation.from_dict(_row_object(r["data"]))
                if ann.id in seen:
                    raise BadValue(f"second annotation with id {ann.id}")
            except _ROW_ERRORS as exc:
                problems.append(f"annotation {str(r['id'])[:40]} is damaged and was left out ({exc})")
                continue
            seen.add(ann.id)
            anns.append(ann)
        interps, frames = [], set()
        for r in irows:
            try:
                interp = Interpretation.from_dict(_row_object(r["data"]))
                if interp.frame in frames:
                    raise BadValue("second interpretation of the same frame")
            except _ROW_ERRORS as exc:
                problems.append(f"interpretation of item #{r['item_id']} frame {r['frame_index']} is damaged "
                                f"and was left out ({exc})")
                continue
            frames.add(interp.frame)
            interps.append(interp)
        try:
            return AnnotationSet(anns, interps), problems
        except (AnnotationError, ValueError, TypeError) as exc:
            raise StorageError(f"The stored annotations of exam #{exam_id} are damaged: {exc}") from exc

    def audit_entries(self, exam_id: int | None = None) -> list[AuditEntry]:
        """All entries in chain order, or those of one exam (a subsequence of the chain)."""
        with _sql("read the audit trail"), self.store.read_tx() as conn:
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
        with _sql("read the sign-off"), self.store.read_tx() as conn:
            row = conn.execute(
                "SELECT * FROM audit_log WHERE exam_id = ? AND action = ? ORDER BY seq DESC LIMIT 1",
                (exam_id, SIGN_OFF),
            ).fetchone()
        return _entry(row) if row else None

    # ------------------------------------------------------------------ report versions
    def report_entries(self, exam_id: int) -> list[AuditEntry]:
        """The exam's finalize and amendment entries, in chain order."""
        with _sql("read the report versions"), self.store.read_tx() as conn:
            rows = conn.execute(
                "SELECT * FROM audit_log WHERE exam_id = ? AND action IN (?, ?) ORDER BY seq",
                (exam_id, FINALIZE, AMEND),
            ).fetchall()
        return [_entry(r) for r in rows]

    def report_state(self, exam_id: int) -> ReportState:
        """Versions of the exam's report and the open amendment (:mod:`fada_desk.core.report_record`)."""
        return report_state(self.report_entries(exam_id))

    def check_editable(self, exam_id: int) -> None:
        """Raise :class:`ReportLocked` while the exam's report is final (cheap: one indexed query)."""
        with _sql("read the report status"), self.store.read_tx() as conn:
            if _locked(conn, exam_id):
                raise ReportLocked(LOCKED_MESSAGE)

    def append_under_lock(
        self, exam_id: int, operator: str, make: Callable[[ReportState], Sequence[AuditRecord]]
    ) -> list[AuditEntry]:
        """Append ``make(state)``'s records in one write transaction, ``make`` running while no
        other writer can commit: what it reads (the exam, its review, the report state) is what
        the entries are appended after. Used to finalize and amend."""
        operator = require_operator(operator)
        with _sql("record the report version"), self.store.write_tx() as conn:
            records = make(self.report_state(exam_id))
            return self._append(conn, operator, exam_id, records, utc_now())

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
        operator = require_operator(operator)
        now = utc_now()
        with _sql("save the review"), self.store.write_tx() as conn:
            if exam_id is not None and (annotations or removed or interpretations) and _locked(conn, exam_id):
                raise ReportLocked(LOCKED_MESSAGE)  # checked inside the transaction: no finalize can slip in between
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
        if prev is not None and not 0 <= prev.seq < _MAX_SEQ:
            raise StorageError(f"The audit trail is damaged (entry number {prev.seq} is out of range); "
                               "nothing was written: restore the exam store from a backup.")
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


def require_operator(operator: str) -> str:
    """The operator name, stripped; ReviewError when empty (every action is signed)."""
    if not isinstance(operator, str) or not operator.strip():
        raise ReviewError("An operator name is required: every review action is signed in the audit trail.")
    return operator.strip()
