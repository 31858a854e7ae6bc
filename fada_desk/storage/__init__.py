"""The exam store: patients, exams and captured stills/clips, crash-safe and lossless.

Usage (pure Python, no Qt; safe from worker threads)::

    from fada_desk.storage import ExamStore
    with ExamStore.open() as store:                 # user_data_dir()/exams.sqlite3 + media/
        store.upsert_patient("MRN123", name="DOE^JANE", dob=date(1990, 1, 2), sex="F")
        exam = store.create_exam("MRN123", lmp=date(2024, 1, 10), operator="A. Sonographer")
        item = store.add_image(exam.id, frame)      # durable when it returns
        frame2 = store.load_frame(item.id)          # bit-exact pixels + calibration

Layout on disk: ``exams.sqlite3`` (WAL) and ``media/<exam uid>/IMG_*.png`` /
``CLIP_*.npz`` (format in :mod:`.media`); ``media/.quarantine/`` holds
leftovers of writers that were killed, ``media/.locks/`` live-writer tokens.
Nothing is ever deleted: ``delete_item`` is a soft delete.

Damage: a database that fails ``PRAGMA quick_check`` or is not a fada_desk store
is refused on open and left untouched (:func:`.database.check_existing`); every
value read back is checked (:mod:`.checks`), so a bad row only marks its exam
damaged (``Exam.damage`` / ``ExamSummary.damage``: the reasons; a bad item row is
left out of ``list_items``) and a damaged exam or patient row is never rewritten.

Adding a schema migration (one new file, nothing else to edit)
----------------------------------------------------------------
1. Create ``fada_desk/storage/migrations/mNNNN_<what>.py`` with NNNN = the
   current latest number + 1 (see the files there; numbers must be contiguous).
2. In it define ``upgrade(conn: sqlite3.Connection) -> None`` that runs its
   SQL *without* committing, normally ``run_script(conn, SQL)`` (from
   ``fada_desk.storage.migrations``). It runs in one transaction together with
   the ``PRAGMA user_version`` bump; foreign keys are checked before commit.
   Forward-only: never edit a migration that has shipped; add a new one.
   Prefer ``CREATE TABLE``/``ADD COLUMN``; for a table rebuild follow SQLite's
   12-step ALTER procedure (foreign keys are already off during migrations).
3. Run ``pytest tests/storage``: ``test_store_migrations.py`` upgrades a database
   from every older version (with data) and compares the result with a fresh
   one, so new migrations are covered without touching the tests. If the new
   schema needs checks of its own (a backfill), add them there.
An existing database is copied to ``exams.sqlite3.schemaN-<time>.bak`` before
it is upgraded.
"""

from fada_desk.core.dating import (
    Dating,
    derive_dating,
    edd_from_lmp,
    format_ga,
    lmp_from_edd,
    validate_dating,
)
from fada_desk.storage.migrations import LATEST_VERSION
from fada_desk.storage.models import (
    EXAM_STATUSES,
    SEXES,
    CalibrationRecord,
    CapturedItem,
    Exam,
    ExamStatus,
    ExamSummary,
    ItemKind,
    Patient,
)
from fada_desk.storage.store import ExamStore
from fada_desk.storage.values import UNSET

__all__ = [
    "EXAM_STATUSES", "LATEST_VERSION", "SEXES", "UNSET", "CalibrationRecord", "CapturedItem", "Dating",
    "Exam", "ExamStatus", "ItemKind",
    "ExamStore", "ExamSummary", "Patient", "derive_dating", "edd_from_lmp", "format_ga", "lmp_from_edd",
    "validate_dating",
]
