"""Reading a DICOM header safely, before any pixel is decoded (used by :mod:`fada_desk.sources.dicom`).

The first bytes decide what the file is (:mod:`._dicom_sniff`: a zero-filled
or non-DICOM file is refused there); pydicom then reads the header up to the
pixel data with ``force`` (so a damaged preamble or meta header is read
around, and the source says so), under a per-element guard that refuses
zero-filled regions, scrambled element order and headers over the byte
budget; values over 1 MiB are deferred. A deflated data set is inflated
within its budget. The transfer syntax, frame count and pixel-data length
are checked, so that a file that cannot be shown fails at open with one line
saying why. Library warnings (non-conformant files are common) are recorded,
not printed: they end up in ``info.metadata["warnings"]``. ``name`` in every
function is the file name the messages start with.
"""

from __future__ import annotations

import io
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import _dicom_sniff, _limits
from fada_desk.sources._dicom_attrs import Attrs
from fada_desk.sources._dicom_layout import PIXEL_TAGS, PixelLayout

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".dc3", ".ima"})


def has_dicom_magic(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def reason(err: BaseException) -> str:
    """One line from an exception; pydicom's "all plugins failed:" headline gets the first reason appended."""
    lines = [ln.strip() for ln in str(err).strip().splitlines() if ln.strip()]
    if not lines:
        return type(err).__name__
    text = lines[0]
    if text.endswith(":") and len(lines) > 1:
        text = f"{text} {lines[1]}"
    return text[:240]


# warnings.catch_warnings swaps process-global state: never let two of ours interleave.
_WARNINGS_LOCK = threading.RLock()


class WarningRecorder:
    """Collects library warnings inside a ``with`` block into :attr:`messages` (no duplicates)."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __enter__(self) -> WarningRecorder:
        _WARNINGS_LOCK.acquire()
        self._ctx = warnings.catch_warnings(record=True)
        self._caught = self._ctx.__enter__()
        warnings.simplefilter("always")
        return self

    def __exit__(self, *exc: Any) -> None:
        try:
            self._ctx.__exit__(*exc)
        finally:
            _WARNINGS_LOCK.release()
        for w in self._caught:
            msg = reason(w.message) if isinstance(w.message, BaseException) else str(w.message)
            if msg not in self.messages:
                self.messages.append(msg)


class _Refuse(Exception):
    """Raised from the parser's per-element callback: the header is damaged or over budget."""


class _Guard:
    """pydicom's ``stop_when``: stop at the pixel data; refuse zero-filled, disordered or oversized headers."""

    def __init__(self, fp: Any, base: int) -> None:
        self._fp, self._base = fp, base
        self._last = -1
        self._disorder = self._count = self._bytes = 0

    def __call__(self, tag: int, vr: str | None, length: int) -> bool:
        tag = int(tag)
        if tag in PIXEL_TAGS:
            return True
        if tag >> 16 == 0:
            at = self._base + self._fp.tell()
            raise _Refuse(f"zero bytes (or a command element) inside the data set near byte {at:,} "
                          "(an interrupted copy?)")
        self._count += 1
        if self._count > _limits.MAX_HEADER_ELEMENTS:
            raise _Refuse(f"the header has more than {_limits.MAX_HEADER_ELEMENTS:,} elements")
        if tag <= self._last:
            self._disorder += 1
            if self._disorder > 64:
                raise _Refuse("the header's elements are out of order (damaged data)")
        self._last = max(self._last, tag)
        if length != 0xFFFFFFFF and length <= _limits.DEFER_VALUE_BYTES:
            self._bytes += length
            if self._bytes > _limits.MAX_HEADER_BYTES:
                raise _Refuse(f"the header holds more than {_limits.MAX_HEADER_BYTES >> 20} MiB of values")
        return False


@dataclass
class Header:
    """The data set up to the pixel data and where to find the rest.

    ``data``: the file object the pixel data is read from (the file itself, or the
    inflated data set of a deflated file); ``pixel_pos``: where in ``data`` the pixel
    data element starts; ``forced``: why the file needed pydicom's ``force`` ("" when
    standard); ``transfer_syntax``: the UID the meta bytes name ("" when none);
    ``inflated``: the data set was deflated (``data`` holds it inflated: explicit VR LE).
    """

    ds: Any
    data: Any
    pixel_pos: int
    forced: str = ""
    transfer_syntax: str = ""
    inflated: bool = False


def file_size(fp: BinaryIO) -> int:
    try:
        return os.fstat(fp.fileno()).st_size
    except (AttributeError, OSError, ValueError):
        return fp.seek(0, os.SEEK_END)


def read_header(fp: BinaryIO, name: str, notes: list[str]) -> Header:
    """The header of ``fp`` (any preamble/meta damage pydicom can read around), never its pixel data."""
    size = file_size(fp)
    start = _dicom_sniff.sniff(fp, size, name)
    if start.meta and start.transfer_syntax == _dicom_sniff.DEFLATED:
        return _read_deflated(fp, start, name, notes)
    view: Any = fp if start.offset == 0 else _dicom_sniff.OffsetFile(fp, start.offset)
    ds = _parse(view, start.offset, name, notes)
    header = Header(ds, fp, view.tell() + start.offset, start.forced, start.transfer_syntax)
    if start.forced:
        _check_looks_dicom(ds, name)
        notes.append(f"not a standard DICOM file ({start.forced}): read with force")
    return header


def _parse(view: Any, base: int, name: str, notes: list[str]) -> Any:
    from pydicom.filereader import read_partial

    view.seek(0)
    with WarningRecorder() as rec:
        try:
            ds = read_partial(view, stop_when=_Guard(view, base), defer_size=_limits.DEFER_VALUE_BYTES, force=True)
        except _Refuse as why:
            raise SourceError(f"{name}: corrupt or unsupported file: {why}") from None
        except MemoryError:
            raise SourceError(f"{name}: corrupt or unsupported file: the header does not fit in memory") from None
        except Exception as err:  # noqa: BLE001 - a damaged header can make the parser fail in any way
            raise SourceError(f"{name}: corrupt or truncated DICOM header ({reason(err)})") from None
    notes.extend(m for m in rec.messages if m not in notes)
    return ds


def _check_looks_dicom(ds: Any, name: str) -> None:
    """A data set read with force must name its SOP class or have an image size to count as DICOM."""
    attrs = Attrs(ds, name)
    try:
        looks = bool(attrs.has("SOPClassUID") or (attrs.has("Rows") and attrs.has("Columns")))
    except Exception:  # noqa: BLE001
        looks = False
    if not looks or len(ds) < 2:
        raise UnsupportedFormatError(f"{name}: not a DICOM file")


def _read_deflated(fp: BinaryIO, start: _dicom_sniff.Start, name: str, notes: list[str]) -> Header:
    """Deflated Explicit VR LE: inflate (within the byte budget) into memory, then read like any file."""
    import zlib

    limit = _limits.MAX_INFLATED_BYTES
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    out = io.BytesIO()
    fp.seek(start.dataset_offset)
    try:
        while not inflater.eof:
            chunk = inflater.unconsumed_tail or fp.read(1 << 20)
            if not chunk:
                break
            out.write(inflater.decompress(chunk, 1 << 24))
            if out.tell() > limit:
                raise SourceError(
                    f"{name}: corrupt or unsupported file: the deflated data set inflates to more than "
                    f"{limit >> 20} MiB (a decompression bomb?)"
                )
    except zlib.error as err:
        raise SourceError(f"{name}: corrupt deflated DICOM ({reason(err)})") from None
    # The file meta (never deflated) read on its own; the pixel data is then read from the
    # inflated bytes, which are plain Explicit VR Little Endian.
    fp.seek(0)
    meta = _parse(io.BytesIO(fp.read(start.dataset_offset)), 0, name, notes).file_meta
    data = io.BytesIO(out.getvalue())
    out.close()
    ds = _parse(data, 0, name, notes)
    ds.file_meta = meta
    return Header(ds, data, data.tell(), "", start.transfer_syntax, inflated=True)


def transfer_syntax(ds: Any, name: str, hint: str = "") -> Any:
    """The file's transfer syntax UID (from the file meta, the salvaged hint, else as pydicom guessed)."""
    from pydicom import uid as dcm_uid

    meta = getattr(ds, "file_meta", None)
    ts = Attrs(meta, name).uid("TransferSyntaxUID") if meta is not None else None
    if ts or hint:
        return dcm_uid.UID(ts or hint)
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return dcm_uid.ImplicitVRLittleEndian
    return dcm_uid.ExplicitVRLittleEndian if little else dcm_uid.ExplicitVRBigEndian


def ts_label(ts: Any) -> str:
    return f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)


def frame_count(attrs: Attrs) -> int:
    n = attrs.integer("NumberOfFrames")
    if n is None:
        return 1
    if n <= 0:
        raise SourceError(f"{attrs.name}: DICOM file contains no frames (Number of Frames = {n})")
    return n


def check_layout(expected: int, layout: PixelLayout, n_frames: int, allow_truncated: bool, name: str,
                 notes: list[str]) -> int:
    """The number of frames the pixel data really holds; SourceError for damaged or cut-off data.

    ``expected`` is the native pixel data length the header describes. A cut-off
    native cine opens with its complete frames only if ``allow_truncated``.
    """
    if layout.encapsulated:
        if not layout.fragments:
            raise SourceError(f"{name}: DICOM file contains no compressed frames")
        if not layout.complete:
            raise SourceError(f"{name}: file is truncated or damaged inside the compressed pixel data")
        if len(layout.fragments) < n_frames:
            # Fewer fragments than frames is impossible (one frame needs at least one fragment).
            raise SourceError(
                f"{name}: pixel data holds {len(layout.fragments)} fragments for {n_frames} frames"
            )
        return n_frames
    if layout.available >= expected:
        return n_frames
    per_frame = expected // n_frames if n_frames and expected % n_frames == 0 else 0
    complete = layout.available // per_frame if per_frame else 0
    if allow_truncated and complete >= 1:
        notes.append(f"file truncated: {complete} of {n_frames} frames are complete")
        return int(complete)
    raise SourceError(
        f"{name}: file is truncated (pixel data has {layout.available:,} of "
        f"{expected:,} bytes; {complete} of {n_frames} frames complete)"
    )
