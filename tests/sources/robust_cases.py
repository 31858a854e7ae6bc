"""Damaged DICOM files, one per failure class of issue 10, made from the real shared files.

Each case is the smallest edit of a real file that used to crash (a traceback,
an abort, a hang) or be refused: :func:`build` writes them all into a folder
and returns ``{case: (path, expected)}`` where ``expected`` is the start of
the one-line error (``"open"``: the file must open and every frame decode).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from pydicom import uid
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from testdata import shared_or_local

from . import dicom_factory as factory

OB = shared_or_local("dicom", "OBXXXX1A.dcm")  # PALETTE COLOR, explicit VR LE, ultrasound regions
US1 = shared_or_local("dicom", "US1_UNCR.dcm")  # RGB, explicit VR LE
J2K = shared_or_local("dicom", "US1_J2KR.dcm")  # JPEG 2000 lossless, YBR_RCT


def _patch(src: Path, dst: Path, old: bytes, new: bytes) -> Path:
    """Byte-level edit of the first occurrence of ``old`` (what transfer damage does)."""
    data = src.read_bytes()
    at = data.index(old)
    dst.write_bytes(data[:at] + new + data[at + len(old) :])
    return dst


def _rows_element(vr: str, value: Any) -> Any:
    def change(ds: Dataset) -> None:
        ds[0x00280010] = DataElement(0x00280010, vr, value)

    return change


def _voi(descriptor: list[int], data: list[int]) -> Any:
    def change(ds: Dataset) -> None:
        item = Dataset()
        item.add_new(0x00283002, "US", descriptor)  # LUT Descriptor
        item.add_new(0x00283006, "US", data)  # LUT Data
        ds.VOILUTSequence = Sequence([item])

    return change


def _grey(out: Path) -> Path:
    path = out / "grey.dcm"
    if not path.exists():
        factory.native(path, factory.hc18_grey()[:120, :160].copy(), photometric="MONOCHROME2")
    return path


def _grey_j2k_labelled_rgb(out: Path) -> Path:
    """A one-component JPEG 2000 codestream in an RGB header: GDCM aborts (SIGABRT) on it."""
    j2k = factory.compressed(_grey(out), out / "grey_j2k.dcm", uid.JPEG2000Lossless)

    def rgb(ds: Dataset) -> None:
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0

    return factory.edit(j2k, out / "j2k_grey_as_rgb.dcm", rgb)


def _j2k_smaller_header(out: Path) -> Path:
    """The codestream is 640 x 480, the header says 320 x 240: a decoder would allocate for the codestream."""
    return factory.edit(
        J2K, out / "j2k_bomb.dcm", lambda ds: (setattr(ds, "Rows", 240), setattr(ds, "Columns", 320))
    )


def build(out: Path) -> dict[str, tuple[Path, str]]:
    """Write every case into ``out``; {case: (file, expected start of the error or "open")}."""
    corrupt = "corrupt or unsupported file: "
    cases: dict[str, tuple[Path, str]] = {}
    rows_tag = b"\x28\x00\x10\x00US\x02\x00"
    cases["rows-unknown-vr"] = (
        _patch(OB, out / "rows_xx.dcm", rows_tag, b"\x28\x00\x10\x00XX\x02\x00"),
        corrupt + "Rows (0028,0010) cannot be read",
    )
    cases["rows-byte-length"] = (
        _patch(OB, out / "rows_ul.dcm", rows_tag, b"\x28\x00\x10\x00UL\x02\x00"),
        corrupt + "Rows (0028,0010) cannot be read",
    )
    cases["rows-two-values"] = (
        factory.edit(OB, out / "rows_vm2.dcm", _rows_element("US", [600, 600])),
        corrupt + "Rows (0028,0010) has 2 values",
    )
    cases["rows-not-a-number"] = (
        _patch(OB, out / "rows_is.dcm", rows_tag + b"\x58\x02", b"\x28\x00\x10\x00IS\x02\x00ab"),
        corrupt + "Rows (0028,0010)",
    )
    no_image = factory.edit(US1, out / "sop_us.dcm", lambda ds: [delattr(ds, k) for k in ("Rows", "Columns")])
    sop = bytes(no_image.read_bytes())
    at = sop.index(b"\x08\x00\x16\x00UI")
    (out / "sop_us.dcm").write_bytes(sop[: at + 4] + b"US" + sop[at + 6 :])
    cases["sop-class-uid-not-a-string"] = (out / "sop_us.dcm", "DICOM file has no image")
    cases["transfer-syntax-not-a-uid"] = (
        _patch(US1, out / "ts_us.dcm", b"\x02\x00\x10\x00UI", b"\x02\x00\x10\x00US"),
        corrupt + "TransferSyntaxUID (0002,0010) has VR US",
    )

    def regions_as_numbers(ds: Dataset) -> None:
        ds[0x00186011] = DataElement(0x00186011, "US", [1, 2, 3])

    cases["regions-not-a-sequence"] = (
        factory.edit(OB, out / "regions_us.dcm", regions_as_numbers),
        corrupt + "SequenceOfUltrasoundRegions (0018,6011) has VR US",
    )
    cases["palette-with-3-samples"] = (
        factory.edit(OB, out / "palette3.dcm", lambda ds: setattr(ds, "SamplesPerPixel", 3)),
        corrupt + "SamplesPerPixel (0028,0002) is 3, but a PALETTE COLOR image has 1",
    )
    cases["voi-lut-0-bits"] = (
        factory.edit(_grey(out), out / "voi0.dcm", _voi([256, 0, 0], list(range(256)))),
        corrupt + "VOILUTSequence[1] > LUTDescriptor (0028,3002) says 0 bits",
    )
    cases["voi-lut-data-short"] = (
        factory.edit(_grey(out), out / "voi_short.dcm", _voi([256, 0, 8], [0] * 100)),
        corrupt + "VOILUTSequence[1] > LUTData (0028,3006) holds 100 entries",
    )
    cases["j2k-grey-codestream-rgb-header"] = (_grey_j2k_labelled_rgb(out), "cannot decode frame 0")
    cases["j2k-codestream-bigger-than-header"] = (
        _j2k_smaller_header(out),
        corrupt + "frame 0's compressed data is 640 x 480",
    )
    # -- item 2: budgets and zero-filled files -------------------------------------------------------
    (out / "zeros.dcm").write_bytes(bytes(4 << 20))
    cases["zero-filled"] = (out / "zeros.dcm", "not a DICOM file (it starts with zero bytes")
    data = OB.read_bytes()
    meta_end = (
        data.index(b"\x08\x00\x05\x00") if b"\x08\x00\x05\x00" in data else data.index(b"\x08\x00\x08\x00")
    )
    (out / "meta_then_zeros.dcm").write_bytes(data[:meta_end] + bytes(2 << 20))
    cases["meta-then-zeros"] = (
        out / "meta_then_zeros.dcm",
        corrupt + "zero bytes where the data set should start",
    )
    (out / "header_then_zeros.dcm").write_bytes(data[: data.index(b"\xe0\x7f\x10\x00")] + bytes(2 << 20))
    cases["header-then-zeros"] = (
        out / "header_then_zeros.dcm",
        corrupt + "zero bytes (or a command element)",
    )
    cases["native-bomb-60000x60000"] = (
        factory.edit(
            _grey(out),
            out / "bomb.dcm",
            lambda ds: (setattr(ds, "Rows", 60000), setattr(ds, "Columns", 60000)),
        ),
        "image is too large to open safely",
    )
    # -- item 6: read what was refused ---------------------------------------------------------------
    # (OB: US1_UNCR's preamble is a TIFF header, so with "DICM" damaged it opens as the TIFF it also is.)
    cases["dicm-marker-damaged"] = (_patch(OB, out / "dicx.dcm", b"DICM", b"DICX"), "open")
    (out / "no_preamble.dcm").write_bytes(OB.read_bytes()[132:])
    cases["no-preamble-meta-first"] = (out / "no_preamble.dcm", "open")
    bad_meta = bytearray(US1.read_bytes())
    at = bytes(bad_meta).index(b"\x02\x00\x01\x00OB")  # File Meta Information Version: VR destroyed
    bad_meta[at + 4 : at + 6] = b"\x00\x01"
    (out / "meta_damaged.dcm").write_bytes(bytes(bad_meta))
    cases["file-meta-damaged"] = (out / "meta_damaged.dcm", "open")
    cases["jpeg-extended-12-bit"] = (jpeg12(), "open")
    cases["enhanced-per-frame-calibration"] = (enhanced_us(out / "enhanced.dcm"), "open")
    return cases


def jpeg12() -> Path:
    """pydicom's own 12-bit JPEG Extended test file (NEMA WG04 NM1_JPLY, fixed; MIT, shipped with pydicom).

    GDCM's encoder cannot make one: it writes 16-bit precision into a lossy SOF1 frame.
    """
    from pydicom.data import get_testdata_file

    return Path(str(get_testdata_file("JPGExtended.dcm")))


ENHANCED_SPACINGS = ([0.2, 0.2], [0.25, 0.25], [0.3, 0.3])


def enhanced_us(path: Path) -> Path:
    """An Enhanced US Volume: 3 frames, Pixel Spacing per frame, window in the shared groups."""
    frames = np.stack([factory.hc18_grey()[:120, :160]] * 3)
    factory.native(path, frames, photometric="MONOCHROME2", multiframe=True)

    def change(ds: Dataset) -> None:
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.2"
        voi = Dataset()
        voi.WindowCenter, voi.WindowWidth = 100, 100
        shared = Dataset()
        shared.FrameVOILUTSequence = Sequence([voi])
        ds.SharedFunctionalGroupsSequence = Sequence([shared])
        per_frame = []
        for i, spacing in enumerate(ENHANCED_SPACINGS):
            measures = Dataset()
            measures.PixelSpacing = spacing
            content = Dataset()
            content.InStackPositionNumber = i + 1
            group = Dataset()
            group.PixelMeasuresSequence = Sequence([measures])
            group.FrameContentSequence = Sequence([content])
            per_frame.append(group)
        ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)

    return factory.edit(path, path, change)
