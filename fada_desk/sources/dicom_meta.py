"""DICOM header -> plain Python: patient/study summary, calibration, frame timing.

Kept apart from the decoding in :mod:`fada_desk.sources.dicom` so it can be
tested and reused (store, exporters) on a header-only dataset. Every value
returned is JSON-serialisable (str, int, float, list, None).
"""

from __future__ import annotations

import math
from typing import Any

from fada_desk.core.calibration import Calibration, Region

# Header tags copied into SourceInfo.metadata (DICOM keywords, so they mean
# what the standard says). Absent or empty tags are left out.
SUMMARY_KEYWORDS: tuple[str, ...] = (
    "PatientName",
    "PatientID",
    "PatientBirthDate",
    "PatientSex",
    "PatientAge",
    "OtherPatientIDs",
    "IssuerOfPatientID",
    "StudyDate",
    "StudyTime",
    "StudyDescription",
    "StudyID",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyInstanceUID",
    "SeriesInstanceUID",
    "SeriesNumber",
    "SeriesDescription",
    "InstanceNumber",
    "SOPClassUID",
    "SOPInstanceUID",
    "Modality",
    "Manufacturer",
    "ManufacturerModelName",
    "SoftwareVersions",
    "DeviceSerialNumber",
    "InstitutionName",
    "StationName",
    "OperatorsName",
    "BodyPartExamined",
    "ContentDate",
    "ContentTime",
    "AcquisitionDateTime",
    "ImageType",
    "TransducerData",
    "TransducerType",
    "BurnedInAnnotation",
    "LossyImageCompression",
    "LossyImageCompressionRatio",
    "PixelRepresentation",
    "SamplesPerPixel",
    "PlanarConfiguration",
    "Rows",
    "Columns",
    "WindowCenter",
    "WindowWidth",
    "RescaleSlope",
    "RescaleIntercept",
    "FrameTime",
    "CineRate",
    "RecommendedDisplayFrameRate",
)


# PS3.3 C.8.5.5.1.1 / C.8.5.5.1.2: what an ultrasound region shows.
REGION_SPATIAL_FORMATS = {0: "none", 1: "2D", 2: "M-mode", 3: "spectral", 4: "waveform", 5: "graphics"}
REGION_DATA_TYPES = {
    0: "none",
    1: "tissue",
    2: "color flow",
    3: "PW spectral Doppler",
    4: "CW spectral Doppler",
    5: "Doppler mean trace",
    6: "Doppler mode trace",
    7: "Doppler max trace",
    8: "volume trace",
    9: "dV/dt trace",
    10: "ECG trace",
    11: "pulse trace",
    12: "phonocardiogram trace",
    13: "gray bar",
    14: "color bar",
    15: "integrated backscatter",
    16: "area trace",
    17: "d(area)/dt trace",
    18: "other physiological input",
}


def region_label(spatial_format: int, data_type: int) -> str:
    """'2D tissue', 'waveform ECG trace', ... for display."""
    fmt = REGION_SPATIAL_FORMATS.get(spatial_format, f"format {spatial_format}")
    kind = REGION_DATA_TYPES.get(data_type, f"type {data_type}")
    return f"{fmt} {kind}"


def plain(value: Any) -> Any:
    """A pydicom element value as JSON-friendly Python."""
    from pydicom.multival import MultiValue
    from pydicom.uid import UID
    from pydicom.valuerep import IS, DSfloat, PersonName

    if value is None:
        return None
    if isinstance(value, UID):
        return str(value)
    if isinstance(value, PersonName):
        return str(value)
    if isinstance(value, IS):
        return int(value)
    if isinstance(value, DSfloat):
        return float(value)
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value if not (isinstance(value, float) and not math.isfinite(value)) else None
    if isinstance(value, MultiValue | list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    return str(value)


def summary(ds: Any) -> dict[str, Any]:
    """The clinically relevant header tags of ``ds`` (see SUMMARY_KEYWORDS)."""
    out: dict[str, Any] = {}
    for kw in SUMMARY_KEYWORDS:
        try:
            elem = ds.get(kw)
        except Exception:  # a malformed value must not stop the file from opening  # noqa: BLE001
            continue
        if elem is None or elem == "":
            continue
        v = plain(elem)
        if v in ("", [], None):
            continue
        out[kw] = v
    sop = out.get("SOPClassUID")
    if sop:
        from pydicom.uid import UID

        name = UID(sop).name
        if name != sop:
            out["SOPClassName"] = name
    return out


# Region fields holding DICOM codes (absent = 0) and the tags they come from.
_REGION_CODES = (
    ("units_x", "PhysicalUnitsXDirection"),
    ("units_y", "PhysicalUnitsYDirection"),
    ("spatial_format", "RegionSpatialFormat"),
    ("data_type", "RegionDataType"),
)


def _num(item: Any, kw: str, kind: type = float) -> Any:
    v = item.get(kw)
    if v is None or v == "":
        return None
    try:
        return kind(v)
    except (TypeError, ValueError):
        return None


def regions(ds: Any) -> tuple[tuple[Region, ...], list[str]]:
    """Parse the Sequence of Ultrasound Regions (0018,6011).

    Returns every region with its units (only cm regions calibrate
    measurements: that rule lives in :class:`Region`), plus warnings for items
    that had to be skipped.
    """
    seq = ds.get("SequenceOfUltrasoundRegions")
    out: list[Region] = []
    warnings: list[str] = []
    if not seq:
        return (), warnings
    for n, item in enumerate(seq, start=1):
        x0, y0 = _num(item, "RegionLocationMinX0", int), _num(item, "RegionLocationMinY0", int)
        x1, y1 = _num(item, "RegionLocationMaxX1", int), _num(item, "RegionLocationMaxY1", int)
        dx, dy = _num(item, "PhysicalDeltaX"), _num(item, "PhysicalDeltaY")
        if None in (x0, y0, x1, y1) or dx is None or dy is None:
            warnings.append(f"ultrasound region {n} skipped: location or physical delta missing")
            continue
        if not (math.isfinite(dx) and math.isfinite(dy)):
            warnings.append(f"ultrasound region {n} skipped: physical delta is not a number")
            continue
        if x1 < x0 or y1 < y0:
            warnings.append(f"ultrasound region {n} skipped: empty bounds ({x0},{y0})-({x1},{y1})")
            continue
        codes = {field: _num(item, kw, int) or 0 for field, kw in _REGION_CODES}
        out.append(Region(x0, y0, x1, y1, dx, dy, **codes))
    return tuple(out), warnings


def calibration(ds: Any, width: int, height: int) -> tuple[Calibration | None, str, list[str]]:
    """Calibration from the ultrasound regions, else from Pixel Spacing.

    Returns (calibration or None, where it came from, warnings). Pixel Spacing
    (0028,0030, mm, row then column) is only a fallback: some secondary
    captures of ultrasound screens carry it instead of regions; it becomes
    one cm region covering the whole image.
    """
    regs, warnings = regions(ds)
    if regs:
        return Calibration(regions=regs, source="dicom"), "SequenceOfUltrasoundRegions", warnings
    spacing = ds.get("PixelSpacing")
    if spacing is not None and len(spacing) == 2:
        try:
            row_mm, col_mm = float(spacing[0]), float(spacing[1])
        except (TypeError, ValueError):
            row_mm = col_mm = 0.0
        if row_mm > 0 and col_mm > 0 and math.isfinite(row_mm) and math.isfinite(col_mm):
            region = Region(0, 0, max(width - 1, 0), max(height - 1, 0), col_mm / 10.0, row_mm / 10.0)
            return Calibration(regions=(region,), source="dicom"), "PixelSpacing", warnings
        warnings.append("Pixel Spacing ignored: not two positive numbers")
    return None, "", warnings


def frame_timing(ds: Any, n_frames: int) -> tuple[float | None, list[float] | None, str]:
    """(fps, per-frame start times in s or None, which tag gave it).

    Order: the attribute the Frame Increment Pointer names, then Frame Time
    (0018,1063), Frame Time Vector (0018,1065), Cine Rate (0018,0040),
    Recommended Display Frame Rate (0008,2144), Actual Frame Duration (0018,1242).
    Single-frame images have no frame rate.
    """
    if n_frames <= 1:
        return None, None, ""
    order = ["FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate", "ActualFrameDuration"]
    pointer = ds.get("FrameIncrementPointer")
    pointed: list[str] = []
    if pointer is not None:
        from pydicom.datadict import keyword_for_tag

        tags = list(pointer) if hasattr(pointer, "__iter__") else [pointer]
        try:
            pointed = [keyword_for_tag(t) for t in tags]
        except (TypeError, ValueError):
            pointed = []
    for kw in [k for k in pointed if k in order] + order:
        value = ds.get(kw)
        if value is None or value == "":
            continue
        if kw == "FrameTimeVector":
            result = _from_vector(value, n_frames)
            if result is not None:
                return result[0], result[1], kw
            continue
        try:
            v = float(value)
        except (TypeError, ValueError):
            continue
        if not (math.isfinite(v) and v > 0):
            continue
        fps = 1000.0 / v if kw in ("FrameTime", "ActualFrameDuration") else v
        if 0 < fps <= 1000:
            return round(fps, 3), None, kw
    return None, None, ""


def _from_vector(value: Any, n_frames: int) -> tuple[float, list[float]] | None:
    """Frame Time Vector: ms from the previous frame, first entry 0 (PS3.3 C.7.6.5.1.2)."""
    try:
        deltas = [float(v) for v in (value if hasattr(value, "__iter__") else [value])]
    except (TypeError, ValueError):
        return None
    if len(deltas) < n_frames or any(not math.isfinite(d) or d < 0 for d in deltas[:n_frames]):
        return None
    deltas = deltas[:n_frames]
    intervals = deltas[1:]
    if not intervals or sum(intervals) <= 0:
        return None
    times: list[float] = []
    t = 0.0
    for i, d in enumerate(deltas):
        if i:
            t += d / 1000.0
        times.append(round(t, 6))
    fps = 1000.0 / (sum(intervals) / len(intervals))
    return round(fps, 3), times


__all__ = [
    "REGION_DATA_TYPES",
    "REGION_SPATIAL_FORMATS",
    "SUMMARY_KEYWORDS",
    "calibration",
    "frame_timing",
    "plain",
    "region_label",
    "regions",
    "summary",
]
