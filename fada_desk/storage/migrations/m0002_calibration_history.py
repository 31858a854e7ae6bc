"""Schema 2: versioned calibration history per item.

``items.calibration`` stays the *current* calibration (fast to read); every
change is appended to ``item_calibrations`` with an increasing version, so a
measurement can say which calibration it used and a wrong manual calibration
can be undone. Existing calibrations become version 1.
"""

from __future__ import annotations

import sqlite3

from fada_desk.storage.migrations import run_script

SQL = """
CREATE TABLE item_calibrations (
    id          INTEGER PRIMARY KEY,
    item_id     INTEGER NOT NULL REFERENCES items(id),
    version     INTEGER NOT NULL CHECK (version >= 1),
    calibration TEXT,                        -- JSON, NULL = calibration removed
    source      TEXT NOT NULL DEFAULT '',    -- 'dicom', 'manual', ...
    created_at  TEXT NOT NULL,
    UNIQUE (item_id, version)
);
ALTER TABLE items ADD COLUMN calibration_version INTEGER NOT NULL DEFAULT 0;

INSERT INTO item_calibrations (item_id, version, calibration, source, created_at)
    SELECT id, 1, calibration, coalesce(json_extract(calibration, '$.source'), ''), created_at
    FROM items WHERE calibration IS NOT NULL;
UPDATE items SET calibration_version = 1 WHERE calibration IS NOT NULL;
"""


def upgrade(conn: sqlite3.Connection) -> None:
    run_script(conn, SQL)
