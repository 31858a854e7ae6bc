"""Damaged and unsupported DICOM files: one clear line, never a crash or a traceback."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from testdata import shared_or_local
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import open_source
from fada_desk.sources.dicom import DicomSource

from . import dicom_factory as factory

US1 = shared_or_local("dicom", "US1_UNCR.dcm")
OB = shared_or_local("dicom", "OBXXXX1A.dcm")
OB_RLE2 = shared_or_local("dicom", "OBXXXX1A_rle_2frame.dcm")
OB2 = shared_or_local("dicom", "OBXXXX1A_2frame.dcm")
J2K = shared_or_local("dicom", "US1_J2KR.dcm")


def _one_line(err: pytest.ExceptionInfo[BaseException]) -> str:
    text = str(err.value)
    assert "\n" not in text and text.strip() == text and len(text) < 300
    return text


def _cut(src: Path, dst: Path, keep: int) -> Path:
    dst.write_bytes(src.read_bytes()[:keep])
    return dst


def test_truncated_native_pixel_data(tmp_path: Path) -> None:
    size = US1.stat().st_size
    with pytest.raises(SourceError) as err:
        DicomSource(_cut(US1, tmp_path / "cut.dcm", size - 100_000))
    assert "file is truncated" in _one_line(err)


def test_truncated_cine_can_be_opened_with_its_complete_frames(tmp_path: Path) -> None:
    cut = _cut(OB2, tmp_path / "cut2.dcm", OB2.stat().st_size - 1000)  # second frame incomplete
    with pytest.raises(SourceError, match="1 of 2 frames complete"):
        DicomSource(cut)
    with DicomSource(cut, allow_truncated=True) as src:
        assert src.info.frame_count == 1
        assert any("truncated" in w for w in src.info.metadata["warnings"])
        with DicomSource(OB) as whole:
            assert np.array_equal(src.read(0).pixels, whole.read(0).pixels)


def test_truncated_compressed_pixel_data(tmp_path: Path) -> None:
    with pytest.raises(SourceError) as err:
        DicomSource(_cut(OB_RLE2, tmp_path / "cut_rle.dcm", OB_RLE2.stat().st_size - 5000))
    assert "truncated or damaged" in _one_line(err)


@pytest.mark.parametrize("keep", [133, 300, 700, 1200])
def test_truncated_header(tmp_path: Path, keep: int) -> None:
    with pytest.raises(SourceError) as err:
        open_source(_cut(US1, tmp_path / "head.dcm", keep))
    assert "truncated" in _one_line(err)


@pytest.mark.parametrize(
    "content",
    [b"hello, this is a text file\n" * 20, b"", bytes(range(256)) * 8],
    ids=["text", "empty", "binary"],
)
def test_not_a_dicom_file_with_dcm_suffix(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "fake.dcm"
    path.write_bytes(content)
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert "fake.dcm" in _one_line(err)


def test_png_renamed_to_dcm_still_opens_as_an_image(tmp_path: Path) -> None:
    path = tmp_path / "image.dcm"
    shutil.copy(shared_or_local("images", "001_HC.png"), path)
    with open_source(path) as src:
        assert src.kind == "image"


@pytest.mark.parametrize(
    "ts", ["1.2.840.10008.1.2.4.110", "1.2.826.0.1.3680043.9.9999.1"], ids=["jpeg-xl", "private"]
)
def test_unsupported_transfer_syntax(tmp_path: Path, ts: str) -> None:
    path = factory.with_transfer_syntax(US1, tmp_path / "odd_ts.dcm", ts)
    with pytest.raises(UnsupportedFormatError) as err:
        open_source(path)
    text = _one_line(err)
    assert "transfer syntax" in text and "not supported" in text and ts in text


def test_zero_frames(tmp_path: Path) -> None:
    path = factory.edit(OB2, tmp_path / "zero.dcm", lambda ds: setattr(ds, "NumberOfFrames", 0))
    with pytest.raises(SourceError) as err:
        DicomSource(path)
    assert "no frames" in _one_line(err)


def test_no_pixel_data(tmp_path: Path) -> None:
    def drop(ds: Dataset) -> None:
        del ds.PixelData

    path = factory.edit(US1, tmp_path / "nopix.dcm", drop)
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert "no pixel data" in _one_line(err)


def test_not_an_image_object(tmp_path: Path) -> None:
    def strip(ds: Dataset) -> None:
        for kw in ("PixelData", "Rows", "Columns"):
            delattr(ds, kw)
        ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR

    path = factory.edit(US1, tmp_path / "sr.dcm", strip)
    with pytest.raises(SourceError) as err:
        DicomSource(path)
    assert "has no image (Basic Text SR Storage)" in _one_line(err)


def test_corrupt_compressed_frame(tmp_path: Path) -> None:
    import pydicom

    ds = pydicom.dcmread(J2K)
    frame = next(generate_frames(ds.PixelData, number_of_frames=1))
    data = bytearray(J2K.read_bytes())
    start = bytes(data).index(frame[:64]) + 200  # inside the codestream, after its main header
    data[start : start + 40_000] = bytes(40_000)
    path = tmp_path / "corrupt_j2k.dcm"
    path.write_bytes(bytes(data))
    try:
        src = DicomSource(path)
    except SourceError as err:
        assert "cannot decode frame 0" in str(err) and "\n" not in str(err)
    else:  # some J2K decoders conceal errors; the image must then still be a well-formed frame
        with src:
            assert src.read(0).pixels.shape == (480, 640, 3)


def test_garbage_jpeg_fragment_is_a_decode_error(tmp_path: Path) -> None:
    frames = factory.cine_rgb(2)
    path, _ = factory.jpeg_baseline(tmp_path / "jpeg.dcm", frames)

    def garble(ds: Dataset) -> None:
        from pydicom.encaps import encapsulate, generate_frames

        good = list(generate_frames(ds.PixelData, number_of_frames=2))
        ds.PixelData = encapsulate([good[0], b"\xff\xd8" + bytes(5000)])

    bad = factory.edit(path, tmp_path / "jpeg_bad.dcm", garble)
    with DicomSource(bad) as src:  # frame 0 is fine, so it opens
        assert src.read(0).pixels.shape == (240, 320, 3)
        with pytest.raises(SourceError) as err:
            src.read(1)
        assert "cannot decode frame 1" in _one_line(err)


def test_unsupported_photometric_and_missing_palette(tmp_path: Path) -> None:
    hsv = factory.edit(US1, tmp_path / "hsv.dcm", lambda ds: setattr(ds, "PhotometricInterpretation", "HSV"))
    with pytest.raises(UnsupportedFormatError, match="'HSV' is not supported"):
        DicomSource(hsv)

    def no_palette(ds: Dataset) -> None:
        del ds.RedPaletteColorLookupTableDescriptor

    bad = factory.edit(OB, tmp_path / "nopal.dcm", no_palette)
    with pytest.raises(SourceError, match="palette"):
        DicomSource(bad)


def test_wrong_frame_count_for_pixel_data(tmp_path: Path) -> None:
    path = factory.edit(OB_RLE2, tmp_path / "frames5.dcm", lambda ds: setattr(ds, "NumberOfFrames", 5))
    with pytest.raises(SourceError, match="2 fragments for 5 frames"):
        DicomSource(path)


def test_video_transfer_syntax_without_a_video_stream(tmp_path: Path) -> None:
    path = factory.with_transfer_syntax(US1, tmp_path / "fake_h264.dcm", uid.MPEG4HP41)
    with pytest.raises(SourceError) as err:
        DicomSource(path)
    assert "without an encapsulated video stream" in _one_line(err)


def test_video_stream_ffmpeg_cannot_decode(tmp_path: Path) -> None:
    def junk_stream(ds: Dataset) -> None:
        from pydicom.encaps import encapsulate

        ds.PixelData = encapsulate([bytes(range(256)) * 64], has_bot=False)
        ds["PixelData"].VR = "OB"
        ds["PixelData"].is_undefined_length = True

    enc = factory.edit(
        US1,
        tmp_path / "junk_enc.dcm",
        lambda ds: (setattr(ds.file_meta, "TransferSyntaxUID", uid.RLELossless), junk_stream(ds)),
    )
    path = factory.with_transfer_syntax(enc, tmp_path / "junk_h264.dcm", uid.MPEG4HP41)
    with pytest.raises(UnsupportedFormatError) as err:
        DicomSource(path)
    assert "cannot decode the MPEG-4 AVC/H.264" in _one_line(err)


def test_reads_after_close_and_out_of_range() -> None:
    src = DicomSource(OB2)
    with pytest.raises(SourceError, match="out of range"):
        src.read(2)
    with pytest.raises(SourceError, match="out of range"):
        src.read(-1)
    src.close()
    src.close()
    with pytest.raises(SourceError, match="closed"):
        src.read(1)


def test_folder_and_missing_path() -> None:
    with pytest.raises(SourceError, match="no such file"):
        DicomSource("/nonexistent/file.dcm")
    with pytest.raises(SourceError, match="folder"):
        DicomSource(US1.parent)
