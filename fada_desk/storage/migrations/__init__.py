"""Forward-only, numbered schema migrations for the exam store.

Every module in this package named ``mNNNN_<what>.py`` is one migration; its
number is the schema version it produces (``PRAGMA user_version``). A module
defines ``upgrade(conn)`` that executes SQL on ``conn`` *without* committing
(use :func:`run_script` for a block of statements). :func:`migrate` runs each
pending migration in its own ``BEGIN IMMEDIATE`` transaction together with the
``user_version`` bump, so a crash or an error leaves the database at the
previous version, never half-migrated.

Foreign-key enforcement is switched off while a migration runs (SQLite cannot
toggle it inside a transaction and table rebuilds need it off) and
``PRAGMA foreign_key_check`` must come back empty before the commit.

Migrations are discovered at import time: numbers must run 1..N without gaps
or duplicates (checked here, so a bad file fails every test at once).
Frozen builds (PyInstaller) must bundle them explicitly, e.g.
``hiddenimports=collect_submodules("fada_desk.storage.migrations")``;
a build without them fails loudly at import instead of opening a store.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass

from fada_desk.core.errors import StorageError

_NAME = re.compile(r"^m(\d{4})_[a-z0-9_]+$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    upgrade: Callable[[sqlite3.Connection], None]


def _discover() -> tuple[Migration, ...]:
    found: dict[int, Migration] = {}
    for info in pkgutil.iter_modules(__path__):
        m = _NAME.match(info.name)
        if not m:
            continue
        version = int(m.group(1))
        if version in found:
            raise RuntimeError(f"two storage migrations claim version {version}: "
                               f"{found[version].name}, {info.name}")
        module = importlib.import_module(f"{__name__}.{info.name}")
        upgrade = getattr(module, "upgrade", None)
        if not callable(upgrade):
            raise RuntimeError(f"storage migration {info.name} has no upgrade(conn) function")
        found[version] = Migration(version, info.name, upgrade)
    versions = sorted(found)
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"storage migrations must be numbered 1..N without gaps, found {versions}")
    if not versions:
        raise RuntimeError("no storage migrations found (frozen app without fada_desk.storage.migrations?)")
    return tuple(found[v] for v in versions)


def split_sql(script: str) -> list[str]:
    """Split a script into complete statements (semicolons inside strings are kept)."""
    statements: list[str] = []
    buf = ""
    pieces = script.split(";")
    for i, piece in enumerate(pieces):
        buf += piece if i == len(pieces) - 1 else piece + ";"
        if buf.rstrip().endswith(";") and sqlite3.complete_statement(buf):
            if buf.strip(" \t\r\n;"):
                statements.append(buf.strip())
            buf = ""
    rest = "\n".join(line for line in buf.splitlines() if not line.strip().startswith("--"))
    if rest.strip(" \t\r\n;"):
        raise ValueError(f"incomplete SQL statement at end of migration script: {buf.strip()[:80]!r}")
    return statements


def run_script(conn: sqlite3.Connection, script: str) -> None:
    """Execute several statements inside the current transaction.

    ``executescript`` would COMMIT first, breaking the one-transaction rule.
    """
    for statement in split_sql(script):
        conn.execute(statement)


def schema_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, target: int | None = None) -> list[int]:
    """Bring ``conn`` (autocommit mode) up to ``target`` (default: latest).

    Returns the versions applied. Safe against a second process migrating at
    the same time: the version is re-read after taking the write lock.
    """
    target = LATEST_VERSION if target is None else target
    if not 0 <= target <= LATEST_VERSION:
        raise ValueError(f"no schema version {target} (latest is {LATEST_VERSION})")
    if conn.in_transaction:
        raise RuntimeError("migrate() needs a connection outside any transaction")
    current = schema_version(conn)
    if current > LATEST_VERSION:
        raise StorageError(
            f"The exam store was written by a newer fada_desk (schema {current}, this version knows "
            f"{LATEST_VERSION}); update fada_desk to open it."
        )
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version <= current or migration.version > target:
            continue
        conn.execute("PRAGMA foreign_keys=OFF")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if schema_version(conn) >= migration.version:  # someone else got there first
                    conn.execute("COMMIT")
                    continue
                migration.upgrade(conn)
                bad = conn.execute("PRAGMA foreign_key_check").fetchall()
                if bad:
                    raise StorageError(f"migration {migration.name} broke {len(bad)} foreign key(s)")
                conn.execute(f"PRAGMA user_version={migration.version:d}")
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            raise StorageError(f"Could not upgrade the exam store to schema {migration.version} "
                               f"({migration.name}): {exc}") from exc
        finally:
            conn.execute("PRAGMA foreign_keys=ON")
        applied.append(migration.version)
    return applied


# Last: migration modules import run_script from this (partially initialised) module.
MIGRATIONS: tuple[Migration, ...] = _discover()
LATEST_VERSION: int = MIGRATIONS[-1].version
