"""Schema 1: patients, exams and captured items (stills and clips).

Dates are ISO strings: ``YYYY-MM-DD`` for calendar dates, fixed-width UTC
``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for instants (sorts as text). Enumerations
that will grow (exam status, sex) are checked in Python, not with CHECK
constraints, so that adding a value never needs a table rebuild.
"""

from __future__ import annotations

import sqlite3

from fada_desk.storage.migrations import run_script

SQL = """
CREATE TABLE patients (
    id          INTEGER PRIMARY KEY,
    patient_id  TEXT NOT NULL UNIQUE CHECK (length(patient_id) > 0),  -- MRN as typed
    name        TEXT NOT NULL DEFAULT '',    -- DICOM PN (family^given) or free text
    dob         TEXT,                        -- ISO date or NULL
    sex         TEXT NOT NULL DEFAULT '',    -- '', 'F', 'M', 'O'
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE exams (
    id          INTEGER PRIMARY KEY,
    uid         TEXT NOT NULL UNIQUE,        -- StudyInstanceUID, 2.25.<uuid>
    patient_ref INTEGER NOT NULL REFERENCES patients(id),
    created_at  TEXT NOT NULL,
    exam_date   TEXT NOT NULL,               -- local calendar date of the exam (GA reference)
    lmp         TEXT,                        -- as given by the user
    edd         TEXT,                        -- as given by the user
    operator    TEXT NOT NULL DEFAULT '',
    referring   TEXT NOT NULL DEFAULT '',
    notes       TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',
    updated_at  TEXT NOT NULL
);
CREATE INDEX exams_by_patient ON exams(patient_ref);
CREATE INDEX exams_by_created ON exams(created_at);

CREATE TABLE items (
    id          INTEGER PRIMARY KEY,
    exam_id     INTEGER NOT NULL REFERENCES exams(id),
    kind        TEXT NOT NULL CHECK (kind IN ('image', 'clip')),
    created_at  TEXT NOT NULL,
    source_uri  TEXT NOT NULL DEFAULT '',
    frame_index INTEGER,                     -- source frame number of the (first) frame
    timestamp   REAL,                        -- source timestamp of the (first) frame, s
    width       INTEGER NOT NULL CHECK (width > 0),
    height      INTEGER NOT NULL CHECK (height > 0),
    channels    INTEGER NOT NULL CHECK (channels IN (1, 3)),
    n_frames    INTEGER NOT NULL CHECK (n_frames >= 1),
    fps         REAL,
    calibration TEXT,                        -- Calibration.to_dict() JSON, current
    sha256      TEXT NOT NULL CHECK (length(sha256) = 64),
    media_path  TEXT NOT NULL UNIQUE,        -- relative to the media root, '/' separated
    size_bytes  INTEGER NOT NULL,
    meta        TEXT NOT NULL DEFAULT '{}',  -- JSON object (DICOM tags, device...)
    deleted_at  TEXT                         -- soft delete; media is never removed
);
CREATE INDEX items_by_exam ON items(exam_id);
"""


def upgrade(conn: sqlite3.Connection) -> None:
    run_script(conn, SQL)
