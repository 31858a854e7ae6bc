"""DICOM mutations: byte damage, element VR / VM / length / value edits, transfer-syntax mismatches.

Seeds (:mod:`.dicom_seeds`) are the real DICOM files of the test data plus
two written from the real HC18 image. Ops come in three layers:

* byte ops (:func:`~devtools.fuzz.core.byte_op`), half of them in the header
  or inside the compressed fragments;
* element ops on the raw encoding (:mod:`.dicom_walk`): a new VR, a wrong
  length field, a new value (every enclosing length fixed, so the file still
  parses and only the value is wrong), an element removed, a different
  transfer syntax UID in the file meta;
* dataset ops through pydicom (read, change, write back): multi-valued or
  out-of-range attributes, a VOI LUT or palette whose data disagrees with its
  descriptor, PALETTE COLOR on an RGB image, damaged ultrasound regions.
"""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path
from typing import Any

from devtools.fuzz import dicom_walk as W
from devtools.fuzz.core import BYTE_OPS, Op, Seed, apply_byte_op, byte_op, interesting_bytes
from devtools.fuzz.dicom_seeds import prepare

__all__ = ["NAME", "apply", "generate", "materialize", "prepare", "value_for"]

NAME = "dicom"

TRANSFER_SYNTAXES = (
    "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2", "1.2.840.10008.1.2.1.99",
    "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.57", "1.2.840.10008.1.2.4.70",
    "1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91",
    "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.203", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.4.100",
    "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.110", "1.2.840.10008.1.2.4.100.1", "1.2.3.4", "",
)

# Attributes the source reads (geometry, encoding, display, timing, calibration, identity).
HOT_KEYWORDS = (
    "Rows", "Columns", "SamplesPerPixel", "PhotometricInterpretation", "BitsAllocated", "BitsStored", "HighBit",
    "PixelRepresentation", "PlanarConfiguration", "NumberOfFrames", "FrameTime", "FrameTimeVector",
    "CineRate", "RecommendedDisplayFrameRate", "FrameIncrementPointer", "WindowCenter", "WindowWidth",
    "RescaleSlope", "RescaleIntercept", "VOILUTSequence", "LUTDescriptor", "LUTData", "ModalityLUTSequence",
    "RedPaletteColorLookupTableDescriptor", "GreenPaletteColorLookupTableDescriptor",
    "BluePaletteColorLookupTableDescriptor", "RedPaletteColorLookupTableData", "GreenPaletteColorLookupTableData",
    "BluePaletteColorLookupTableData", "SequenceOfUltrasoundRegions", "RegionSpatialFormat", "RegionDataType",
    "RegionLocationMinX0", "RegionLocationMinY0", "RegionLocationMaxX1", "RegionLocationMaxY1",
    "PhysicalUnitsXDirection", "PhysicalUnitsYDirection", "PhysicalDeltaX", "PhysicalDeltaY", "PixelData",
    "TransferSyntaxUID", "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID",
    "PatientName", "PatientID", "PatientBirthDate", "StudyDate", "StudyTime", "SpecificCharacterSet",
    "Modality", "ImageType", "PixelSpacing", "LossyImageCompression", "FileMetaInformationGroupLength",
)
PHOTOMETRICS = ("PALETTE COLOR", "RGB", "YBR_FULL", "YBR_FULL_422", "YBR_RCT", "YBR_ICT", "YBR_PARTIAL_420",
                "MONOCHROME1", "MONOCHROME2", "ARGB", "CMYK", "HSV", "", "rgb", "XYZ")
VRS = ("US", "SS", "UL", "SL", "FL", "FD", "OB", "OW", "UN", "SQ", "IS", "DS", "CS", "UI", "PN", "DA", "LO",
       "UT", "AT", "ZZ", "\0\0", "ox")
_BIN = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "AT": "I", "SV": "q", "UV": "Q"}
_FLOATS = (0.0, -0.0, 1.0, -1.0, float("nan"), float("inf"), -float("inf"), 1e308, 1e-310, 3.4e38)
_NUM_TEXT = ("0", "-1", "1", "2", "65535", "65536", "4294967296", "99999999999999", "1e400", "-1e400", "nan",
             "inf", "abc", "1.5", "1\\2", "1\\2\\3", "", " ", "+", "1e", "0x10", "١٢")
_TEXT = ("", " ", "A" * 70, "A" * 5000, "\\\\\\\\", "a\\b\\c\\d", "\xff\xfe\x00\x01", "^^^^^", "=^=^=", "\x1b$B",
         "20241345", "2024", "99999999", "abcdefgh", "1..2", "1.2.840.10008.1.2.4.90", "\x00\x00\x00\x00")


# ---------------------------------------------------------------------------
# Generation (parent process)
# ---------------------------------------------------------------------------

def generate(rng: random.Random, seed: Seed) -> Op:
    r = rng.random()
    if r < 0.25:
        return byte_op(rng, seed.meta["size"], seed.meta["hot"])
    if r < 0.62:
        return _element_op(rng, seed)
    if r < 0.72:
        return ("ts", rng.choice(TRANSFER_SYNTAXES))
    return _dataset_op(rng)


def _tag_choice(rng: random.Random, seed: Seed) -> tuple[int, str, int]:
    from pydicom.datadict import tag_for_keyword

    tags = seed.meta["tags"]
    if rng.random() < 0.7:
        hot = {tag_for_keyword(k) for k in HOT_KEYWORDS}
        present = [t for t in tags if t[0] in hot]
        if present:
            tags = present
    tag, vr = rng.choice(tags)
    return tag, vr, rng.randrange(4)


def _element_op(rng: random.Random, seed: Seed) -> Op:
    tag, vr, occ = _tag_choice(rng, seed)
    r = rng.random()
    if r < 0.12 and seed.meta["explicit"]:
        return ("el_vr", tag, occ, rng.choice(VRS))
    if r < 0.3:
        return ("el_len", tag, occ, rng.choice((0, 1, 2, 3, 4, 7, 0xFFFF, 0xFFFE, 0x7FFFFFFF, 0xFFFFFFFF,
                                                 0xFFFFFFFE, 0x10000, rng.randrange(1 << 20))))
    if r < 0.9:
        return ("el_value", tag, occ, value_for(rng, vr))
    return ("el_drop", tag, occ)


def value_for(rng: random.Random, vr: str) -> bytes:
    """A wrong value for an element of VR ``vr``: boundary numbers, wrong VM, odd length, junk text."""
    r = rng.random()
    if vr in _BIN:
        fmt = _BIN[vr]
        if r < 0.15:
            return b""
        if r < 0.25:
            return bytes(rng.randrange(256) for _ in range(rng.choice((1, 3, 5, 7))))  # not a whole value
        count = rng.choice((1, 1, 1, 2, 3, 6, 1000))
        if fmt in "fd":
            values: list[Any] = [rng.choice(_FLOATS) for _ in range(count)]
        else:
            bits = struct.calcsize(fmt) * 8
            lo, hi = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if fmt.islower() else (0, (1 << bits) - 1)
            values = [rng.choice((lo, hi, 0, 1, 2, 3, 8, 12, 16, 255, 256, 4096, min(hi, 65536))) for _ in
                      range(count)]
        return struct.pack("<" + fmt * count, *values)
    if vr in ("OB", "OW", "OF", "OD", "OL", "UN", "SQ"):
        if r < 0.3:
            return b""
        if r < 0.6:
            return interesting_bytes(rng) * rng.choice((1, 2, 3, 255))
        return bytes(rng.randrange(256) for _ in range(rng.choice((1, 2, 4, 64, 1024))))
    if vr in ("IS", "DS"):
        text = rng.choice(_NUM_TEXT)
    elif vr == "CS" and r < 0.5:
        text = rng.choice(PHOTOMETRICS)
    elif vr == "UI" and r < 0.5:
        text = rng.choice(TRANSFER_SYNTAXES)
    else:
        text = rng.choice(_TEXT + _NUM_TEXT)
    raw = text.encode("latin-1", "replace") if rng.random() < 0.8 else text.encode("utf-8", "surrogatepass")
    if len(raw) % 2 and rng.random() < 0.85:
        raw += b"\0" if vr == "UI" else b" "
    return raw


def _dataset_op(rng: random.Random) -> Op:
    r = rng.random()
    if r < 0.45:
        kw, vr, value = rng.choice(_DS_SETS)
        return ("ds_set", kw, vr, value() if callable(value) else value)
    if r < 0.6:
        return ("ds_voi", rng.choice((0, 1, 255, 4096, 65535)), rng.choice((0, -1, 100, 70000)),
                rng.choice((0, 1, 8, 16, 17, 32)), rng.choice((0, 1, 2, 255, 4096, 5000)))
    if r < 0.75:
        return ("ds_palette", rng.choice((0, 1, 256, 4096)), rng.choice((0, 255, 70000)), rng.choice((0, 8, 16, 9)),
                rng.choice((0, 2, 256, 255, 512)), rng.choice(PHOTOMETRICS[:3]))
    if r < 0.92:
        return ("ds_regions", rng.choice(_REGION_VARIANTS), rng.randrange(1 << 16))
    return ("ds_del", rng.choice(HOT_KEYWORDS[:20]))


_DS_SETS: tuple[tuple[str, str, Any], ...] = (
    ("Rows", "US", [480, 2]), ("Rows", "US", 0), ("Rows", "US", 65535), ("Rows", "US", 1), ("Columns", "US", 0),
    ("Columns", "US", [640, 640]), ("Columns", "US", 65535), ("Rows", "IS", "480"), ("Rows", "SS", -480),
    ("Rows", "LO", "four hundred"), ("SamplesPerPixel", "US", 0), ("SamplesPerPixel", "US", 3),
    ("SamplesPerPixel", "US", 4), ("SamplesPerPixel", "US", [1, 3]), ("BitsAllocated", "US", 0),
    ("BitsAllocated", "US", 1), ("BitsAllocated", "US", 12), ("BitsAllocated", "US", 16), ("BitsAllocated", "US", 32),
    ("BitsAllocated", "US", 64), ("BitsStored", "US", 0), ("BitsStored", "US", 12), ("BitsStored", "US", 17),
    ("BitsStored", "US", 255), ("HighBit", "US", 31), ("HighBit", "US", 0), ("PixelRepresentation", "US", 1),
    ("PixelRepresentation", "US", 2), ("PlanarConfiguration", "US", 1), ("PlanarConfiguration", "US", 7),
    ("NumberOfFrames", "IS", "0"), ("NumberOfFrames", "IS", "-1"), ("NumberOfFrames", "IS", "3"),
    ("NumberOfFrames", "IS", "2147483648"), ("NumberOfFrames", "IS", ["2", "3"]), ("NumberOfFrames", "LO", "many"),
    ("FrameTime", "DS", "0"), ("FrameTime", "DS", "-33"), ("FrameTime", "DS", "1e308"),
    ("FrameTime", "LO", "nan"), ("FrameTimeVector", "DS", ["0", "33", "-1"]), ("CineRate", "IS", "0"),
    ("RecommendedDisplayFrameRate", "IS", "-30"), ("WindowCenter", "DS", ["1", "2", "3"]),
    ("WindowWidth", "DS", "0"), ("WindowWidth", "DS", "-1"), ("WindowWidth", "LO", "1e308"),
    ("WindowCenter", "LO", "nan"), ("RescaleSlope", "DS", "0"), ("RescaleSlope", "LO", "inf"),
    ("RescaleIntercept", "DS", "-1e300"), ("PhotometricInterpretation", "CS", "PALETTE COLOR"),
    ("PhotometricInterpretation", "CS", "MONOCHROME1"), ("PhotometricInterpretation", "CS", "RGB"),
    ("PhotometricInterpretation", "CS", "YBR_FULL_422"), ("PhotometricInterpretation", "CS", "YBR_ICT"),
    ("PhotometricInterpretation", "CS", ["RGB", "MONOCHROME2"]), ("PhotometricInterpretation", "CS", "HSV"),
    ("PixelSpacing", "DS", ["0", "0"]), ("PixelSpacing", "DS", ["-1"]), ("PixelSpacing", "LO", "0.1\\abc"),
    ("SOPClassUID", "UI", "1.2.3"), ("SOPClassUID", "US", 5), ("SpecificCharacterSet", "CS", "ISO_IR 999"),
    ("SpecificCharacterSet", "CS", ["ISO 2022 IR 87", "ISO 2022 IR 13"]), ("PatientName", "PN", "A^B^C^D^E^F"),
    ("PatientName", "US", 7), ("StudyDate", "DA", "20241345"), ("StudyDate", "US", 1),
    ("PixelData", "OB", b""), ("PixelData", "OW", b"\0" * 10), ("PixelData", "US", 0),
    ("SequenceOfUltrasoundRegions", "US", 5), ("VOILUTSequence", "US", 1), ("ModalityLUTSequence", "LO", "x"),
    ("FrameIncrementPointer", "AT", 0x00181063), ("FrameIncrementPointer", "AT", 0x00280008),
)
_REGION_VARIANTS = ("empty_item", "bad_values", "inverted", "many", "missing_fields", "nested_junk", "floats_nan")


# ---------------------------------------------------------------------------
# Materialization (worker process)
# ---------------------------------------------------------------------------

def materialize(seed_bytes: bytes, ops: tuple[Op, ...], workdir: Path, seed: Seed) -> Path:
    data = seed_bytes
    for op in ops:
        data = apply(data, op)
    path = workdir / "input.dcm"
    path.write_bytes(data)
    return path


def apply(data: bytes, op: Op) -> bytes:
    kind = op[0]
    if kind in BYTE_OPS:
        return bytes(apply_byte_op(bytearray(data), op))
    if kind == "ts":
        els = W.walk(data)
        i = W.find(els, W.TRANSFER_SYNTAX)
        if i is None:
            return data
        raw = op[1].encode("ascii")
        return W.replace_value(data, els, i, raw + b"\0" * (len(raw) % 2))
    if kind.startswith("el_"):
        els = W.walk(data)
        i = W.find(els, op[1], op[2])
        if i is None:
            return data
        el = els[i]
        if kind == "el_vr":
            if el.vr_at is None:
                return data
            vr = op[3].encode("latin-1")[:2].ljust(2, b"\0")
            return data[: el.vr_at] + vr + data[el.vr_at + 2 :]
        if kind == "el_len":
            return W.put_length(data, el, op[3])
        if kind == "el_value":
            return W.replace_value(data, els, i, op[3])
        if kind == "el_drop":
            return W.remove(data, els, i)
    if kind.startswith("ds_"):
        return _apply_dataset(data, op)
    raise ValueError(f"unknown dicom op {kind!r}")


def _apply_dataset(data: bytes, op: Op) -> bytes:
    """Read with pydicom, change, write back; an edit pydicom refuses to read or write is a no-op."""
    import warnings

    import pydicom

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            ds = pydicom.dcmread(io.BytesIO(data), force=True)
            _edit(ds, op)
            buf = io.BytesIO()
            ds.save_as(buf, enforce_file_format=False)
        except Exception:  # noqa: BLE001 - pydicom cannot express this edit on this (damaged) file
            return data
    return buf.getvalue()


def _edit(ds: Any, op: Op) -> None:
    from pydicom.datadict import tag_for_keyword
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    kind = op[0]
    if kind == "ds_set":
        _, kw, vr, value = op
        ds.add_new(tag_for_keyword(kw), vr, value)
    elif kind == "ds_del":
        if op[1] in ds:
            del ds[op[1]]
    elif kind == "ds_voi":
        _, entries, first, bits, n_data = op
        item = Dataset()
        item.add_new(0x00283002, "US", [entries, first & 0xFFFF, bits])
        item.add_new(0x00283006, "OW", struct.pack(f"<{n_data}H", *([1000] * n_data)))
        ds.VOILUTSequence = Sequence([item])
        ds.pop("WindowCenter", None)
    elif kind == "ds_palette":
        _, entries, first, bits, n_data, photometric = op
        for colour in ("Red", "Green", "Blue"):
            ds.add_new(tag_for_keyword(f"{colour}PaletteColorLookupTableDescriptor"), "US",
                       [entries, first & 0xFFFF, bits])
            ds.add_new(tag_for_keyword(f"{colour}PaletteColorLookupTableData"), "OW",
                       struct.pack(f"<{n_data}H", *([0x1234] * n_data)))
        ds.PhotometricInterpretation = photometric
    elif kind == "ds_regions":
        ds.SequenceOfUltrasoundRegions = Sequence(_regions(op[1], random.Random(op[2])))


def _regions(variant: str, rng: random.Random) -> list[Any]:
    from pydicom.dataset import Dataset

    def region(**over: Any) -> Dataset:
        r = Dataset()
        values = {"RegionSpatialFormat": 1, "RegionDataType": 1, "RegionFlags": 0, "RegionLocationMinX0": 10,
                  "RegionLocationMinY0": 10, "RegionLocationMaxX1": 300, "RegionLocationMaxY1": 200,
                  "PhysicalUnitsXDirection": 3, "PhysicalUnitsYDirection": 3, "PhysicalDeltaX": 0.02,
                  "PhysicalDeltaY": 0.02, **over}
        for kw, v in values.items():
            if v is not None:
                setattr(r, kw, v)
        return r

    if variant == "empty_item":
        return [Dataset()]
    if variant == "bad_values":
        big = rng.choice((0, 0xFFFFFFFF, 70000))
        return [region(RegionLocationMaxX1=big, RegionLocationMaxY1=big, PhysicalUnitsXDirection=rng.choice((0, 99)),
                       PhysicalDeltaX=rng.choice((0.0, -1.0, 1e308)), RegionSpatialFormat=rng.choice((0, 7, 65535)))]
    if variant == "inverted":
        return [region(RegionLocationMinX0=300, RegionLocationMaxX1=10, RegionLocationMinY0=200,
                       RegionLocationMaxY1=10)]
    if variant == "many":
        return [region(RegionLocationMinX0=i % 300, RegionLocationMaxX1=i % 300 + 1) for i in range(2000)]
    if variant == "missing_fields":
        drop = rng.choice(("PhysicalDeltaX", "RegionLocationMaxY1", "PhysicalUnitsYDirection", "RegionSpatialFormat"))
        return [region(**{drop: None})]
    if variant == "floats_nan":
        return [region(PhysicalDeltaX=float("nan"), PhysicalDeltaY=float("inf"))]
    junk = region()
    junk.SequenceOfUltrasoundRegions = [region()]  # a region that nests regions
    return [junk, region(RegionDataType=rng.choice((0, 2, 3, 12)))]
