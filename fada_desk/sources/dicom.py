"""DICOM files (single images and multi-frame cines) through pydicom 3.

Open reads the header only (no pixel data), checks the pixel data against the
file size, decodes frame 0 to prove the file is usable, and keeps the file
open: every later ``read(i)`` decodes exactly frame ``i`` from disk, so a
2 GB cine opens as fast as a single image and never sits in memory whole.

Nothing in a file may crash the process. Header reading is in
:mod:`._dicom_read` (first-bytes check, budgets, damaged preamble/meta read
with ``force``); every attribute is read through :class:`._dicom_attrs.Attrs`
(wrong VR, VM, type or length: "corrupt or unsupported file: <attribute> ...");
the Image Pixel module is validated once and frames decoded with it in
:mod:`._dicom_pixels`, by decoders that raise Python errors - GDCM, whose
codecs abort the process on damaged data, only in a child process
(:mod:`._dicom_codecs`, :mod:`._dicom_worker`). Enhanced multi-frame objects
take calibration (per frame), window and rescale from their functional groups
(:mod:`._dicom_enhanced`). Display conversion (PS3.3: PALETTE COLOR through its
LUT, YBR_* to RGB - pydicom tracks whether the JPEG decoder already converted -,
MONOCHROME via modality LUT, then VOI LUT or window/level, MONOCHROME1
inverted) is in :mod:`._dicom_display`. MPEG-2, H.264 and HEVC transfer
syntaxes (common for ultrasound cines) are decoded by FFmpeg through a
temporary copy of the video stream.
"""

from __future__ import annotations

import os
import tempfile
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from fada_desk.core.calibration import Calibration
from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.core.frame import Frame
from fada_desk.sources import _dicom_codecs, _dicom_enhanced, _dicom_read, dicom_meta
from fada_desk.sources._dicom_attrs import Attrs
from fada_desk.sources._dicom_display import DisplayMapping
from fada_desk.sources._dicom_enhanced import FunctionalGroups
from fada_desk.sources._dicom_layout import PixelLayout, copy_fragments, locate
from fada_desk.sources._dicom_pixels import FrameDecoder, image_pixel
from fada_desk.sources._dicom_read import DICOM_SUFFIXES, has_dicom_magic
from fada_desk.sources.base import FrameSource, SourceInfo, check_frame_index, local_path


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
        self._decoder: FrameDecoder | None = None
        self._data: Any = None
        self._frame_cals: list[Calibration | None] | None = None
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
        _dicom_codecs.configure()
        name, notes = self._name, self._warnings
        header = _dicom_read.read_header(self._fp, name, notes)
        self._ds, self._data = ds, data = header.ds, header.data
        attrs = Attrs(ds, name, notes)
        ts = _dicom_read.transfer_syntax(ds, name, header.transfer_syntax)
        self._ts = ts
        if not ts.is_transfer_syntax:
            # Unknown (newer or private) syntax: even the byte layout of the pixel data is unknown.
            raise UnsupportedFormatError(f"{name}: transfer syntax {_dicom_read.ts_label(ts)} is not supported")
        # A deflated data set was inflated on open: its pixel data is plain Explicit VR Little Endian.
        decode_ts = dcm_uid.ExplicitVRLittleEndian if header.inflated else ts
        if not (attrs.has("Rows") and attrs.has("Columns")):
            self._no_image(attrs)
        px = image_pixel(attrs)
        self._rows, self._cols = px.rows, px.cols
        self._photometric = px.photometric
        self._bits_allocated, self._bits_stored = px.bits_allocated, px.bits_stored
        layout = locate(data, header.pixel_pos, decode_ts.is_implicit_VR, decode_ts.is_little_endian, name)
        if layout is None:
            raise SourceError(f"{name}: DICOM file contains no pixel data")
        n_frames = px.frames
        if ts in dcm_uid.MPEGTransferSyntaxes:
            n_frames = self._setup_video(layout, n_frames)
        else:
            self._check_encoding(layout, decode_ts)
            n_frames = _dicom_read.check_layout(px.expected_bytes(), layout, n_frames, allow_truncated, name,
                                                notes)
            px = replace(px, frames=n_frames)
            eot = self._extended_offsets(attrs)
            self._decoder = FrameDecoder(data, layout, px, decode_ts, name, notes, eot)
        self._n_frames = n_frames

        groups = FunctionalGroups(attrs, n_frames)
        window_attrs = rescale_attrs = None
        if groups.present and not attrs.has("WindowCenter"):
            window_attrs = groups.macro(0, "FrameVOILUTSequence", "WindowCenter")
        if groups.present and not attrs.has("RescaleSlope"):
            rescale_attrs = groups.macro(0, "PixelValueTransformationSequence", "RescaleSlope")
        self._mapping = DisplayMapping(attrs, px, window, window_attrs, rescale_attrs)
        if self._video is not None:
            first_px = self._video.read(0).pixels
        else:
            first_raw = self._decode_raw(0)
            self._mapping.fit_range(first_raw)
            first_px = self._mapping.display(first_raw)

        cal, cal_from, cal_warnings = dicom_meta.calibration(attrs, self._cols, self._rows)
        notes.extend(w for w in cal_warnings if w not in notes)
        if cal is None:
            per_frame, cal_from = _dicom_enhanced.calibrations(groups, n_frames, self._cols, self._rows)
            if per_frame:
                cal = per_frame[0]
                if len({id(c) for c in per_frame}) > 1:
                    self._frame_cals = per_frame
                    cal_from += " (per frame)"
        self._calibration: Calibration | None = cal
        fps, times, fps_from = dicom_meta.frame_timing(attrs, n_frames)
        self._fps, self._times = fps, times
        meta = self._metadata(attrs, ts, n_frames, cal_from, fps_from, header.forced)
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

    def _no_image(self, attrs: Attrs) -> None:
        from pydicom import uid as dcm_uid

        name = self._name
        sop = attrs.uid("SOPClassUID", strict=False)
        kind = dcm_uid.UID(sop).name if sop else ""
        if len(attrs.ds) == 0:
            raise SourceError(f"{name}: DICOM file is empty or truncated (no data after the file header)")
        if "Image" in kind:
            raise SourceError(f"{name}: {kind} without an image description (file truncated?)")
        raise SourceError(f"{name}: DICOM file has no image" + (f" ({kind})" if kind else ""))

    def _check_encoding(self, layout: PixelLayout, ts: Any) -> None:
        """The pixel data element must be encoded as the transfer syntax says (compressed or not)."""
        if layout.encapsulated and not ts.is_encapsulated:
            raise SourceError(f"{self._name}: corrupt or unsupported file: the pixel data is compressed "
                              f"but the transfer syntax is {ts.name}")
        if not layout.encapsulated and ts.is_encapsulated:
            raise SourceError(f"{self._name}: corrupt or unsupported file: the transfer syntax is {ts.name} "
                              "but the pixel data is not compressed")
        if not layout.encapsulated and bool(layout.vr) == ts.is_implicit_VR:
            found = "explicit" if layout.vr else "implicit"
            self._warnings.append(f"pixel data element is {found} VR, the transfer syntax says otherwise: read as found")

    def _extended_offsets(self, attrs: Attrs) -> tuple[bytes, bytes] | None:
        if not attrs.has("ExtendedOffsetTable"):
            return None
        offsets, lengths = attrs.raw("ExtendedOffsetTable"), attrs.raw("ExtendedOffsetTableLengths")
        if not isinstance(offsets, bytes) or not isinstance(lengths, bytes) or len(offsets) != len(lengths):
            raise attrs.corrupt("ExtendedOffsetTable", "does not match Extended Offset Table Lengths")
        return offsets, lengths

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
        if decoded != n_frames and Attrs(self._ds, self._name).has("NumberOfFrames"):
            self._warnings.append(f"Number of Frames says {n_frames}, the video stream has {decoded}")
        return decoded

    # -- display mapping ------------------------------------------------------
    @property
    def window(self) -> tuple[float, float] | None:
        """(center, width) in use for grey images, None when a VOI LUT or auto range applies."""
        return self._mapping.window

    def set_window(self, center: float | None, width: float | None = None) -> None:
        """Override window/level for grey images (None, None: back to the file's own)."""
        with self._lock:
            self._mapping.set_window(center, width)
            self._last = None

    # -- decoding -----------------------------------------------------------
    def _decode_raw(self, index: int) -> np.ndarray:
        assert self._decoder is not None
        return self._decoder.decode(index)

    # -- FrameSource ----------------------------------------------------------
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
            calibration=self._frame_cals[index] if self._frame_cals else self._calibration,
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
                px = self._mapping.display(self._decode_raw(index))
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

    def _metadata(self, attrs: Attrs, ts: Any, n_frames: int, cal_from: str, fps_from: str,
                  forced: str) -> dict[str, Any]:
        meta = dicom_meta.summary(attrs)
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
        mapping = self._mapping
        if mapping.window is not None or mapping.auto_range is not None:
            meta["display_window"] = {
                "from": mapping.window_from,
                "center_width": list(mapping.window) if mapping.window else None,
                "range": list(mapping.auto_range) if mapping.auto_range else None,
            }
        if fps_from:
            meta["fps_from"] = fps_from
        if cal_from:
            meta["calibration_from"] = cal_from
        if self._video is not None:
            meta["decoded_with"] = "ffmpeg"
        elif self._decoder is not None and ts.is_encapsulated:
            meta["decoded_with"] = self._decoder.decoded_with
        if forced:
            meta["read_with_force"] = forced
        if self._warnings:
            meta["warnings"] = list(self._warnings)
        return meta

    def close(self) -> None:
        lock = getattr(self, "_lock", None)
        if lock is None:
            return
        with lock:
            self._closed = True
            if self._decoder is not None:
                self._decoder.close()
                self._decoder = None
            if self._data is not None and self._data is not getattr(self, "_fp", None):
                self._data.close()  # the inflated data set of a deflated file
            self._data = None
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
