"""Reading a DICOM file safely, before any pixel is decoded (used by :mod:`fada_desk.sources.dicom`).

The header is read up to the pixel data; the transfer syntax, frame count,
available decoder and pixel-data length are checked, so that a file that
cannot be shown fails at open with one line saying why. Library warnings
(non-conformant files are common) are recorded, not printed: they end up in
``info.metadata["warnings"]``. ``name`` in every function is the file name
the messages start with.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any, BinaryIO

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources._dicom_layout import PixelLayout

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


def read_header(fp: BinaryIO, name: str, notes: list[str]) -> tuple[Any, int]:
    """(dataset up to the pixel data, file position there); tolerant of files without the preamble."""
    import pydicom
    from pydicom.errors import InvalidDicomError

    with WarningRecorder() as rec:
        try:
            ds = pydicom.dcmread(fp, stop_before_pixels=True)
        except InvalidDicomError:
            ds = _read_raw_dataset(fp, name)
        except Exception as err:  # noqa: BLE001 - a damaged header can make the parser fail in any way
            raise SourceError(f"{name}: corrupt or truncated DICOM header ({reason(err)})") from None
    notes.extend(rec.messages)
    return ds, fp.tell()


def _read_raw_dataset(fp: BinaryIO, name: str) -> Any:
    """A dataset without preamble/file meta (old ACR-NEMA style) - only if it really looks like one."""
    import pydicom

    fp.seek(0)
    try:
        ds = pydicom.dcmread(fp, stop_before_pixels=True, force=True)
    except Exception:  # noqa: BLE001 - force-reading random bytes can fail in any way
        raise UnsupportedFormatError(f"{name}: not a DICOM file") from None
    try:
        looks_dicom = bool(ds.get("SOPClassUID") or (ds.get("Rows") and ds.get("Columns")))
    except Exception:  # noqa: BLE001
        looks_dicom = False
    if not looks_dicom:
        raise UnsupportedFormatError(f"{name}: not a DICOM file")
    return ds


def read_full(path: Path, name: str, notes: list[str]) -> Any:
    """The whole dataset with its pixel data (deflated files: one zlib stream, no byte offsets)."""
    import pydicom

    with WarningRecorder() as rec:
        try:
            ds = pydicom.dcmread(str(path))
        except Exception as err:  # noqa: BLE001 - corrupt deflate stream
            raise SourceError(f"{name}: corrupt deflated DICOM ({reason(err)})") from None
    notes.extend(rec.messages)
    if "PixelData" not in ds:
        raise SourceError(f"{name}: DICOM file contains no pixel data")
    return ds


def transfer_syntax(ds: Any) -> Any:
    """The file's transfer syntax UID (from the file meta, else as pydicom guessed the encoding)."""
    from pydicom import uid as dcm_uid

    meta = getattr(ds, "file_meta", None)
    ts = meta.get("TransferSyntaxUID") if meta is not None else None
    if ts:
        return dcm_uid.UID(str(ts).strip())
    implicit, little = getattr(ds, "original_encoding", (True, True))
    if implicit:
        return dcm_uid.ImplicitVRLittleEndian
    return dcm_uid.ExplicitVRLittleEndian if little else dcm_uid.ExplicitVRBigEndian


def ts_label(ts: Any) -> str:
    return f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)


def frame_count(ds: Any, name: str) -> int:
    raw = ds.get("NumberOfFrames")
    if raw is None or raw == "":
        return 1
    try:
        n = int(raw)
    except (TypeError, ValueError):
        raise SourceError(f"{name}: invalid Number of Frames {raw!r}") from None
    if n <= 0:
        raise SourceError(f"{name}: DICOM file contains no frames (Number of Frames = {n})")
    return n


def check_decoder(ts: Any, bits_stored: int, name: str) -> None:
    """Refuse a transfer syntax no installed decoder handles (UnsupportedFormatError)."""
    import importlib.util

    from pydicom import uid as dcm_uid
    from pydicom.pixels import get_decoder

    label = ts_label(ts)
    try:
        decoder = get_decoder(ts)
    except NotImplementedError:
        raise UnsupportedFormatError(f"{name}: transfer syntax {label} is not supported") from None
    if not decoder.is_available:
        missing = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
        hint = f" ({missing})" if missing else ""
        raise UnsupportedFormatError(f"{name}: no decoder installed for {label}{hint}")
    if (
        ts == dcm_uid.JPEGExtended12Bit
        and bits_stored > 8
        and importlib.util.find_spec("libjpeg") is None
    ):
        # GDCM and Pillow only decode 8-bit JPEG Extended (GDCM wraps undershoots at 12 bits);
        # the one decoder that handles 12 bits, pylibjpeg-libjpeg, is GPL and not bundled.
        raise UnsupportedFormatError(
            f"{name}: 12-bit JPEG Extended images need the optional pylibjpeg-libjpeg decoder"
        )


def check_layout(ds: Any, layout: PixelLayout, n_frames: int, allow_truncated: bool, name: str,
                 notes: list[str]) -> int:
    """The number of frames the pixel data really holds; SourceError for damaged or cut-off data.

    A cut-off native cine opens with its complete frames only if ``allow_truncated``.
    """
    from pydicom.pixels.utils import get_expected_length

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
    try:
        expected = int(get_expected_length(ds, "bytes"))
    except (AttributeError, TypeError, ValueError) as err:
        raise SourceError(f"{name}: incomplete image description ({reason(err)})") from None
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
