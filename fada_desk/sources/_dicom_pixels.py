"""The Image Pixel description, validated once, and decoding one frame from disk.

:func:`image_pixel` reads the attributes every decoder depends on (rows,
columns, samples, bits, photometric interpretation...) through the one
validating accessor, checks that they agree with each other and with the
pixel and byte budgets. :class:`FrameDecoder` then decodes frame ``i`` from
the open file with *those* values (pydicom's decoder is handed them as
options; it never re-reads the header), through the decoders chosen by
:mod:`._dicom_codecs` - in this process, or GDCM in a child process.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import _dicom_codecs, _limits
from fada_desk.sources._dicom_attrs import Attrs
from fada_desk.sources._dicom_layout import PixelLayout
from fada_desk.sources._dicom_read import WarningRecorder, frame_count, reason

GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "YBR_PARTIAL_422")
SUPPORTED_PHOTOMETRIC = (*GREY, "PALETTE COLOR", *COLOUR)


@dataclass(frozen=True)
class ImagePixel:
    rows: int
    cols: int
    samples: int
    photometric: str
    bits_allocated: int
    bits_stored: int
    signed: bool
    planar: int
    frames: int

    def frame_bytes(self, native: bool) -> int:
        """Bytes of one frame as stored natively (YBR_FULL_422 holds 2 samples per pixel)."""
        pixels = self.rows * self.cols
        samples = 2 if native and self.photometric == "YBR_FULL_422" else self.samples
        if self.bits_allocated == 1:
            return (pixels * samples + 7) // 8
        return pixels * samples * (self.bits_allocated // 8)

    def expected_bytes(self) -> int:
        """Native pixel data length for all frames (bit-packed data is packed across frames)."""
        if self.bits_allocated == 1:
            return (self.rows * self.cols * self.samples * self.frames + 7) // 8
        return self.frame_bytes(True) * self.frames

    def options(self, ts: Any) -> dict[str, Any]:
        """pydicom decoder options (the keys of ``pydicom.pixels.utils.as_pixel_options``)."""
        opts: dict[str, Any] = {
            "rows": self.rows,
            "columns": self.cols,
            "samples_per_pixel": self.samples,
            "photometric_interpretation": self.photometric,
            "bits_allocated": self.bits_allocated,
            "bits_stored": self.bits_stored,
            "pixel_representation": int(self.signed),
            "number_of_frames": self.frames,
            "transfer_syntax_uid": ts,
            "pixel_keyword": "PixelData",
        }
        if self.samples > 1:
            opts["planar_configuration"] = self.planar
        return opts


def image_pixel(attrs: Attrs) -> ImagePixel:
    """The validated Image Pixel module of the data set behind ``attrs``."""
    name = attrs.name
    photometric = attrs.text("PhotometricInterpretation", upper=True) or ""
    if photometric not in SUPPORTED_PHOTOMETRIC:
        raise UnsupportedFormatError(
            f"{name}: photometric interpretation {photometric or '(missing)'!r} is not supported"
        )
    rows = attrs.integer("Rows", lo=1, hi=65535)
    cols = attrs.integer("Columns", lo=1, hi=65535)
    if rows is None or cols is None:
        raise attrs.corrupt("Rows" if rows is None else "Columns", "is missing")
    samples = attrs.integer("SamplesPerPixel", lo=1, hi=4)
    want = 3 if photometric in COLOUR else 1
    if samples is None:
        samples = want
    if samples != want:
        raise attrs.corrupt("SamplesPerPixel", f"is {samples}, but a {photometric} image has {want}")
    bits_allocated = attrs.integer("BitsAllocated")
    if bits_allocated is None:
        raise attrs.corrupt("BitsAllocated", "is missing")
    if bits_allocated not in (1, 8, 16, 32):
        raise UnsupportedFormatError(f"{name}: {bits_allocated} bits allocated per sample is not supported")
    bits_stored = attrs.integer("BitsStored", lo=1, hi=bits_allocated)
    signed = attrs.integer("PixelRepresentation", lo=0, hi=1) or 0
    planar = (attrs.integer("PlanarConfiguration", lo=0, hi=1) or 0) if samples > 1 else 0
    frames = frame_count(attrs)
    _limits.check_frame(name, cols, rows, samples, max(1, bits_allocated // 8))
    return ImagePixel(
        rows,
        cols,
        samples,
        photometric,
        bits_allocated,
        bits_stored or bits_allocated,
        bool(signed),
        planar,
        frames,
    )


class FrameDecoder:
    """Decodes frame ``i`` of one file: native bytes, or one compressed frame through the plan's decoders."""

    def __init__(
        self,
        data: BinaryIO,
        layout: PixelLayout,
        px: ImagePixel,
        ts: Any,
        name: str,
        notes: list[str],
        extended_offsets: tuple[bytes, bytes] | None = None,
    ) -> None:
        from pydicom.pixels import get_decoder

        self._data, self._layout, self._px, self._ts, self._name = data, layout, px, ts, name
        self._notes = notes
        self._decoder = get_decoder(ts)
        self._plan = _dicom_codecs.plan(ts, px.bits_stored, name) if layout.encapsulated else None
        self._opts = px.options(ts)
        self._eot = extended_offsets
        self._worker: Any = None

    @property
    def decoded_with(self) -> str:
        return self._plan.label if self._plan is not None else "pydicom"

    def decode(self, index: int) -> np.ndarray:
        """Stored values of frame ``index``: (rows, cols) or (rows, cols, samples)."""
        with WarningRecorder() as rec:
            try:
                arr = self._encapsulated(index) if self._layout.encapsulated else self._native(index)
            except SourceError:
                raise
            except MemoryError:
                raise SourceError(f"{self._name}: cannot decode frame {index} (not enough memory)") from None
            except Exception as err:  # noqa: BLE001 - decoders raise anything on damaged data
                raise SourceError(f"{self._name}: cannot decode frame {index} ({reason(err)})") from None
        self._notes.extend(m for m in rec.messages if m not in self._notes)
        if arr.ndim == 3 and arr.shape[2] == 1:
            arr = arr[:, :, 0]
        if arr.ndim not in (2, 3) or arr.shape[:2] != (self._px.rows, self._px.cols):
            raise SourceError(f"{self._name}: frame {index} decoded to an unexpected shape {arr.shape}")
        return arr

    def _native(self, index: int) -> np.ndarray:
        self._data.seek(self._layout.value_offset)
        opts = dict(self._opts, pixel_keyword=self._layout.keyword)
        if self._layout.vr:
            opts["pixel_vr"] = self._layout.vr  # 8-bit big endian data written as OW is byte-swapped
        arr, _ = self._decoder.as_array(self._data, index=index, validate=True, raw=False, **opts)
        return arr

    def _frame_bytes(self, index: int) -> bytes:
        from pydicom.encaps import get_frame

        self._data.seek(self._layout.value_offset)
        return bytes(
            get_frame(self._data, index, number_of_frames=self._px.frames, extended_offsets=self._eot)
        )

    def _encapsulated(self, index: int) -> np.ndarray:
        from pydicom.encaps import encapsulate

        assert self._plan is not None
        frame = self._frame_bytes(index)
        px = self._px
        _dicom_codecs.check_codestream(frame, px.rows, px.cols, px.samples, index, self._name)
        opts = dict(self._opts, number_of_frames=1)
        if self._plan.isolated:
            if self._worker is None:
                from fada_desk.sources._dicom_worker import IsolatedDecoder

                self._worker = IsolatedDecoder(self._name)
            return self._worker.decode(frame, opts, index)
        single = encapsulate([frame])
        failures: list[str] = []
        for plugin in self._plan.plugins:
            try:
                arr, _ = self._decoder.as_array(
                    single, index=0, validate=True, raw=False, decoding_plugin=plugin, **opts
                )
                return arr
            except MemoryError:
                raise
            except Exception as err:  # noqa: BLE001 - try the next decoder, report the first failure
                failures.append(f"{plugin}: {reason(err)}")
        raise SourceError(
            f"{self._name}: cannot decode frame {index} ({failures[0] if failures else 'no decoder'})"
        )

    def close(self) -> None:
        if self._worker is not None:
            self._worker.close()
            self._worker = None
