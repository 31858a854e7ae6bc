"""Per-process owner tokens, so a store can tell a dead writer's leftovers from a live one's.

Each open :class:`ExamStore` creates ``<locks dir>/<token>.lock`` and holds an
exclusive OS lock on it until closed. The lock vanishes when the process dies
(even by SIGKILL), so "can I lock <token>.lock?" answers "is its owner dead?".
flock (POSIX) and msvcrt locks belong to the open file, so this also works
between two stores in the same process.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import uuid
from pathlib import Path

LOCK_SUFFIX = ".lock"
log = logging.getLogger(__name__)


def _try_lock(fd: int) -> bool:
    try:
        if sys.platform == "win32":
            import msvcrt

            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False
    return True


class OwnerLock:
    """This process's (this store's) live-owner token."""

    def __init__(self, lock_dir: Path) -> None:
        lock_dir.mkdir(parents=True, exist_ok=True)
        self.token = uuid.uuid4().hex[:16]
        self.path = lock_dir / f"{self.token}{LOCK_SUFFIX}"
        self._fd: int | None = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        self.locked = _try_lock(self._fd)
        if not self.locked:  # file system without locks: others then see us (and everyone) as alive,
            # so nothing is ever quarantined - safe, just no clean-up
            log.warning("exam store: cannot lock %s; leftovers of crashed writers will not be cleaned up",
                        self.path)

    def release(self) -> None:
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        if sys.platform == "win32":  # an open file cannot be unlinked there
            os.close(fd)
            with contextlib.suppress(OSError):
                self.path.unlink(missing_ok=True)
            return
        try:
            self.path.unlink(missing_ok=True)  # unlink while locked: nobody sees a stale-looking lock of ours
        finally:
            os.close(fd)


def owner_alive(lock_dir: Path, token: str) -> bool:
    """True while the store that created ``token`` is open (in any process)."""
    path = lock_dir / f"{token}{LOCK_SUFFIX}"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return False
    try:
        if not _try_lock(fd):
            return True
        if sys.platform != "win32":  # stale: remove it while we hold its lock
            path.unlink(missing_ok=True)
        return False
    finally:
        os.close(fd)


def other_owners_alive(lock_dir: Path, own_token: str) -> bool:
    """Is any other store open on this data dir? Removes stale lock files on the way."""
    alive = False
    if not lock_dir.is_dir():
        return False
    for p in lock_dir.glob(f"*{LOCK_SUFFIX}"):
        token = p.name[: -len(LOCK_SUFFIX)]
        if token != own_token and owner_alive(lock_dir, token):
            alive = True
    if sys.platform == "win32":  # cannot unlink an open file there: clean stale ones after closing
        for p in lock_dir.glob(f"*{LOCK_SUFFIX}"):
            token = p.name[: -len(LOCK_SUFFIX)]
            if token != own_token and not owner_alive(lock_dir, token):
                with contextlib.suppress(OSError):
                    p.unlink()
    return alive
