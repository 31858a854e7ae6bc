"""Schema 3: review data — annotations, interpretations and the append-only audit log.

* ``annotations``: one row per annotation (``fada_desk.core.annotations``), the
  full value as JSON in ``data`` plus indexed columns for queries. Removing an
  annotation in the editor sets ``deleted_at``; rows are never deleted.
* ``interpretations``: the reviewed FADA interpretation of one frame.
* ``audit_log``: hash-chained record of every AI output and human action
  (``fada_desk.core.audit``). Triggers refuse UPDATE and DELETE, so the log
  can only grow; ``seq`` is the chain order (1..N, no gaps).
"""

from __future__ import annotations

import sqlite3

from fada_desk.storage.migrations import run_script

SQL = """
CREATE TABLE annotations (
    id          TEXT PRIMARY KEY,            -- Annotation.id (uuid4 hex), stable across exports
    exam_id     INTEGER NOT NULL REFERENCES exams(id),
    item_id     INTEGER NOT NULL REFERENCES items(id),
    frame_index INTEGER NOT NULL DEFAULT 0 CHECK (frame_index >= 0),
    position    INTEGER NOT NULL,            -- order in the exam's document
    kind        TEXT NOT NULL,
    label       TEXT NOT NULL DEFAULT '',
    provenance  TEXT NOT NULL,               -- ai | ai-edited | manual
    status      TEXT NOT NULL,               -- pending | accepted | rejected
    analysis_id TEXT,
    data        TEXT NOT NULL,               -- Annotation.to_dict() JSON
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT                         -- removed in the editor (kept, restorable)
);
CREATE INDEX annotations_by_exam ON annotations(exam_id, position);
CREATE INDEX annotations_by_item ON annotations(item_id, frame_index);

CREATE TABLE interpretations (
    exam_id     INTEGER NOT NULL REFERENCES exams(id),
    item_id     INTEGER NOT NULL REFERENCES items(id),
    frame_index INTEGER NOT NULL DEFAULT 0 CHECK (frame_index >= 0),
    analysis_id TEXT,
    data        TEXT NOT NULL,               -- Interpretation.to_dict() JSON
    updated_at  TEXT NOT NULL,
    deleted_at  TEXT,
    PRIMARY KEY (item_id, frame_index)
);
CREATE INDEX interpretations_by_exam ON interpretations(exam_id);

CREATE TABLE audit_log (
    seq         INTEGER PRIMARY KEY CHECK (seq >= 1),
    ts_utc      TEXT NOT NULL,
    operator    TEXT NOT NULL,
    exam_id     INTEGER REFERENCES exams(id),
    action      TEXT NOT NULL CHECK (length(action) > 0),
    target      TEXT NOT NULL DEFAULT '',
    before      TEXT NOT NULL,               -- canonical JSON ('null' when none)
    after       TEXT NOT NULL,
    prev_hash   TEXT NOT NULL CHECK (length(prev_hash) = 64),
    hash        TEXT NOT NULL UNIQUE CHECK (length(hash) = 64)
);
CREATE INDEX audit_by_exam ON audit_log(exam_id, seq);

CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
"""


def upgrade(conn: sqlite3.Connection) -> None:
    run_script(conn, SQL)
