"""Stored DICOM values -> display pixels (used by :mod:`fada_desk.sources.dicom`).

Follows PS3.3: PALETTE COLOR through its LUT; colour samples deeper than 8
bits shifted down; MONOCHROME via the modality LUT (or rescale), then the VOI
LUT, or window/level (the file's, or the user's), or - with neither - a fixed
range (the declared smallest/largest pixel value, else frame 0's range, so a
cine does not flicker); MONOCHROME1 inverted.

Every attribute is read through :class:`._dicom_attrs.Attrs` and the LUTs are
checked against their descriptors before use. Grey conversions run on blocks
of rows (:func:`._convert.blockwise`): no float copy of a whole frame.
"""

from __future__ import annotations

import math

import numpy as np

from fada_desk.core.errors import SourceError
from fada_desk.sources import _convert
from fada_desk.sources._dicom_attrs import Attrs
from fada_desk.sources._dicom_pixels import GREY, SUPPORTED_PHOTOMETRIC, ImagePixel
from fada_desk.sources._dicom_read import WarningRecorder, reason

__all__ = ["GREY", "SUPPORTED_PHOTOMETRIC", "DisplayMapping"]


def _lut(attrs: Attrs, desc_kw: str, data_kw: str, what: str) -> tuple[int, int, int, list[int] | bytes]:
    """(entries, first mapped value, bits per entry, data) of a LUT, checked against its descriptor."""
    desc = attrs.integers(desc_kw, count=3)
    if desc is None:
        raise attrs.corrupt(desc_kw, f"is missing ({what})")
    entries, first, bits = (desc[0] & 0xFFFF) or 65536, desc[1], desc[2]
    if not 8 <= bits <= 16:
        raise attrs.corrupt(desc_kw, f"says {bits} bits per entry, expected 8..16")
    data = attrs.raw(data_kw)
    if data is None:
        raise attrs.corrupt(data_kw, f"is missing ({what})")
    have = len(data) // (2 if bits > 8 else 1) if isinstance(data, bytes) else len(data)
    if isinstance(data, bytes) and bits <= 8 and len(data) >= 2 * entries:
        have = len(data) // 2  # 8-bit entries stored one per 16-bit word (the usual OW encoding)
    if have < entries:
        raise attrs.corrupt(data_kw, f"holds {have} entries, its descriptor says {entries}")
    return entries, first, bits, data


class DisplayMapping:
    """How one image's stored values become uint8 grey/RGB.

    ``attrs`` reads the data set; ``window_attrs`` / ``rescale_attrs`` are where the
    window and rescale are (the data set itself, or an enhanced object's functional
    group item). ``window`` (center, width) is the grey window in use (None when a VOI
    LUT or the fixed range applies); ``window_from`` says where it came from ("user",
    "file", "auto" or ""). Warnings about ignored attributes go to ``attrs.notes``.
    """

    def __init__(self, attrs: Attrs, px: ImagePixel, window: tuple[float, float] | None = None,
                 window_attrs: Attrs | None = None, rescale_attrs: Attrs | None = None) -> None:
        self._attrs = attrs
        self._ds = attrs.ds
        self._name = attrs.name
        self.photometric = px.photometric
        self._bits_stored = px.bits_stored
        self._bits_allocated = px.bits_allocated
        self._wattrs = window_attrs or attrs
        self._palette_first = 0
        self._palette: np.ndarray | None = self._build_palette() if px.photometric == "PALETTE COLOR" else None
        self.window: tuple[float, float] | None = None
        self.auto_range: tuple[float, float] | None = None
        self._voi: tuple[int, bool] | None = None  # (bits per entry, entries hold 8-bit values)
        self._voi_fn = (self._wattrs.text("VOILUTFunction", strict=False, upper=True) or "LINEAR")
        if self._voi_fn not in ("LINEAR", "LINEAR_EXACT", "SIGMOID"):
            attrs.notes.append(f"VOI LUT Function {self._voi_fn!r} ignored: LINEAR used")
            self._voi_fn = "LINEAR"
        self._rescale = self._read_rescale(rescale_attrs or attrs)
        self._modality_lut = bool(attrs.items("ModalityLUTSequence"))
        if self._modality_lut:
            item = attrs.items("ModalityLUTSequence")[0]
            _lut(item, "LUTDescriptor", "LUTData", "Modality LUT")
        if px.photometric in GREY:
            self._read_voi_lut()
            self.window = self._file_window() if window is None else (float(window[0]), float(window[1]))
        self.window_from = ("user" if window is not None and px.photometric in GREY
                            else ("file" if self.window else ""))

    # -- reading the header --------------------------------------------------------
    def _read_rescale(self, attrs: Attrs) -> tuple[float, float] | None:
        slope = attrs.number("RescaleSlope", index=0)
        intercept = attrs.number("RescaleIntercept", index=0)
        slope = 1.0 if slope is None else slope
        intercept = 0.0 if intercept is None else intercept
        if slope == 0:
            raise attrs.corrupt("RescaleSlope", "is 0")
        return None if (slope, intercept) == (1.0, 0.0) else (slope, intercept)

    def _read_voi_lut(self) -> None:
        items = self._attrs.items("VOILUTSequence")
        if not items:
            return
        _entries, _first, bits, data = _lut(items[0], "LUTDescriptor", "LUTData", "VOI LUT")
        values = np.frombuffer(data, dtype="<u2") if isinstance(data, bytes) and len(data) % 2 == 0 else data
        self._voi = (bits, bool(len(values)) and int(np.max(values)) <= 255)

    def _file_window(self) -> tuple[float, float] | None:
        if self._voi is not None:
            return None
        a = self._wattrs
        c, w = a.number("WindowCenter", strict=False, index=0), a.number("WindowWidth", strict=False, index=0)
        if c is None or w is None:
            return None
        if w < 1:
            self._attrs.notes.append(f"Window Center/Width ignored: invalid width {w}")
            return None
        return (c, w)

    @property
    def _modality(self) -> bool:
        return self._rescale is not None or self._modality_lut

    def fit_range(self, first_raw: np.ndarray) -> None:
        """A grey image with no window and no VOI LUT (and not plain 8-bit): fix its range from frame 0."""
        if (
            self.photometric in GREY
            and self.window is None
            and self._voi is None
            and not (first_raw.dtype == np.uint8 and not self._modality)
        ):
            self.auto_range = self._default_range(first_raw)
            self.window_from = "auto"

    def set_window(self, center: float | None, width: float | None = None) -> None:
        """Override window/level for grey images (None, None: back to the file's own)."""
        if self.photometric not in GREY:
            raise SourceError(f"{self._name}: window/level applies to greyscale images only")
        if center is None or width is None:
            self.window = self._file_window()
        else:
            if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
                raise SourceError(f"invalid window: center {center}, width {width}")
            self.window = (float(center), float(width))

    # -- converting a frame ------------------------------------------------------------
    def display(self, raw: np.ndarray) -> np.ndarray:
        """Decoded stored values of one frame -> display pixels."""
        pi = self.photometric
        if pi == "PALETTE COLOR":
            assert self._palette is not None
            if raw.ndim != 2:
                raise SourceError(f"{self._name}: PALETTE COLOR image decoded with {raw.shape[2]} samples per pixel")
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

    def _modality_values(self, raw: np.ndarray) -> np.ndarray:
        if self._modality_lut:
            from pydicom.pixels import apply_modality_lut

            return np.asarray(apply_modality_lut(raw, self._ds), dtype=np.float64)
        if self._rescale is None:
            return raw
        slope, intercept = self._rescale
        return raw.astype(np.float64) * slope + intercept

    def _default_range(self, first_raw: np.ndarray) -> tuple[float, float]:
        """No window in the file: the declared pixel range, else frame 0's range (fixed for the cine)."""
        lo = self._attrs.integer("SmallestImagePixelValue", strict=False)
        hi = self._attrs.integer("LargestImagePixelValue", strict=False)
        if lo is not None and hi is not None and hi > lo:
            vals = self._modality_values(np.array([lo, hi], dtype=np.float64))
            return (float(np.min(vals)), float(np.max(vals)))
        lo_f, hi_f = math.inf, -math.inf
        step = max(1, _convert.BLOCK_ELEMENTS // max(1, first_raw.shape[1]))
        for r in range(0, first_raw.shape[0], step):
            v = self._modality_values(first_raw[r : r + step])
            lo_f, hi_f = min(lo_f, float(np.min(v))), max(hi_f, float(np.max(v)))
        return (lo_f, hi_f)

    def _voi_block(self, block: np.ndarray) -> np.ndarray:
        from pydicom.pixels import apply_voi

        assert self._voi is not None
        bits, eight_bit = self._voi
        values = np.asarray(apply_voi(self._modality_values(block), self._ds)).astype(np.int64)
        if bits > 8 and not eight_bit:
            values >>= bits - 8
        return np.clip(values, 0, 255).astype(np.uint8)

    def _grey(self, raw: np.ndarray) -> np.ndarray:
        try:
            if self.window is not None:
                c, w = self.window
                out = _convert.blockwise(
                    raw, lambda b: _convert.window_to_uint8(self._modality_values(b), c, w, self._voi_fn))
            elif self._voi is not None:
                with WarningRecorder() as rec:
                    out = _convert.blockwise(raw, self._voi_block)
                self._attrs.notes.extend(m for m in rec.messages if m not in self._attrs.notes)
            elif self.auto_range is not None:
                lo, hi = self.auto_range
                out = _convert.blockwise(raw, lambda b: _convert.range_to_uint8(self._modality_values(b), lo, hi))
            else:
                out = _convert.finalize(raw.astype(np.uint8, copy=False))
        except SourceError:
            raise
        except Exception as err:  # noqa: BLE001 - a LUT pydicom cannot apply
            raise SourceError(f"{self._name}: cannot apply the grey-scale transform ({reason(err)})") from None
        if self.photometric == "MONOCHROME1":
            out = _convert.invert(out)
        return _convert.finalize(out)

    # -- colour palette -------------------------------------------------------
    def _build_palette(self) -> np.ndarray:
        from pydicom.pixels import apply_color_lut

        attrs = self._attrs
        segmented = attrs.has("SegmentedRedPaletteColorLookupTableData")
        desc = attrs.integers("RedPaletteColorLookupTableDescriptor", count=3)
        if desc is None:
            raise SourceError(f"{self._name}: PALETTE COLOR image without a valid palette descriptor")
        if not segmented:
            for colour in ("Red", "Green", "Blue"):
                _lut(attrs, f"{colour}PaletteColorLookupTableDescriptor", f"{colour}PaletteColorLookupTableData",
                     "colour palette")
        entries, first, bits = (desc[0] & 0xFFFF) or 65536, desc[1], desc[2]
        if bits not in (8, 16):
            raise attrs.corrupt("RedPaletteColorLookupTableDescriptor", f"says {bits} bits per entry, expected 8 or 16")
        self._palette_first = first
        indices = np.arange(first, first + entries, dtype=np.int64)
        dtype = np.uint16 if self._bits_allocated > 8 or first + entries > 256 else np.uint8
        with WarningRecorder() as rec:
            try:
                table = apply_color_lut(indices.astype(dtype), self._ds)
            except Exception as err:  # noqa: BLE001 - malformed LUT data
                raise SourceError(f"{self._name}: cannot read the colour palette ({reason(err)})") from None
        attrs.notes.extend(m for m in rec.messages if m not in attrs.notes)
        table = np.asarray(table).reshape(entries, -1)[:, :3]
        return _convert.lut_to_uint8(table, bits)
