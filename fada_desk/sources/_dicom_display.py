"""Stored DICOM values -> display pixels (used by :mod:`fada_desk.sources.dicom`).

Follows PS3.3: PALETTE COLOR through its LUT; colour samples deeper than 8
bits shifted down; MONOCHROME via the modality LUT (or rescale), then the VOI
LUT, or window/level (the file's, or the user's), or - with neither - a fixed
range (the declared smallest/largest pixel value, else frame 0's range, so a
cine does not flicker); MONOCHROME1 inverted.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fada_desk.core.errors import SourceError
from fada_desk.sources import _convert
from fada_desk.sources._dicom_read import WarningRecorder, reason

GREY = ("MONOCHROME1", "MONOCHROME2")
COLOUR = ("RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420", "YBR_PARTIAL_422")
SUPPORTED_PHOTOMETRIC = (*GREY, "PALETTE COLOR", *COLOUR)


def has_modality_transform(ds: Any) -> bool:
    if ds.get("ModalityLUTSequence"):
        return True
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    try:
        return (slope is not None and float(slope) != 1.0) or (
            intercept is not None and float(intercept) != 0
        )
    except (TypeError, ValueError):
        return False


class DisplayMapping:
    """How one image's stored values become uint8 grey/RGB.

    ``window`` (center, width) is the grey window in use (None when a VOI LUT
    or the fixed range applies); ``window_from`` says where it came from
    ("user", "file", "auto" or ""). Warnings about ignored attributes are
    appended to ``notes``.
    """

    def __init__(self, ds: Any, photometric: str, bits_stored: int, bits_allocated: int, name: str,
                 notes: list[str], window: tuple[float, float] | None = None) -> None:
        self._ds = ds
        self.photometric = photometric
        self._bits_stored = bits_stored
        self._bits_allocated = bits_allocated
        self._name = name
        self._notes = notes
        self._palette_first = 0
        self._palette: np.ndarray | None = self._build_palette(ds) if photometric == "PALETTE COLOR" else None
        self.window: tuple[float, float] | None = None
        self._voi_fn = str(ds.get("VOILUTFunction") or "LINEAR").upper()
        self.auto_range: tuple[float, float] | None = None
        self._modality = has_modality_transform(ds)
        if photometric in GREY:
            self.window = self._file_window(ds) if window is None else (float(window[0]), float(window[1]))
        if window is not None and photometric in GREY:
            self.window_from = "user"
        else:
            self.window_from = "file" if self.window else ""

    def fit_range(self, first_raw: np.ndarray) -> None:
        """A grey image with no window and no VOI LUT (and not plain 8-bit): fix its range from frame 0."""
        if (
            self.photometric in GREY
            and self.window is None
            and not self._ds.get("VOILUTSequence")
            and not (first_raw.dtype == np.uint8 and not self._modality)
        ):
            self.auto_range = self._default_range(self._ds, first_raw)
            self.window_from = "auto"

    def set_window(self, center: float | None, width: float | None = None) -> None:
        """Override window/level for grey images (None, None: back to the file's own)."""
        if self.photometric not in GREY:
            raise SourceError(f"{self._name}: window/level applies to greyscale images only")
        if center is None or width is None:
            self.window = self._file_window(self._ds)
        else:
            if not (math.isfinite(center) and math.isfinite(width)) or width < 1:
                raise SourceError(f"invalid window: center {center}, width {width}")
            self.window = (float(center), float(width))

    def display(self, raw: np.ndarray) -> np.ndarray:
        """Decoded stored values of one frame -> display pixels."""
        pi = self.photometric
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

    # -- grey scale ---------------------------------------------------------
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
            self._notes.append("Window Center/Width ignored: not numbers")
            return None
        if not (math.isfinite(c0) and math.isfinite(w0)) or w0 < 1:
            self._notes.append(f"Window Center/Width ignored: invalid width {w0}")
            return None
        return (c0, w0)

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

    def _grey(self, raw: np.ndarray) -> np.ndarray:
        if self.window is not None:
            out = _convert.window_to_uint8(self._modality_values(raw), *self.window, function=self._voi_fn)
        elif self._ds.get("VOILUTSequence"):
            from pydicom.pixels import apply_voi

            lut_bits = int(self._ds.VOILUTSequence[0].LUTDescriptor[2])
            out = _convert.lut_to_uint8(apply_voi(self._modality_values(raw), self._ds), lut_bits)
        elif self.auto_range is not None:
            out = _convert.range_to_uint8(self._modality_values(raw), *self.auto_range)
        else:
            out = _convert.finalize(raw.astype(np.uint8, copy=False))
        if self.photometric == "MONOCHROME1":
            out = _convert.invert(out)
        return _convert.finalize(out)

    # -- colour palette -------------------------------------------------------
    def _build_palette(self, ds: Any) -> np.ndarray:
        from pydicom.pixels import apply_color_lut

        desc = ds.get("RedPaletteColorLookupTableDescriptor")
        if not desc or len(desc) != 3:
            raise SourceError(f"{self._name}: PALETTE COLOR image without a valid palette descriptor")
        entries, first, bits = int(desc[0]) or 65536, int(desc[1]), int(desc[2])
        self._palette_first = first
        indices = np.arange(first, first + entries, dtype=np.int64)
        dtype = np.uint16 if self._bits_allocated > 8 or first + entries > 256 else np.uint8
        with WarningRecorder() as rec:
            try:
                table = apply_color_lut(indices.astype(dtype), ds)
            except Exception as err:  # noqa: BLE001 - malformed LUT data
                raise SourceError(f"{self._name}: cannot read the colour palette ({reason(err)})") from None
        self._notes.extend(m for m in rec.messages if m not in self._notes)
        table = np.asarray(table).reshape(entries, -1)[:, :3]
        return _convert.lut_to_uint8(table, bits)
