"""The DICOM seeds: the real test files, two written from the HC18 image, and where their hot bytes are.

The real files (tests/data/dicom, PALETTE COLOR, RGB, YBR_RCT, explicit big
endian, RLE, JPEG lossless, JPEG 2000) plus a JPEG baseline YBR_FULL_422 image
and a 16-bit MONOCHROME2 image with a VOI LUT in implicit VR, written here
(fixed UIDs: the same bytes on every run). Each seed's ``meta`` holds what the
generator needs: size, the (tag, VR) of every element, the header and
fragment ranges byte ops aim at half the time.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from devtools.fuzz import dicom_walk as W
from devtools.fuzz.core import Seed
from devtools.fuzz.seeds import data_file

REAL = ("OBXXXX1A.dcm", "OBXXXX1A_2frame.dcm", "OBXXXX1A_expb.dcm", "OBXXXX1A_rle.dcm",
        "OBXXXX1A_rle_2frame.dcm", "US1_J2KR.dcm", "US1_UNCR.dcm", "JPEGLosslessP14SV1_1s_1f_u_08_08.dcm")


def prepare(root: Path) -> list[Seed]:
    """Copy the real seeds into ``root`` and write the generated ones."""
    seeds = []
    for name in REAL:
        src = data_file("dicom", name)
        if src.is_file():
            (root / name).write_bytes(src.read_bytes())
            seeds.append(Seed(name))
    (root / "gen_jpeg_baseline.dcm").write_bytes(_jpeg_baseline())
    (root / "gen_mono16_voi.dcm").write_bytes(_mono16_voi())
    seeds += [Seed("gen_jpeg_baseline.dcm"), Seed("gen_mono16_voi.dcm")]
    for s in seeds:
        data = (root / s.name).read_bytes()
        els = W.walk(data)
        s.meta.update(size=len(data), hot=_hot_ranges(els, len(data)),
                      tags=[(el.tag, el.vr) for el in els if el.tag not in (W.ITEM, W.ITEM_END, W.SEQ_END)],
                      explicit=W.transfer_syntax(data, els) != W.IMPLICIT_LE)
    return seeds


def _hot_ranges(els: list[W.Element], size: int) -> list[tuple[int, int]]:
    px = next((el for el in els if el.tag == W.PIXEL_DATA), None)
    header_end = px.value_at + 16 if px else min(size, 4096)
    hot = [(0, header_end)]
    frags = [el for el in els if el.tag == W.ITEM and el.parents and els[el.parents[0]].tag == W.PIXEL_DATA]
    for el in frags[:3]:
        hot.append((el.offset, min(el.end, el.value_at + 2048)))
    return hot


def _base_dataset(rows: int, cols: int, ts: str, photometric: str, samples: int, bits: int) -> Any:
    from pydicom.dataset import Dataset, FileMetaDataset

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.10.1.1"
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.10.1.2", "1.2.826.0.1.3680043.10.1.3"
    ds.PatientName, ds.PatientID, ds.StudyDate, ds.Modality = "Fuzz^Seed", "FUZZ-1", "20240315", "US"
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = rows, cols, samples, photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    return ds


def _hc18_grey(step: int) -> Any:
    import numpy as np
    from PIL import Image

    with Image.open(data_file("images", "001_HC.png")) as im:
        return np.ascontiguousarray(np.asarray(im.convert("L"))[::step, ::step])


def _write(ds: Any) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _jpeg_baseline() -> bytes:
    from PIL import Image
    from pydicom.encaps import encapsulate

    grey = _hc18_grey(2)
    rgb = Image.fromarray(grey).convert("RGB")
    out = io.BytesIO()
    rgb.save(out, "JPEG", quality=85, subsampling=2)
    ds = _base_dataset(grey.shape[0], grey.shape[1], "1.2.840.10008.1.2.4.50", "YBR_FULL_422", 3, 8)
    ds.LossyImageCompression = "01"
    ds.PixelData = encapsulate([out.getvalue()])
    ds["PixelData"].VR = "OB"
    return _write(ds)


def _mono16_voi() -> bytes:
    import numpy as np
    from pydicom.dataset import Dataset
    from pydicom.sequence import Sequence

    grey = _hc18_grey(4).astype(np.uint16) * 16
    ds = _base_dataset(grey.shape[0], grey.shape[1], "1.2.840.10008.1.2", "MONOCHROME2", 1, 16)
    ds.BitsStored, ds.HighBit = 12, 11
    ds.WindowCenter, ds.WindowWidth = 2048, 4096
    item = Dataset()
    item.LUTDescriptor = [4096, 0, 16]
    item.add_new(0x00283006, "OW", np.linspace(0, 65535, 4096).astype("<u2").tobytes())  # LUTData
    ds.VOILUTSequence = Sequence([item])
    ds.PixelData = grey.tobytes()
    return _write(ds)
