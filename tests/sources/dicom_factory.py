"""Build DICOM test files from real ultrasound pixels (HC18 image, SonoSite cine).

The shared DICOM files cover PALETTE COLOR, RGB, YBR_RCT, MONOCHROME2 8-bit,
RLE, big endian, JPEG lossless and JPEG 2000. Everything else the source must
handle (16-bit, MONOCHROME1, YBR_FULL(_422), JPEG baseline/extended, cines
with frame timing, H.264) is written here, with the original pixels kept as
the reference the decoded result is compared against.
"""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import numpy as np
from testdata import shared_or_local
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate

US_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME_STORAGE = "1.2.840.10008.5.1.4.1.1.3.1"


def hc18_grey() -> np.ndarray:
    """A real fetal-head ultrasound image, (540, 800) uint8."""
    return np.asarray(Image.open(shared_or_local("images", "001_HC.png")).convert("L"))


def cine_rgb(n: int = 30) -> np.ndarray:
    """The real SonoSite cine as (n, 240, 320, 3) uint8 RGB, decoded with plain OpenCV."""
    import cv2

    cap = cv2.VideoCapture(str(shared_or_local("video", "us_cine_sonosite_30f.avi")))
    frames = []
    while len(frames) < n:
        ok, bgr = cap.read()
        if not ok:
            break
        frames.append(bgr[:, :, ::-1].copy())
    cap.release()
    return np.stack(frames)


def base(
    rows: int,
    cols: int,
    *,
    photometric: str,
    samples: int,
    bits_allocated: int,
    bits_stored: int,
    frames: int | None = None,
    signed: bool = False,
    ts: str = uid.ExplicitVRLittleEndian,
) -> Dataset:
    """A minimal, valid US image dataset (no pixel data yet)."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = US_MULTIFRAME_STORAGE if frames else US_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = uid.generate_uid()
    meta.TransferSyntaxUID = ts
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = uid.generate_uid()
    ds.SeriesInstanceUID = uid.generate_uid()
    ds.PatientName = "Test^Patient"
    ds.PatientID = "FADA-0001"
    ds.PatientBirthDate = "19900102"
    ds.StudyDate = "20240315"
    ds.Modality = "US"
    ds.Manufacturer = "fada_desk test factory"
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if frames:
        ds.NumberOfFrames = frames
    return ds


def save(ds: Dataset, path: Path) -> Path:
    ds.save_as(path, enforce_file_format=True)
    return path


def native(
    path: Path,
    arr: np.ndarray,
    *,
    photometric: str,
    bits_stored: int | None = None,
    big_endian: bool = False,
    multiframe: bool | None = None,
) -> Path:
    """Uncompressed file from (H,W), (H,W,3), (N,H,W) or (N,H,W,3) pixels."""
    colour = photometric not in ("MONOCHROME1", "MONOCHROME2", "PALETTE COLOR")
    if multiframe is None:
        multiframe = arr.ndim == (4 if colour else 3)
    frames = arr.shape[0] if multiframe else None
    rows, cols = arr.shape[1:3] if multiframe else arr.shape[0:2]
    bits_allocated = arr.dtype.itemsize * 8
    ts = uid.ExplicitVRBigEndian if big_endian else uid.ExplicitVRLittleEndian
    ds = base(
        rows,
        cols,
        photometric=photometric,
        samples=3 if colour else 1,
        bits_allocated=bits_allocated,
        bits_stored=bits_stored or bits_allocated,
        frames=frames,
        signed=np.issubdtype(arr.dtype, np.signedinteger),
        ts=ts,
    )
    data = arr.astype(arr.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
    ds.PixelData = data + (b"\0" if len(data) % 2 else b"")
    ds["PixelData"].VR = "OW" if bits_allocated > 8 else "OB"
    return save(ds, path)


def rgb_to_ybr_full(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 full range (PS3.3 C.7.6.3.1.2), computed here independently of any decoder."""
    x = rgb.astype(np.float64)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    y = 0.299 * r + 0.587 * g + 0.114 * b
    cb = -0.168736 * r - 0.331264 * g + 0.5 * b + 128
    cr = 0.5 * r - 0.418688 * g - 0.081312 * b + 128
    return np.clip(np.rint(np.stack([y, cb, cr], axis=-1)), 0, 255).astype(np.uint8)


def ybr_full_422_bytes(ybr: np.ndarray) -> tuple[bytes, np.ndarray]:
    """Pack YBR_FULL (N,H,W,3) as YBR_FULL_422 (Y Y Cb Cr per pixel pair); also return the
    chroma-averaged YBR that decoding must reproduce."""
    n, h, w, _ = ybr.shape
    pairs = ybr.reshape(n, h, w // 2, 2, 3).astype(np.uint16)
    cb = ((pairs[..., 0, 1] + pairs[..., 1, 1] + 1) // 2).astype(np.uint8)
    cr = ((pairs[..., 0, 2] + pairs[..., 1, 2] + 1) // 2).astype(np.uint8)
    packed = np.stack([pairs[..., 0, 0].astype(np.uint8), pairs[..., 1, 0].astype(np.uint8), cb, cr], axis=-1)
    expected = ybr.copy()
    expected[..., 1] = np.repeat(cb, 2, axis=-1)
    expected[..., 2] = np.repeat(cr, 2, axis=-1)
    return packed.tobytes(), expected


def ybr422(path: Path, rgb_frames: np.ndarray) -> tuple[Path, np.ndarray]:
    """Native YBR_FULL_422 cine; returns (path, the YBR values after 4:2:2 averaging)."""
    ybr = rgb_to_ybr_full(rgb_frames)
    data, expected = ybr_full_422_bytes(ybr)
    n, h, w, _ = rgb_frames.shape
    ds = base(h, w, photometric="YBR_FULL_422", samples=3, bits_allocated=8, bits_stored=8, frames=n)
    ds.PixelData = data
    ds["PixelData"].VR = "OB"
    return save(ds, path), expected


def jpeg_baseline(path: Path, rgb_frames: np.ndarray, *, quality: int = 92) -> tuple[Path, list[bytes]]:
    """JPEG baseline cine (4:2:2, YBR_FULL_422 as PS3.5 8.2.1 requires); returns the JPEG streams."""
    streams = []
    for rgb in rgb_frames:
        buf = io.BytesIO()
        Image.fromarray(rgb).save(buf, format="JPEG", quality=quality, subsampling=1)
        streams.append(buf.getvalue())
    n, h, w, _ = rgb_frames.shape
    ds = base(
        h,
        w,
        photometric="YBR_FULL_422",
        samples=3,
        bits_allocated=8,
        bits_stored=8,
        frames=n,
        ts=uid.JPEGBaseline8Bit,
    )
    ds.PixelData = encapsulate(streams)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    return save(ds, path), streams


def compressed(src: Path, dst: Path, ts: str) -> Path:
    """Re-encode with pydicom's own encoders (RLE, JPEG 2000 via pylibjpeg-openjpeg)."""
    from pydicom import dcmread

    ds = dcmread(src)
    ds.compress(ts)
    return save(ds, dst)


def gdcm_transcode(src: Path, dst: Path, ts_name: str) -> Path:
    """Re-encode with GDCM (JPEG extended / lossless / JPEG-LS encoders pydicom lacks)."""
    import gdcm

    reader = gdcm.ImageReader()
    reader.SetFileName(str(src))
    assert reader.Read(), f"gdcm cannot read {src}"
    change = gdcm.ImageChangeTransferSyntax()
    change.SetTransferSyntax(gdcm.TransferSyntax(getattr(gdcm.TransferSyntax, ts_name)))
    change.SetInput(reader.GetImage())
    assert change.Change(), f"gdcm cannot encode {ts_name}"
    writer = gdcm.ImageWriter()
    writer.SetFileName(str(dst))
    writer.SetFile(reader.GetFile())
    writer.SetImage(change.GetOutput())
    assert writer.Write()
    return dst


def h264_dicom(path: Path, mp4: Path, ffmpeg: str, *, frame_time_ms: float = 1000 / 30) -> Path:
    """An MPEG-4 AVC/H.264 DICOM cine: the MP4's H.264 stream, bit for bit, as an Annex B stream."""
    raw = subprocess.run(
        [
            ffmpeg,
            "-hide_banner",
            "-loglevel",
            "error",
            "-i",
            str(mp4),
            "-c:v",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            "-",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    ).stdout
    import cv2

    cap = cv2.VideoCapture(str(mp4))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    w, h = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
    cap.release()
    ds = base(
        h,
        w,
        photometric="YBR_PARTIAL_420",
        samples=3,
        bits_allocated=8,
        bits_stored=8,
        frames=n,
        ts=uid.MPEG4HP41,
    )
    ds.FrameTime = f"{frame_time_ms:.4f}"
    ds.FrameIncrementPointer = 0x00181063
    # One video stream split into fragments of about 16 KiB, as scanners write it.
    n_fragments = max(1, -(-len(raw) // (1 << 14)))
    ds.PixelData = encapsulate([raw], fragments_per_frame=n_fragments, has_bot=False)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.LossyImageCompression = "01"
    return save(ds, path)


def ybr_full_to_rgb_reference(ybr: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ybr_full` by inverting its matrix (no decoder code involved)."""
    m = np.array([[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]])
    x = ybr.astype(np.float64) - np.array([0, 128, 128])
    rgb = x @ np.linalg.inv(m).T
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def edit(src: Path, dst: Path, change: object) -> Path:
    """Copy a DICOM file with ``change(ds)`` applied (for damaged / unusual variants)."""
    from pydicom import dcmread

    ds = dcmread(src)
    change(ds)  # type: ignore[operator]
    ds.save_as(dst, enforce_file_format=False)
    return dst


def with_transfer_syntax(src: Path, dst: Path, ts: str) -> Path:
    """Byte-level copy with a different Transfer Syntax UID in the file meta (the dataset bytes are
    untouched). pydicom refuses to write unknown or mismatching syntaxes; scanners and broken tools do not."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filereader import read_file_meta_info
    from pydicom.filewriter import write_file_meta_info

    data = src.read_bytes()
    meta = read_file_meta_info(src)
    group_length = int(meta.FileMetaInformationGroupLength)
    body = data[132 + 12 + group_length :]
    meta.TransferSyntaxUID = ts
    buf = DicomBytesIO()
    buf.is_little_endian, buf.is_implicit_VR = True, False
    write_file_meta_info(buf, meta, enforce_standard=True)
    dst.write_bytes(data[:128] + b"DICM" + buf.getvalue() + body)
    return dst
