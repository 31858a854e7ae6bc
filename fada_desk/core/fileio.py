"""Crash-safe file writing and file hashing: the one implementation of each.

A file written here either appears complete under its final name or not at all:
the bytes go to a hidden temporary next to it, are fsynced, renamed over the
final name (atomic on POSIX and NTFS) and the directory is fsynced. Any failure,
cancellation or closed generator removes the temporary. Callers translate
``OSError`` into their own one-line error (``ExportError``, ``StorageError``...).
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from fada_desk.core.cancel import CancelToken

CHUNK = 1 << 20
TEMP_SUFFIX = ".part"


def temp_path(final: Path, tag: str = "") -> Path:
    """The hidden temporary that becomes ``final`` (``.name<tag>.part``, same folder)."""
    return final.with_name(f".{final.name}{tag}{TEMP_SUFFIX}")


def fsync_dir(path: Path) -> None:
    """Make a rename or creation in ``path`` durable (no-op where unsupported)."""
    if sys.platform == "win32":  # NTFS journals metadata; directories cannot be opened for fsync
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class AtomicFile:
    """Context manager: write to ``file``, :meth:`commit` makes it appear as ``final``.

    ``overwrite=False`` refuses (``FileExistsError``) when ``final`` exists, for
    stores that never replace a file. Leaving the block without commit removes
    the temporary; ``final`` is never half-written.
    """

    def __init__(self, final: Path, *, overwrite: bool = True, tag: str = "") -> None:
        final = Path(final)
        if not overwrite and final.exists():
            raise FileExistsError(f"{final} exists")
        self.final = final
        self.tmp = temp_path(final, tag)
        self.file: BinaryIO = open(self.tmp, "wb" if overwrite else "xb")  # noqa: SIM115 - closed in commit/__exit__
        self._done = False

    def commit(self) -> Path:
        """fsync, rename onto ``final``, fsync the folder; return ``final``."""
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        os.replace(self.tmp, self.final)
        self._done = True
        fsync_dir(self.final.parent)
        return self.final

    def __enter__(self) -> AtomicFile:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self._done:
            self.file.close()
            self.tmp.unlink(missing_ok=True)


def atomic_write(final: Path, write: Callable[[BinaryIO], None], *, overwrite: bool = True) -> Path:
    """Write ``final`` crash-safely with ``write(file)``."""
    with AtomicFile(final, overwrite=overwrite) as f:
        write(f.file)
        return f.commit()


def atomic_write_bytes(final: Path, data: bytes) -> Path:
    return atomic_write(final, lambda f: f.write(data))


def atomic_write_text(final: Path, text: str) -> Path:
    return atomic_write_bytes(final, text.encode("utf-8"))


def atomic_write_via_path(final: Path, write: Callable[[Path], None], *, tag: str = "") -> Path:
    """For writers that only take a file name (Pillow, reportlab): ``write(tmp)``, then commit."""
    final = Path(final)
    tmp = temp_path(final, tag)
    try:
        write(tmp)
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return final


def sha256_file(path: Path, *, progress: Callable[[int], None] | None = None,
                cancel: CancelToken | None = None) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (``progress(n_bytes)``, cancellable)."""
    return file_digest(path, progress=progress, cancel=cancel)[0]


def file_digest(path: Path, *, progress: Callable[[int], None] | None = None,
                cancel: CancelToken | None = None) -> tuple[str, int]:
    """(hex SHA-256, size in bytes) of a file."""
    h = hashlib.sha256()
    size = 0
    with open(path, "rb") as f:
        while True:
            if cancel is not None:
                cancel.check()
            chunk = f.read(CHUNK)
            if not chunk:
                break
            h.update(chunk)
            size += len(chunk)
            if progress is not None:
                progress(len(chunk))
    return h.hexdigest(), size


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def size_text(n: int | None) -> str:
    """A file size for people: ``812 B``, ``3.4 MB``, ``1.2 GB`` (``?`` when unknown)."""
    if n is None:
        return "?"
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} GB"
