"""DICOM files (single images and multi-frame cines) through pydicom 3.

Open reads the header only (no pixel data), checks the pixel data against the
file size, decodes frame 0 to prove the file is usable, and keeps the file
open: every later ``read(i)`` decodes exactly frame ``i`` from disk, so a
2 GB cine opens as fast as a single image and never sits in memory whole.

Display conversion follows PS3.3: PALETTE COLOR through its LUT, YBR_* to RGB
(pydicom tracks whether the JPEG decoder already converted), MONOCHROME via
modality LUT, then VOI LUT or window/level, MONOCHROME1 inverted. MPEG-2,
H.264 and HEVC transfer syntaxes (common for ultrasound cines) are decoded by
FFmpeg through a temporary copy of the video stream.
"""

from __future__ import annotations

import math
import os
import tempfile
import threading
import warnings
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.core.frame import Frame
from fada_desk.sources import _convert, _dicom_meta
from fada_desk.sources._dicom_layout import PixelLayout, copy_fragments, locate
from fada_desk.sources.base import FrameSource, SourceInfo, check_frame_index, local_path

DICOM_SUFFIXES = frozenset({".dcm", ".dicom", ".dic", ".dc3", ".ima"})
GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "YBR_PARTIAL_422")
SUPPORTED_PHOTOMETRIC = (*GREY, "PALETTE COLOR", *COLOUR)


def has_dicom_magic(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            f.seek(128)
            return f.read(4) == b"DICM"
    except OSError:
        return False


def _short(err: BaseException) -> str:
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


class _Recorder:
    """Collects library warnings (non-conformant files are common) instead of printing them.

    They end up in ``info.metadata["warnings"]``, where the user and support can see them.
    """

    def __init__(self) -> None:
        self.messages: list[str] = []

    def __enter__(self) -> _Recorder:
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
            msg = _short(w.message) if isinstance(w.message, BaseException) else str(w.message)
            if msg not in self.messages:
                self.messages.append(msg)


class DicomSource(FrameSource):
    """A DICOM image or cine.

    ``window=(center, width)`` overrides the file's window for grey images;
    ``allow_truncated=True`` opens a cut-off native cine with the frames that
    are complete (reported in ``info.metadata["warnings"]``) instead of refusing it.
    """

    kind = "dicom"

    @classmethod
    def probe(cls, uri: str) -> int:
        path = local_path(uri)
        if path is None or not path.is_file():
            return 0
        if has_dicom_magic(path):
            return 70
        # Suffix only (no "DICM" marker): below an image's magic bytes, so a PNG renamed .dcm still opens.
        return 25 if path.suffix.lower() in DICOM_SUFFIXES else 0

    def __init__(
        self, uri: str | Path, window: tuple[float, float] | None = None, allow_truncated: bool = False
    ) -> None:
        self._path = Path(uri)
        self._name = self._path.name
        if not self._path.exists():
            raise SourceError(f"{self._path}: no such file")
        if not self._path.is_file():
            raise SourceError(f"{self._path}: not a DICOM file (it is a folder)")
        self._lock = threading.Lock()
        self._closed = False
        self._video: Any = None
        self._video_tmp: str | None = None
        self._full_ds: Any = None
        self._last: Frame | None = None
        self._warnings: list[str] = []
        try:
            self._fp: BinaryIO | None = self._path.open("rb")
        except PermissionError:
            raise SourceError(f"{self._path}: permission denied") from None
        except OSError as err:
            raise SourceError(f"{self._path}: cannot open ({err.strerror or err})") from None
        try:
            self._setup(window, allow_truncated)
        except BaseException:
            self.close()
            raise

    # -- open ------------------------------------------------------------------
    def _setup(self, window: tuple[float, float] | None, allow_truncated: bool) -> None:
        from pydicom import uid as dcm_uid

        assert self._fp is not None
        ds, pixel_pos = self._read_header()
        self._ds = ds
        ts = self._transfer_syntax(ds)
        self._ts = ts
        if not ts.is_transfer_syntax:
            # Unknown (newer or private) syntax: even the byte layout of the pixel data is unknown.
            raise UnsupportedFormatError(
                f"{self._name}: transfer syntax {self._ts_label(ts)} is not supported"
            )
        rows, cols = ds.get("Rows"), ds.get("Columns")
        if not rows or not cols:
            what = _dicom_meta.plain(ds.get("SOPClassUID"))
            kind = dcm_uid.UID(what).name if what else ""
            if len(ds) == 0:
                raise SourceError(
                    f"{self._name}: DICOM file is empty or truncated (no data after the file header)"
                )
            if "Image" in kind:
                raise SourceError(f"{self._name}: {kind} without an image description (file truncated?)")
            raise SourceError(f"{self._name}: DICOM file has no image" + (f" ({kind})" if kind else ""))
        self._rows, self._cols = int(rows), int(cols)
        deflated = ts == dcm_uid.DeflatedExplicitVRLittleEndian
        if deflated:
            # The dataset is one zlib stream: no byte offsets to check; read it whole (rare, small files).
            layout = None
        else:
            layout = locate(self._fp, pixel_pos, ts.is_implicit_VR, ts.is_little_endian, self._name)
            if layout is None:
                raise SourceError(f"{self._name}: DICOM file contains no pixel data")
        n_frames = self._frame_count(ds)
        photometric = str(ds.get("PhotometricInterpretation", "")).strip().upper()
        self._photometric = photometric
        self._bits_allocated = int(ds.get("BitsAllocated") or 0)
        self._bits_stored = int(ds.get("BitsStored") or self._bits_allocated or 8)
        if photometric not in SUPPORTED_PHOTOMETRIC:
            raise UnsupportedFormatError(
                f"{self._name}: photometric interpretation {photometric or '(missing)'!r} is not supported"
            )

        if layout is None:
            self._check_decoder(ts)
            self._full_ds = self._read_full()
        elif ts in dcm_uid.MPEGTransferSyntaxes:
            n_frames = self._setup_video(layout, n_frames)
        else:
            self._check_decoder(ts)
            n_frames = self._check_layout(ds, layout, n_frames, allow_truncated)
        self._n_frames = n_frames

        self._palette: np.ndarray | None = self._build_palette(ds) if photometric == "PALETTE COLOR" else None
        self._window: tuple[float, float] | None = None
        self._voi_fn = str(ds.get("VOILUTFunction") or "LINEAR").upper()
        self._auto_range: tuple[float, float] | None = None
        self._modality = self._has_modality_transform(ds)
        if photometric in GREY:
            self._window = self._file_window(ds) if window is None else (float(window[0]), float(window[1]))
        if window is not None and photometric in GREY:
            self._window_from = "user"
        else:
            self._window_from = "file" if self._window else ""

        if self._video is not None:
            first_px = self._video.read(0).pixels
        else:
            first_raw = self._decode_raw(0)
            if (
                photometric in GREY
                and self._window is None
                and not ds.get("VOILUTSequence")
                and not self._is_plain_8bit(first_raw)
            ):
                self._auto_range = self._default_range(ds, first_raw)
                self._window_from = "auto"
            first_px = self._display(first_raw)

        cal, cal_from, cal_warnings = _dicom_meta.calibration(ds, self._cols, self._rows)
        self._calibration: Calibration | None = cal
        self._warnings.extend(cal_warnings)
        fps, times, fps_from = _dicom_meta.frame_timing(ds, n_frames)
        self._fps, self._times = fps, times
        meta = self._metadata(ds, ts, n_frames, cal_from, fps_from)
        self._info = SourceInfo(
            kind=self.kind,
            uri=str(self._path),
            width=int(first_px.shape[1]),
            height=int(first_px.shape[0]),
            frame_count=n_frames,
            fps=fps,
            calibration=cal,
            metadata=meta,
        )
        self._last = self._make_frame(0, first_px)

    def _read_header(self) -> tuple[Any, int]:
        """Header up to the pixel data; tolerant of files without the 128-byte preamble."""
        import pydicom
        from pydicom.errors import InvalidDicomError

        assert self._fp is not None
        with _Recorder() as rec:
            try:
                ds = pydicom.dcmread(self._fp, stop_before_pixels=True)
            except InvalidDicomError:
                ds = self._read_raw_dataset()
            except Exception as err:  # noqa: BLE001 - a damaged header can make the parser fail in any way
                raise SourceError(
                    f"{self._name}: corrupt or truncated DICOM header ({_short(err)})"
                ) from None
        self._warnings.extend(rec.messages)
        return ds, self._fp.tell()

    def _read_raw_dataset(self) -> Any:
        """A dataset without preamble/file meta (old ACR-NEMA style) - only if it really looks like one."""
        import pydicom

        assert self._fp is not None
        self._fp.seek(0)
        try:
            ds = pydicom.dcmread(self._fp, stop_before_pixels=True, force=True)
        except Exception:  # noqa: BLE001 - force-reading random bytes can fail in any way
            raise UnsupportedFormatError(f"{self._name}: not a DICOM file") from None
        try:
            looks_dicom = bool(ds.get("SOPClassUID") or (ds.get("Rows") and ds.get("Columns")))
        except Exception:  # noqa: BLE001
            looks_dicom = False
        if not looks_dicom:
            raise UnsupportedFormatError(f"{self._name}: not a DICOM file")
        return ds

    @staticmethod
    def _transfer_syntax(ds: Any) -> Any:
        from pydicom import uid as dcm_uid

        meta = getattr(ds, "file_meta", None)
        ts = meta.get("TransferSyntaxUID") if meta is not None else None
        if ts:
            return dcm_uid.UID(str(ts).strip())
        implicit, little = getattr(ds, "original_encoding", (True, True))
        if implicit:
            return dcm_uid.ImplicitVRLittleEndian
        return dcm_uid.ExplicitVRLittleEndian if little else dcm_uid.ExplicitVRBigEndian

    def _frame_count(self, ds: Any) -> int:
        raw = ds.get("NumberOfFrames")
        if raw is None or raw == "":
            return 1
        try:
            n = int(raw)
        except (TypeError, ValueError):
            raise SourceError(f"{self._name}: invalid Number of Frames {raw!r}") from None
        if n <= 0:
            raise SourceError(f"{self._name}: DICOM file contains no frames (Number of Frames = {n})")
        return n

    @staticmethod
    def _ts_label(ts: Any) -> str:
        return f"{ts.name} ({ts})" if ts.name != str(ts) else str(ts)

    def _check_decoder(self, ts: Any) -> None:
        import importlib.util

        from pydicom import uid as dcm_uid
        from pydicom.pixels import get_decoder

        label = self._ts_label(ts)
        try:
            decoder = get_decoder(ts)
        except NotImplementedError:
            raise UnsupportedFormatError(f"{self._name}: transfer syntax {label} is not supported") from None
        if not decoder.is_available:
            missing = "; ".join(getattr(decoder, "missing_dependencies", []) or [])
            hint = f" ({missing})" if missing else ""
            raise UnsupportedFormatError(f"{self._name}: no decoder installed for {label}{hint}")
        if (
            ts == dcm_uid.JPEGExtended12Bit
            and self._bits_stored > 8
            and importlib.util.find_spec("libjpeg") is None
        ):
            # GDCM and Pillow only decode 8-bit JPEG Extended (GDCM wraps undershoots at 12 bits);
            # the one decoder that handles 12 bits, pylibjpeg-libjpeg, is GPL and not bundled.
            raise UnsupportedFormatError(
                f"{self._name}: 12-bit JPEG Extended images need the optional pylibjpeg-libjpeg decoder"
            )

    def _check_layout(self, ds: Any, layout: PixelLayout, n_frames: int, allow_truncated: bool) -> int:
        from pydicom.pixels.utils import get_expected_length

        if layout.encapsulated:
            if not layout.fragments:
                raise SourceError(f"{self._name}: DICOM file contains no compressed frames")
            if not layout.complete:
                raise SourceError(
                    f"{self._name}: file is truncated or damaged inside the compressed pixel data"
                )
            if len(layout.fragments) < n_frames:
                # Fewer fragments than frames is impossible (one frame needs at least one fragment).
                raise SourceError(
                    f"{self._name}: pixel data holds {len(layout.fragments)} fragments for {n_frames} frames"
                )
            return n_frames
        try:
            expected = int(get_expected_length(ds, "bytes"))
        except (AttributeError, TypeError, ValueError) as err:
            raise SourceError(f"{self._name}: incomplete image description ({_short(err)})") from None
        if layout.available >= expected:
            return n_frames
        per_frame = expected // n_frames if n_frames and expected % n_frames == 0 else 0
        complete = layout.available // per_frame if per_frame else 0
        if allow_truncated and complete >= 1:
            self._warnings.append(f"file truncated: {complete} of {n_frames} frames are complete")
            return int(complete)
        raise SourceError(
            f"{self._name}: file is truncated (pixel data has {layout.available:,} of "
            f"{expected:,} bytes; {complete} of {n_frames} frames complete)"
        )

    def _read_full(self) -> Any:
        import pydicom

        with _Recorder() as rec:
            try:
                ds = pydicom.dcmread(str(self._path))
            except Exception as err:  # noqa: BLE001 - corrupt deflate stream
                raise SourceError(f"{self._name}: corrupt deflated DICOM ({_short(err)})") from None
        self._warnings.extend(rec.messages)
        if "PixelData" not in ds:
            raise SourceError(f"{self._name}: DICOM file contains no pixel data")
        return ds

    def _setup_video(self, layout: PixelLayout, n_frames: int) -> int:
        """MPEG-2 / H.264 / HEVC: hand the elementary stream to FFmpeg via a temp file."""
        from fada_desk.sources.video import VideoSource

        assert self._fp is not None
        if not layout.encapsulated or not layout.fragments:
            raise SourceError(f"{self._name}: video transfer syntax without an encapsulated video stream")
        if not layout.complete:
            raise SourceError(f"{self._name}: file is truncated inside the video stream")
        suffix = (
            ".mpg"
            if "MPEG2" in self._ts.keyword.upper()
            else (".hevc" if "HEVC" in self._ts.keyword.upper() else ".h264")
        )
        try:
            fd, tmp = tempfile.mkstemp(prefix="fada_dicom_", suffix=suffix)
            self._video_tmp = tmp
            with os.fdopen(fd, "wb") as out:
                copy_fragments(self._fp, layout, out)
        except OSError as err:
            raise SourceError(
                f"{self._name}: cannot write a temporary copy of the video stream ({err.strerror or err})"
            ) from None
        try:
            self._video = VideoSource(tmp, exact_seek=True)
        except SourceError:
            raise UnsupportedFormatError(
                f"{self._name}: cannot decode the {self._ts.name} video stream (damaged or unsupported codec)"
            ) from None
        decoded = int(self._video.info.frame_count or 0)
        if decoded != n_frames and self._ds.get("NumberOfFrames") is not None:
            self._warnings.append(f"Number of Frames says {n_frames}, the video stream has {decoded}")
        return decoded

    # -- grey scale ---------------------------------------------------------
    @staticmethod
    def _has_modality_transform(ds: Any) -> bool:
        if ds.get("ModalityLUTSequence"):
            return True
        slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
        try:
            return (slope is not None and float(slope) != 1.0) or (
                intercept is not None and float(intercept) != 0
            )
        except (TypeError, ValueError):
            return False

    def _file_window(self, ds: Any) -> tuple[float, float] | None:
        if ds.get("VOILUTSequence"):
            return None
        c, w = ds.get("WindowCenter"), ds.get("WindowWidth")
        if c is None or w is None or c == "" or w == "":
            return None
        try:
            c0 = float(c[0] if hasattr(c, "__iter__") and not isinstance(c, str) else c)
            w0 = float(w[0] if hasattr(w, "__iter__") and not isinstance(w, str) else w)
        except (TypeError, ValueError, IndexError):
            self._warnings.append("Window Center/Width ignored: not numbers")
            return None
        if not (math.isfinite(c0) and math.isfinite(w0)) or w0 < 1:
            self._warnings.append(f"Window Center/Width ignored: invalid width {w0}")
            return None
        return (c0, w0)

    def _is_plain_8bit(self, raw: np.ndarray) -> bool:
        return raw.dtype == np.uint8 and not self._modality

    def _modality_values(self, raw: np.ndarray) -> np.ndarray:
        if not self._modality:
            return raw
        from pydicom.pixels import apply_modality_lut

        return apply_modality_lut(raw, self._ds)

    def _default_range(self, ds: Any, first_raw: np.ndarray) -> tuple[float, float]:
        """No window in the file: the declared pixel range, else frame 0's range (fixed for the cine)."""
        lo, hi = ds.get("SmallestImagePixelValue"), ds.get("LargestImagePixelValue")
        if isinstance(lo, int | float) and isinstance(hi, int | float) and hi > lo:
            vals = self._modality_values(np.array([lo, hi], dtype=np.float64))
            return (float(np.min(vals)), float(np.max(vals)))
        values = self._modality_values(first_raw)
        return (float(np.min(values)), float(np.max(values)))

    @property
    def window(self) -> tuple[float, float] | None:
        """(center, width) in use for grey images, None when a VOI LUT or auto range applies."""
        return self._window

    def set_window(self, center: float | None, width: float | None = None) -> None:
        """Override window/level for grey images (None, None: back to the file's own)."""
        if self._photometric not in GREY:
            raise SourceError(f"{self._name}: window/level applies to greyscale images only")
        with self._lock:
            if center is None or width is None:
                self._window = self._file_window(self._ds)
            else:
                if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
                    raise SourceError(f"invalid window: center {center}, width {width}")
                self._window = (float(center), float(width))
            self._last = None

    # -- decoding -----------------------------------------------------------
    def _decode_raw(self, index: int) -> np.ndarray:
        from pydicom.pixels import pixel_array

        with _Recorder() as rec:
            try:
                if self._full_ds is not None:
                    arr = pixel_array(self._full_ds, index=index)
                else:
                    assert self._fp is not None
                    arr = pixel_array(self._fp, index=index, transfer_syntax_uid=self._ts)
            except Exception as err:  # noqa: BLE001 - decoders raise anything on damaged data
                raise SourceError(f"{self._name}: cannot decode frame {index} ({_short(err)})") from None
        for m in rec.messages:
            if m not in self._warnings:
                self._warnings.append(m)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or arr.shape[:2] != (self._rows, self._cols):
            raise SourceError(f"{self._name}: frame {index} decoded to an unexpected shape {arr.shape}")
        return arr

    def _display(self, raw: np.ndarray) -> np.ndarray:
        pi = self._photometric
        if pi == "PALETTE COLOR":
            assert self._palette is not None
            return _convert.apply_palette(raw, self._palette, self._palette_first)
        if pi in GREY:
            if raw.ndim != 2:
                raise SourceError(f"{self._name}: {pi} image decoded with {raw.shape[2]} samples per pixel")
            return self._grey(raw)
        if raw.ndim != 3 or raw.shape[2] != 3:
            raise SourceError(f"{self._name}: colour image decoded to shape {raw.shape}")
        if raw.dtype != np.uint8:
            return _convert.finalize(_convert.shift_to_uint8(raw, self._bits_stored))
        return _convert.finalize(raw)

    def _grey(self, raw: np.ndarray) -> np.ndarray:
        if self._window is not None:
            out = _convert.window_to_uint8(self._modality_values(raw), *self._window, function=self._voi_fn)
        elif self._ds.get("VOILUTSequence"):
            from pydicom.pixels import apply_voi

            lut_bits = int(self._ds.VOILUTSequence[0].LUTDescriptor[2])
            out = _convert.lut_to_uint8(apply_voi(self._modality_values(raw), self._ds), lut_bits)
        elif self._auto_range is not None:
            out = _convert.range_to_uint8(self._modality_values(raw), *self._auto_range)
        else:
            out = _convert.finalize(raw.astype(np.uint8, copy=False))
        if self._photometric == "MONOCHROME1":
            out = _convert.invert(out)
        return _convert.finalize(out)

    def _build_palette(self, ds: Any) -> np.ndarray:
        from pydicom.pixels import apply_color_lut

        desc = ds.get("RedPaletteColorLookupTableDescriptor")
        if not desc or len(desc) != 3:
            raise SourceError(f"{self._name}: PALETTE COLOR image without a valid palette descriptor")
        entries, first, bits = int(desc[0]) or 65536, int(desc[1]), int(desc[2])
        self._palette_first = first
        indices = np.arange(first, first + entries, dtype=np.int64)
        dtype = np.uint16 if self._bits_allocated > 8 or first + entries > 256 else np.uint8
        with _Recorder() as rec:
            try:
                table = apply_color_lut(indices.astype(dtype), ds)
            except Exception as err:  # noqa: BLE001 - malformed LUT data
                raise SourceError(f"{self._name}: cannot read the colour palette ({_short(err)})") from None
        self._warnings.extend(m for m in rec.messages if m not in self._warnings)
        table = np.asarray(table).reshape(entries, -1)[:, :3]
        return _convert.lut_to_uint8(table, bits)

    # -- FrameSource ----------------------------------------------------------
    @property
    def info(self) -> SourceInfo:
        return self._info

    @property
    def calibration(self) -> Calibration | None:
        return self._calibration

    def _make_frame(self, index: int, px: np.ndarray) -> Frame:
        if self._times is not None:
            ts = self._times[index]
        else:
            ts = index / self._fps if self._fps else 0.0
        return Frame(
            pixels=px,
            index=index,
            timestamp=ts,
            calibration=self._calibration,
            meta={
                "bits_stored": self._bits_stored,
                "photometric": self._photometric,
                "path": str(self._path),
            },
        )

    def read(self, index: int) -> Frame:
        check_frame_index(self._name, index, self._n_frames)
        with self._lock:
            if self._closed:
                raise SourceError(f"{self._name}: source is closed")
            if self._last is not None and self._last.index == index:
                return self._last
            if self._video is not None:
                px = self._video.read(index).pixels
            else:
                px = self._display(self._decode_raw(index))
            frame = self._make_frame(index, px)
            self._last = frame
            return frame

    def read_raw(self, index: int) -> np.ndarray:
        """Frame ``index`` as stored values (grey: stored integers; colour: RGB), before display mapping.

        For pixel-value work (intensity statistics, re-export without loss).
        Not available for MPEG/H.264/HEVC files, which only exist as decoded video.
        """
        check_frame_index(self._name, index, self._n_frames)
        with self._lock:
            if self._closed:
                raise SourceError(f"{self._name}: source is closed")
            if self._video is not None:
                raise SourceError(f"{self._name}: stored values are not available for {self._ts.name} video")
            return self._decode_raw(index)

    def _metadata(self, ds: Any, ts: Any, n_frames: int, cal_from: str, fps_from: str) -> dict[str, Any]:
        meta = _dicom_meta.summary(ds)
        meta.update(
            {
                "PhotometricInterpretation": self._photometric,
                "TransferSyntaxUID": str(ts),
                "TransferSyntaxName": ts.name,
                "BitsAllocated": self._bits_allocated,
                "BitsStored": self._bits_stored,
                "NumberOfFrames": n_frames,
                "path": str(self._path),
            }
        )
        if self._window is not None or self._auto_range is not None:
            meta["display_window"] = {
                "from": self._window_from,
                "center_width": list(self._window) if self._window else None,
                "range": list(self._auto_range) if self._auto_range else None,
            }
        if fps_from:
            meta["fps_from"] = fps_from
        if cal_from:
            meta["calibration_from"] = cal_from
        if self._video is not None:
            meta["decoded_with"] = "ffmpeg"
        if self._warnings:
            meta["warnings"] = list(self._warnings)
        return meta

    def close(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            self._closed = True
            if self._video is not None:
                self._video.close()
                self._video = None
            if self._video_tmp is not None:
                try:
                    os.unlink(self._video_tmp)
                except OSError:
                    pass
                self._video_tmp = None
            fp = getattr(self, "_fp", None)
            if fp is not None:
                fp.close()
                self._fp = None
