"""Lossless pixel files and the crash-safe way they are written.

Stills are PNG (mode ``L`` or ``RGB``, exactly the frame's uint8 pixels).
Clips are a zip archive in NumPy ``.npz`` layout (``np.load`` opens it) with
one deflated ``.npy`` entry per frame, so one frame can be read without
inflating the others and every entry carries its own CRC:

    manifest.json          {"format": "fada_desk.clip", "version": 1, ...}
    timestamps.npy         float64 (n,)  per-frame source timestamps (s)
    source_index.npy       int64 (n,)    per-frame source index, -1 = unknown
    frame_000000.npy ...   uint8 (H, W) or (H, W, 3)

Durability protocol (:class:`MediaWriter`, on :mod:`fada_desk.core.fileio`):
write ``.<name>.part``, fsync it, rename it to its final name, fsync the
directory. Only then may a database row point at the file, so a row never
references a partial file. Every file name carries its writer's owner token
(see ``_locks``), so the next process that opens the store can tell a dead
writer's leftovers (temp files, or files renamed but never committed) from a
live writer's and quarantine only the former.
"""

from __future__ import annotations

import contextlib
import io
import json
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from fada_desk.core.errors import StorageError
from fada_desk.core.fileio import TEMP_SUFFIX, AtomicFile, file_digest, fsync_dir, temp_path

PNG_LEVEL = 3  # measured: ~3x faster than 6 for ~10 % more bytes on ultrasound stills
CLIP_LEVEL = 1  # clips are large: fast deflate, still ~5x smaller than raw
CLIP_FORMAT = "fada_desk.clip"
CLIP_VERSION = 1


def media_name(kind: str, stamp: str, owner: str, rand: str, ext: str) -> str:
    """Final file name; the owner token lets a later process spot leftovers of a dead writer."""
    return f"{kind}_{stamp}_{owner}_{rand}{ext}"


def media_path(media_root: Path, rel: str) -> Path:
    """The file of a stored ``media_path`` (``<exam uid>/<name>``, always ``/``-separated)."""
    return media_root.joinpath(*rel.split("/"))


def temp_name(final_name: str) -> str:
    """The name a file has while being written (:func:`fada_desk.core.fileio.temp_path`)."""
    return temp_path(Path(final_name)).name


def is_temp(name: str) -> bool:
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def owner_of(name: str) -> str | None:
    """Owner token of a media or temp file name made here, else None (foreign file)."""
    if is_temp(name):
        name = name[1:-len(TEMP_SUFFIX)]
    parts = name.split(".")[0].split("_")
    if len(parts) != 4 or parts[0] not in ("IMG", "CLIP") or not parts[2]:
        return None
    return parts[2]


def make_dirs_durable(path: Path, root: Path) -> None:
    """mkdir -p ``path`` below ``root`` and fsync every parent that gained an entry."""
    missing = []
    p = path
    while not p.exists() and p != root and p.parent != p:
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(exist_ok=True)
        fsync_dir(d.parent)


class MediaWriter:
    """Context manager: write ``file``, :meth:`commit` makes it appear as ``final``.

    A :class:`~fada_desk.core.fileio.AtomicFile` that never replaces a file:
    an existing ``final`` is refused with a StorageError. Leaving the block
    without commit (error, cancellation, generator closed) removes the temp
    file; ``final`` never exists half-written.
    """

    def __init__(self, final: Path) -> None:
        try:
            self._atomic = AtomicFile(final, overwrite=False)
        except FileExistsError as exc:
            if final.exists():
                raise StorageError(f"Refusing to overwrite existing media file {final.name}.") from exc
            raise  # a temp file of the same name: an OSError like any other
        self.final = final
        self.file: BinaryIO = self._atomic.file

    def commit(self) -> tuple[str, int]:
        """fsync, rename, fsync the directory; return (sha256, size) of the file."""
        return file_digest(self._atomic.commit())

    def __enter__(self) -> MediaWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self._atomic.__exit__(*exc)


def write_media(final: Path, write: Callable[[BinaryIO], None]) -> tuple[str, int]:
    """Write ``final`` crash-safely with ``write(file)``; return (sha256, size)."""
    with MediaWriter(final) as w:
        write(w.file)
        return w.commit()


# ----------------------------------------------------------------------------- stills

def encode_png(pixels: np.ndarray, f: BinaryIO) -> None:
    from PIL import Image

    # uint8 (H, W) -> mode L, uint8 (H, W, 3) -> mode RGB (Frame guarantees the dtype/shape)
    Image.fromarray(np.ascontiguousarray(pixels)).save(f, format="PNG", compress_level=PNG_LEVEL)


def decode_png(data: bytes, what: str) -> np.ndarray:
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as img:
            if img.format != "PNG" or img.mode not in ("L", "RGB"):
                raise StorageError(f"{what} is not a grey/RGB PNG written by fada_desk "
                                   f"({img.format} {img.mode}).")
            img.load()
            arr = np.array(img, dtype=np.uint8)
    except StorageError:
        raise
    except Exception as exc:  # Pillow raises many types for damaged files
        raise StorageError(f"{what} is damaged and cannot be decoded ({exc}).") from exc
    return arr


# ----------------------------------------------------------------------------- clips

def _npy_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.lib.format.write_array(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def frame_entry(i: int) -> str:
    return f"frame_{i:06d}.npy"


class ClipWriter:
    """Streams frames into a clip archive on an open binary file."""

    def __init__(self, f: BinaryIO, timestamps: np.ndarray, source_index: np.ndarray,
                 shape: tuple[int, ...], fps: float | None) -> None:
        self._zf = zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=CLIP_LEVEL,
                                   allowZip64=True)
        self._shape = shape
        self._n = len(timestamps)
        self._i = 0
        manifest = {"format": CLIP_FORMAT, "version": CLIP_VERSION, "n_frames": self._n,
                    "height": int(shape[0]), "width": int(shape[1]),
                    "channels": 1 if len(shape) == 2 else 3, "fps": fps}
        try:
            self._zf.writestr("manifest.json", json.dumps(manifest))
            self._zf.writestr("timestamps.npy", _npy_bytes(timestamps.astype(np.float64)))
            self._zf.writestr("source_index.npy", _npy_bytes(source_index.astype(np.int64)))
        except BaseException:
            self.__exit__(StorageError)
            raise

    def add(self, pixels: np.ndarray) -> None:
        if pixels.shape != self._shape or pixels.dtype != np.uint8:
            raise StorageError(f"Clip frame {self._i} is {pixels.dtype} {pixels.shape}, the clip is uint8 "
                               f"{self._shape}: all frames of a clip must have the same size.")
        if self._i >= self._n:
            raise StorageError("More clip frames than timestamps.")
        self._zf.writestr(frame_entry(self._i), _npy_bytes(pixels))
        self._i += 1

    def close(self) -> None:
        """Finish the archive (central directory); must follow exactly n :meth:`add` calls."""
        if self._i != self._n:
            raise StorageError(f"Clip has {self._i} frames written, {self._n} expected.")
        self._zf.close()

    def __enter__(self) -> ClipWriter:
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        if exc_type is None:
            self.close()
        else:  # aborting: still close the zip while its file is open (the temp file is discarded)
            with contextlib.suppress(Exception):  # the original error is what matters
                self._zf.close()


class ClipReader:
    """Random access to the frames of a clip archive. Close it (context manager)."""

    def __init__(self, path: Path, what: str) -> None:
        self.what = what
        try:
            self._zf = zipfile.ZipFile(path, "r")
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise StorageError(f"{what} is damaged and cannot be opened ({exc}).") from exc
        try:
            manifest = json.loads(self._zf.read("manifest.json"))
            if manifest.get("format") != CLIP_FORMAT or manifest.get("version") != CLIP_VERSION:
                raise StorageError(f"{what} is not a fada_desk clip (version {manifest.get('version')}).")
            self.n_frames = int(manifest["n_frames"])
            self.timestamps = self._array("timestamps.npy")
            self.source_index = self._array("source_index.npy")
        except BaseException:
            self._zf.close()
            raise

    def _array(self, name: str) -> np.ndarray:
        try:
            data = self._zf.read(name)  # read() verifies the entry's CRC
            return np.lib.format.read_array(io.BytesIO(data), allow_pickle=False)
        except StorageError:
            raise
        except Exception as exc:
            raise StorageError(f"{self.what} is damaged ({name}: {exc}).") from exc

    def frame(self, i: int) -> np.ndarray:
        if not 0 <= i < self.n_frames:
            raise StorageError(f"{self.what} has {self.n_frames} frames; there is no frame {i}.")
        arr = self._array(frame_entry(i))
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3):
            raise StorageError(f"{self.what} frame {i} has unexpected pixels {arr.dtype} {arr.shape}.")
        return arr

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(self.n_frames):
            yield self.frame(i)

    def close(self) -> None:
        self._zf.close()

    def __enter__(self) -> ClipReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
