"""DICOM header -> plain Python: patient/study summary, calibration, frame timing.

Kept apart from the decoding in :mod:`fada_desk.sources.dicom` so it can be
tested and reused (store, exporters) on a header-only dataset. Every value
returned is JSON-serialisable (str, int, float, list, None).
"""

from __future__ import annotations

import math
from typing import Any

from fada_desk.core.calibration import Calibration, Region
from fada_desk.sources._dicom_attrs import Attrs, plain_value

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
    return plain_value(value)


def _attrs(ds: Any, name: str = "DICOM") -> Attrs:
    return ds if isinstance(ds, Attrs) else Attrs(ds, name)


def summary(ds: Any) -> dict[str, Any]:
    """The clinically relevant header tags of ``ds`` (see SUMMARY_KEYWORDS); unreadable ones are left out."""
    attrs = _attrs(ds)
    out: dict[str, Any] = {}
    for kw in SUMMARY_KEYWORDS:
        v = attrs.plain(kw)
        if v in ("", [], None):
            continue
        out[kw] = v
    sop = attrs.uid("SOPClassUID", strict=False)
    if sop:
        from pydicom.uid import UID

        name = UID(sop).name
        if name != sop:
            out["SOPClassName"] = name
    return out


# A screen has a handful of regions (B-mode, Doppler strip, ECG...); thousands are damage, and slow to read.
MAX_REGIONS = 64

# Region fields holding DICOM codes (absent = 0) and the tags they come from.
_REGION_CODES = (
    ("units_x", "PhysicalUnitsXDirection"),
    ("units_y", "PhysicalUnitsYDirection"),
    ("spatial_format", "RegionSpatialFormat"),
    ("data_type", "RegionDataType"),
)


def regions(ds: Any, notes: list[str] | None = None) -> tuple[tuple[Region, ...], list[str]]:
    """Parse the Sequence of Ultrasound Regions (0018,6011).

    Returns every region with its units (only cm regions calibrate
    measurements: that rule lives in :class:`Region`), plus warnings for items
    that had to be skipped. A sequence that is not one (wrong VR, items that are
    not data sets) is a corrupt file: SourceError naming it.
    """
    attrs = _attrs(ds)
    warnings: list[str] = notes if notes is not None else []
    out: list[Region] = []
    items = attrs.items("SequenceOfUltrasoundRegions")
    if len(items) > MAX_REGIONS:
        warnings.append(f"{len(items)} ultrasound regions: only the first {MAX_REGIONS} are read")
    for n, item in enumerate(items[:MAX_REGIONS], start=1):
        item.notes = warnings
        x0, y0 = item.integer("RegionLocationMinX0", strict=False), item.integer("RegionLocationMinY0", strict=False)
        x1, y1 = item.integer("RegionLocationMaxX1", strict=False), item.integer("RegionLocationMaxY1", strict=False)
        dx, dy = item.number("PhysicalDeltaX", strict=False), item.number("PhysicalDeltaY", strict=False)
        if x0 is None or y0 is None or x1 is None or y1 is None or dx is None or dy is None:
            warnings.append(f"ultrasound region {n} skipped: location or physical delta missing")
            continue
        if x1 < x0 or y1 < y0:
            warnings.append(f"ultrasound region {n} skipped: empty bounds ({x0},{y0})-({x1},{y1})")
            continue
        codes = {field: item.integer(kw, strict=False) or 0 for field, kw in _REGION_CODES}
        out.append(Region(x0, y0, x1, y1, dx, dy, **codes))
    return tuple(out), warnings


def spacing_calibration(spacing: list[float] | None, width: int, height: int) -> Calibration | None:
    """Pixel Spacing (mm, row then column) as one cm region over the whole image; None if not usable."""
    if spacing is None or len(spacing) != 2:
        return None
    row_mm, col_mm = spacing
    if not (row_mm > 0 and col_mm > 0 and math.isfinite(row_mm) and math.isfinite(col_mm)):
        return None
    region = Region(0, 0, max(width - 1, 0), max(height - 1, 0), col_mm / 10.0, row_mm / 10.0)
    return Calibration(regions=(region,), source="dicom")


def calibration(ds: Any, width: int, height: int) -> tuple[Calibration | None, str, list[str]]:
    """Calibration from the ultrasound regions, else from Pixel Spacing.

    Returns (calibration or None, where it came from, warnings). Pixel Spacing
    (0028,0030, mm, row then column) is only a fallback: some secondary
    captures of ultrasound screens carry it instead of regions; it becomes
    one cm region covering the whole image.
    """
    attrs = _attrs(ds)
    regs, warnings = regions(attrs, [])
    if regs:
        return Calibration(regions=regs, source="dicom"), "SequenceOfUltrasoundRegions", warnings
    if attrs.has("PixelSpacing"):
        cal = spacing_calibration(attrs.numbers("PixelSpacing", strict=False), width, height)
        if cal is not None:
            return cal, "PixelSpacing", warnings
        warnings.append("Pixel Spacing ignored: not two positive numbers")
    return None, "", warnings


def frame_timing(ds: Any, n_frames: int) -> tuple[float | None, list[float] | None, str]:
    """(fps, per-frame start times in s or None, which tag gave it).

    Order: the attribute the Frame Increment Pointer names, then Frame Time
    (0018,1063), Frame Time Vector (0018,1065), Cine Rate (0018,0040),
    Recommended Display Frame Rate (0008,2144), Actual Frame Duration (0018,1242).
    Single-frame images have no frame rate. Unreadable values are skipped.
    """
    if n_frames <= 1:
        return None, None, ""
    attrs = _attrs(ds)
    order = ["FrameTime", "FrameTimeVector", "CineRate", "RecommendedDisplayFrameRate", "ActualFrameDuration"]
    pointed: list[str] = []
    from pydicom.datadict import keyword_for_tag

    for t in attrs.tags("FrameIncrementPointer", strict=False) or []:
        kw = keyword_for_tag(t)
        if kw:
            pointed.append(kw)
    for kw in [k for k in pointed if k in order] + order:
        if kw == "FrameTimeVector":
            result = _from_vector(attrs.numbers(kw, strict=False), n_frames)
            if result is not None:
                return result[0], result[1], kw
            continue
        v = attrs.number(kw, strict=False, index=0)
        if v is None or not v > 0:
            continue
        fps = 1000.0 / v if kw in ("FrameTime", "ActualFrameDuration") else v
        if 0 < fps <= 1000:
            return round(fps, 3), None, kw
    return None, None, ""


def _from_vector(deltas: list[float] | None, n_frames: int) -> tuple[float, list[float]] | None:
    """Frame Time Vector: ms from the previous frame, first entry 0 (PS3.3 C.7.6.5.1.2)."""
    if deltas is None:
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
    "spacing_calibration",
    "summary",
]
