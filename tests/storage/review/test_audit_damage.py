"""A damaged audit entry number gives a clean error and writes nothing (found by the fuzzer:
store seed 1 case 248, `bench/fuzz.py --categories store --seed 1 --replay 248`)."""

from __future__ import annotations

import sqlite3

import pytest

from fada_desk.core.errors import StorageError
from fada_desk.storage import Exam, ExamStore
from fada_desk.storage.review import AuditRecord, ReviewStore


def test_an_audit_number_at_the_integer_limit_is_refused_cleanly(store: ExamStore, exam: Exam) -> None:
    reviews = ReviewStore(store)
    reviews.append_audit("A. Sono", [AuditRecord("exam.note", f"exam:{exam.uid}")], exam_id=exam.id)
    n = len(reviews.audit_entries())
    with sqlite3.connect(store.path) as conn:  # damage as a disk or another program would: past the triggers
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                                "AND tbl_name = 'audit_log'").fetchall()
        for name, _sql in triggers:
            conn.execute(f'DROP TRIGGER "{name}"')
        conn.execute("UPDATE audit_log SET seq = ? WHERE seq = (SELECT MAX(seq) FROM audit_log)", (2**63 - 1,))
        for _name, sql in triggers:
            conn.execute(sql)
    with pytest.raises(StorageError, match="audit trail is damaged"):
        reviews.append_audit("A. Sono", [AuditRecord("exam.note", f"exam:{exam.uid}")], exam_id=exam.id)
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] == n
