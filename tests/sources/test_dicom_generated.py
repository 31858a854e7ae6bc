"""DICOM variants written from real ultrasound pixels.

Grey scale pipeline, YBR, JPEG, lossless cines, frame timing, laziness, H.264.
"""

from __future__ import annotations

import io
import os
import tracemalloc
from pathlib import Path

import numpy as np
import pydicom
import pytest
from testdata import shared_or_local
from PIL import Image
from pydicom import uid
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import dicom_meta, open_source
from fada_desk.sources.dicom import DicomSource

from . import dicom_factory as factory


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return factory.hc18_grey()


@pytest.fixture(scope="module")
def cine() -> np.ndarray:
    return factory.cine_rgb(30)


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dicom")


@pytest.fixture(scope="module")
def rgb_cine_file(out: Path, cine: np.ndarray) -> Path:
    return factory.native(out / "rgb_cine.dcm", cine, photometric="RGB")


def _expected_linear(x: np.ndarray, c: float, w: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 written out independently of fada_desk."""
    y = ((x.astype(np.float64) - (c - 0.5)) / (w - 1) + 0.5) * 255
    return np.clip(np.rint(y), 0, 255).astype(np.uint8)


# -- grey scale ----------------------------------------------------------------------------------


@pytest.mark.parametrize("big_endian", [False, True], ids=["LE", "BE"])
def test_12bit_monochrome2_with_window(out: Path, grey: np.ndarray, big_endian: bool) -> None:
    g12 = grey.astype(np.uint16) * 16
    path = factory.native(
        out / f"g12_{big_endian}.dcm", g12, photometric="MONOCHROME2", bits_stored=12, big_endian=big_endian
    )
    factory.edit(path, path, lambda ds: (setattr(ds, "WindowCenter", 2048), setattr(ds, "WindowWidth", 4096)))
    with DicomSource(path) as src:
        assert src.info.metadata["BitsStored"] == 12 and src.info.metadata["BitsAllocated"] == 16
        assert np.array_equal(src.read_raw(0), g12)
        px = src.read(0).pixels
        assert src.read(0).meta["bits_stored"] == 12
    assert np.array_equal(px, _expected_linear(g12, 2048, 4096))
    assert np.abs(px.astype(int) - grey).max() <= 1


def test_signed_16bit_with_rescale_and_window(out: Path, grey: np.ndarray) -> None:
    stored = grey.astype(np.int16) * 8 - 1000  # signed stored values
    path = factory.native(out / "s16.dcm", stored, photometric="MONOCHROME2", bits_stored=16)

    def change(ds: Dataset) -> None:
        ds.RescaleSlope, ds.RescaleIntercept = 2, 100
        ds.WindowCenter, ds.WindowWidth = 100, 3000

    factory.edit(path, path, change)
    with DicomSource(path) as src:
        px = src.read(0).pixels
    assert np.array_equal(px, _expected_linear(stored.astype(np.float64) * 2 + 100, 100, 3000))


@pytest.mark.parametrize("bits", [8, 16])
def test_monochrome1_is_inverted(out: Path, grey: np.ndarray, bits: int) -> None:
    if bits == 8:
        path = factory.native(out / "m1_8.dcm", 255 - grey, photometric="MONOCHROME1")
        expected = grey
    else:
        stored = (255 - grey).astype(np.uint16) * 256
        path = factory.native(out / "m1_16.dcm", stored, photometric="MONOCHROME1", bits_stored=16)
        factory.edit(
            path, path, lambda ds: (setattr(ds, "WindowCenter", 32768), setattr(ds, "WindowWidth", 65536))
        )
        expected = 255 - _expected_linear(stored, 32768, 65536)
    with DicomSource(path) as src:
        px = src.read(0).pixels
    assert np.array_equal(px, expected)


def test_voi_lut_sequence_is_applied(out: Path, grey: np.ndarray) -> None:
    g12 = grey.astype(np.uint16) * 16
    lut = (np.sqrt(np.arange(4096) / 4095) * 65535).astype(np.uint16)  # a gamma-like VOI LUT, 16-bit entries
    path = factory.native(out / "voi.dcm", g12, photometric="MONOCHROME2", bits_stored=12)

    def change(ds: Dataset) -> None:
        item = Dataset()
        item.LUTDescriptor = [4096, 0, 16]
        item.LUTData = lut.tolist()
        item["LUTData"].VR = "US"
        ds.VOILUTSequence = Sequence([item])
        ds.WindowCenter, ds.WindowWidth = 10, 20  # the VOI LUT takes precedence over the window

    factory.edit(path, path, change)
    with DicomSource(path) as src:
        px = src.read(0).pixels
        assert src.window is None
    assert np.array_equal(px, (lut[g12] >> 8).astype(np.uint8))


def test_no_window_uses_one_fixed_range_for_the_whole_cine(out: Path, grey: np.ndarray) -> None:
    f0 = grey.astype(np.uint16) * 16 + 100
    cine = np.stack([f0, f0 // 2, f0])
    path = factory.native(out / "auto.dcm", cine, photometric="MONOCHROME2", bits_stored=12)
    with DicomSource(path) as src:
        dw = src.info.metadata["display_window"]
        assert dw["from"] == "auto" and dw["range"] == [float(f0.min()), float(f0.max())]
        a, b, c = (src.read(i).pixels.astype(int) for i in (0, 1, 2))
    assert a.max() == 255 and a.min() == 0
    assert b.mean() < a.mean() * 0.7  # the darker frame stays darker: no per-frame re-stretch
    assert np.array_equal(a, c)


def test_set_window_overrides_and_restores(out: Path, grey: np.ndarray) -> None:
    g12 = grey.astype(np.uint16) * 16
    path = factory.native(out / "wl.dcm", g12, photometric="MONOCHROME2", bits_stored=12)
    factory.edit(path, path, lambda ds: (setattr(ds, "WindowCenter", 2048), setattr(ds, "WindowWidth", 4096)))
    with DicomSource(path) as src:
        src.set_window(1000, 500)
        assert np.array_equal(src.read(0).pixels, _expected_linear(g12, 1000, 500))
        src.set_window(None)
        assert np.array_equal(src.read(0).pixels, _expected_linear(g12, 2048, 4096))
        with pytest.raises(SourceError, match="invalid window"):
            src.set_window(100, 0)
    with DicomSource(shared_or_local("dicom", "US1_UNCR.dcm")) as colour, pytest.raises(SourceError):
        colour.set_window(128, 256)


def test_window_option_at_open(out: Path, grey: np.ndarray) -> None:
    path = factory.native(out / "g8.dcm", grey, photometric="MONOCHROME2")
    with DicomSource(path, window=(100, 50)) as src:
        assert src.info.metadata["display_window"]["from"] == "user"
        assert np.array_equal(src.read(0).pixels, _expected_linear(grey, 100, 50))
    with DicomSource(path) as src:  # plain 8-bit, no window: shown as stored
        assert np.array_equal(src.read(0).pixels, grey)


# -- colour --------------------------------------------------------------------------------------


def test_native_ybr_full_converted_to_rgb(out: Path, cine: np.ndarray) -> None:
    ybr = factory.rgb_to_ybr_full(cine[:3])
    path = factory.native(out / "ybr_full.dcm", ybr, photometric="YBR_FULL")
    with DicomSource(path) as src:
        for i in range(3):
            px = src.read(i).pixels.astype(int)
            assert np.abs(px - factory.ybr_full_to_rgb_reference(ybr[i])).max() <= 1
            assert np.abs(px - cine[i]).max() <= 3  # only rounding lost


def test_native_ybr_full_422_upsampled_and_converted(out: Path, cine: np.ndarray) -> None:
    path, expected_ybr = factory.ybr422(out / "ybr422.dcm", cine[:4])
    with DicomSource(path) as src:
        assert src.info.frame_count == 4
        for i in (3, 0, 2):
            px = src.read(i).pixels.astype(int)
            assert np.abs(px - factory.ybr_full_to_rgb_reference(expected_ybr[i])).max() <= 1


def test_jpeg_baseline_ybr_422_matches_pillow_and_original(out: Path, cine: np.ndarray) -> None:
    """Whether the JPEG decoder already converted YCbCr or not, the result must be RGB once, not twice."""
    path, streams = factory.jpeg_baseline(out / "jpeg_baseline.dcm", cine[:5])
    with DicomSource(path) as src:
        assert src.info.metadata["TransferSyntaxUID"] == uid.JPEGBaseline8Bit
        assert src.info.frame_count == 5
        for i in (4, 1, 0):
            px = src.read(i).pixels.astype(int)
            ref = np.asarray(Image.open(io.BytesIO(streams[i])).convert("RGB")).astype(int)
            assert np.abs(px - ref).max() <= 2
            assert np.abs(px - cine[i]).mean() < 3


def test_jpeg_extended_8bit(out: Path, grey: np.ndarray) -> None:
    src_path = factory.native(out / "g8_for_ext.dcm", grey, photometric="MONOCHROME2")
    path = factory.gdcm_transcode(src_path, out / "jpeg_ext8.dcm", "JPEGExtendedProcess2_4")
    with DicomSource(path) as src:
        assert src.info.metadata["TransferSyntaxUID"] == uid.JPEGExtended12Bit
        px = src.read(0).pixels.astype(int)
    assert np.abs(px - grey).mean() < 1.5 and np.abs(px - grey).max() < 40


def test_jpeg_extended_12bit_without_libjpeg_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from fada_desk.sources import _dicom_codecs

    from . import robust_cases

    # Pillow and GDCM decode 8-bit JPEG only: without pylibjpeg-libjpeg a 12-bit file is refused, not misread.
    monkeypatch.setattr(_dicom_codecs, "_has_libjpeg", lambda: False)
    with pytest.raises(UnsupportedFormatError, match="12-bit JPEG Extended images need the pylibjpeg-libjpeg"):
        DicomSource(robust_cases.jpeg12())


@pytest.mark.parametrize(
    ("ts", "how"),
    [
        (uid.RLELossless, "pydicom"),
        (uid.JPEG2000Lossless, "pydicom"),
        ("JPEGLSLossless", "gdcm"),
        ("JPEGLosslessProcess14_1", "gdcm"),
    ],
    ids=["rle", "j2k", "jpeg-ls", "jpeg-lossless"],
)
def test_lossless_cines_equal_the_uncompressed_cine(
    out: Path, rgb_cine_file: Path, cine: np.ndarray, ts: str, how: str
) -> None:
    short = rgb_cine_file.with_name("rgb_cine_8.dcm")
    if not short.exists():
        factory.native(short, cine[:8], photometric="RGB")
    dst = out / f"lossless_{ts}.dcm"
    if how == "pydicom":
        factory.compressed(short, dst, ts)
    else:
        factory.gdcm_transcode(short, dst, ts)
    with DicomSource(dst) as src:
        assert src.info.frame_count == 8
        for i in (7, 0, 3):
            assert np.array_equal(src.read(i).pixels, cine[i]), i


def test_12bit_lossless_keeps_stored_values(out: Path, grey: np.ndarray) -> None:
    g12 = grey.astype(np.uint16) * 16 + 7
    src_path = factory.native(out / "g12_ll.dcm", g12, photometric="MONOCHROME2", bits_stored=12)
    for name in ("JPEGLSLossless", "JPEGLosslessProcess14_1"):
        path = factory.gdcm_transcode(src_path, out / f"g12_{name}.dcm", name)
        with DicomSource(path) as src:
            assert np.array_equal(src.read_raw(0), g12)


# -- cines: timing, laziness, video transfer syntaxes ---------------------------------------------


def test_cine_frame_time_gives_fps_and_timestamps(out: Path, rgb_cine_file: Path, cine: np.ndarray) -> None:
    path = factory.edit(
        rgb_cine_file,
        out / "ft.dcm",
        lambda ds: (setattr(ds, "FrameTime", "33.3333"), setattr(ds, "FrameIncrementPointer", 0x00181063)),
    )
    with open_source(path) as src:
        assert src.info.frame_count == 30
        assert src.info.fps == pytest.approx(30.0, abs=0.01)
        assert src.info.metadata["fps_from"] == "FrameTime"
        f = src.read(15)
        assert f.timestamp == pytest.approx(15 / src.info.fps)
        assert np.array_equal(f.pixels, cine[15])


def test_cine_frame_time_vector_gives_cumulative_timestamps(out: Path, rgb_cine_file: Path) -> None:
    vector = [0.0] + [40.0, 50.0] * 14 + [40.0]  # irregular, 30 entries

    def change(ds: Dataset) -> None:
        ds.FrameTimeVector = vector
        ds.FrameTime = "20"  # present too, but the pointer says the vector is authoritative
        ds.FrameIncrementPointer = 0x00181065

    path = factory.edit(rgb_cine_file, out / "ftv.dcm", change)
    with DicomSource(path) as src:
        assert src.info.metadata["fps_from"] == "FrameTimeVector"
        assert src.info.fps == pytest.approx(1000 / np.mean(vector[1:]), rel=1e-3)
        assert src.read(3).timestamp == pytest.approx((40 + 50 + 40) / 1000)
        assert src.read(29).timestamp == pytest.approx(sum(vector) / 1000)


@pytest.mark.parametrize(
    ("tags", "fps", "origin"),
    [
        ({"FrameTime": "40"}, 25.0, "FrameTime"),
        ({"CineRate": 24}, 24.0, "CineRate"),
        ({"RecommendedDisplayFrameRate": 15}, 15.0, "RecommendedDisplayFrameRate"),
        ({"CineRate": 24, "FrameTime": "50"}, 20.0, "FrameTime"),
        ({"FrameTime": "0", "CineRate": 12}, 12.0, "CineRate"),  # invalid frame time falls through
        ({}, None, ""),
    ],
)
def test_frame_rate_sources(tags: dict[str, object], fps: float | None, origin: str) -> None:
    ds = Dataset()
    for k, v in tags.items():
        setattr(ds, k, v)
    got, times, where = dicom_meta.frame_timing(ds, 10)
    assert (got, where) == (fps, origin)
    assert times is None
    assert dicom_meta.frame_timing(ds, 1) == (None, None, "")  # a single image has no rate


def test_frames_are_decoded_one_at_a_time(
    out: Path, rgb_cine_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fada_desk.sources._dicom_pixels import FrameDecoder

    calls: list[int | None] = []
    real = FrameDecoder.decode

    def spy(self: FrameDecoder, index: int) -> np.ndarray:
        calls.append(index)
        return real(self, index)

    monkeypatch.setattr(FrameDecoder, "decode", spy)
    rle = factory.compressed(rgb_cine_file, out / "rle_cine30.dcm", uid.RLELossless)
    for path in (rgb_cine_file, rle):
        calls.clear()
        with DicomSource(path) as src:
            assert calls == [0]  # open decodes frame 0 only
            src.read(17)
            src.read(17)  # cached
            src.read(3)
            assert calls == [0, 17, 3]


def test_opening_a_big_native_cine_does_not_load_it(out: Path, cine: np.ndarray) -> None:
    big = np.concatenate([cine] * 3)  # 90 frames, 20 MB of pixel data on disk
    path = factory.native(out / "big.dcm", big, photometric="RGB")
    assert os.path.getsize(path) > 20_000_000
    frame_bytes = big[0].nbytes
    tracemalloc.start()
    try:
        src = DicomSource(path)
        _, peak_open = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        f = src.read(89)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert np.array_equal(f.pixels, cine[29])
    src.close()
    assert peak_open < 8 * frame_bytes, peak_open
    assert peak_read < 8 * frame_bytes, peak_read


def test_h264_dicom_cine_decodes_like_the_mp4(out: Path) -> None:
    import cv2
    import imageio_ffmpeg

    mp4 = shared_or_local("video", "us_cine_sonosite_30f.mp4")
    path = factory.h264_dicom(out / "h264.dcm", mp4, imageio_ffmpeg.get_ffmpeg_exe())
    cap = cv2.VideoCapture(str(mp4))
    ref = []
    while True:
        ok, bgr = cap.read()
        if not ok:
            break
        ref.append(bgr[:, :, ::-1])
    cap.release()
    with open_source(path) as src:
        info = src.info
        assert (info.kind, info.frame_count, info.width, info.height) == ("dicom", 30, 320, 240)
        assert info.fps == pytest.approx(30.0, abs=0.01)
        assert info.metadata["TransferSyntaxUID"] == uid.MPEG4HP41
        assert info.metadata["decoded_with"] == "ffmpeg"
        for i in (0, 1, 29, 5, 4, 17):
            assert np.array_equal(src.read(i).pixels, ref[i]), i
        with pytest.raises(SourceError, match="not available"):
            src.read_raw(0)
        tmp = src._video_tmp
        assert tmp is not None and os.path.exists(tmp)
    assert not os.path.exists(tmp)  # the temporary stream copy is removed on close


def test_raw_dataset_without_preamble_and_deflated_file(out: Path, grey: np.ndarray) -> None:
    path = factory.native(out / "for_raw.dcm", grey, photometric="MONOCHROME2")
    ds = pydicom.dcmread(path)
    ds.PixelData = grey.tobytes()
    bare = out / "bare_implicit.dcm"
    del ds.file_meta
    ds.preamble = None  # old ACR-NEMA style: no preamble, no "DICM", no file meta
    ds.save_as(bare, implicit_vr=True, little_endian=True, enforce_file_format=False)
    assert bare.read_bytes()[128:132] != b"DICM"
    with open_source(bare) as src:
        assert src.kind == "dicom"
        assert np.array_equal(src.read(0).pixels, grey)
    ds2 = pydicom.dcmread(path)
    ds2.file_meta.TransferSyntaxUID = uid.DeflatedExplicitVRLittleEndian
    deflated = out / "deflated.dcm"
    ds2.save_as(deflated, enforce_file_format=True)
    with DicomSource(deflated) as src:
        assert src.info.metadata["TransferSyntaxName"] == "Deflated Explicit VR Little Endian"
        assert np.array_equal(src.read(0).pixels, grey)


def test_pixel_spacing_fallback_calibration(out: Path, grey: np.ndarray) -> None:
    path = factory.native(out / "spacing.dcm", grey, photometric="MONOCHROME2")
    factory.edit(path, path, lambda ds: setattr(ds, "PixelSpacing", [0.2, 0.25]))
    with DicomSource(path) as src:
        cal = src.info.calibration
        assert src.info.metadata["calibration_from"] == "PixelSpacing"
    assert cal is not None and cal.is_calibrated
    (r,) = cal.regions
    assert (r.x0, r.y0, r.x1, r.y1) == (0, 0, 799, 539)
    assert r.mm_per_px == pytest.approx((0.25, 0.2))  # (x = column spacing, y = row spacing)


def test_regions_with_missing_fields_are_skipped_with_a_warning(out: Path, grey: np.ndarray) -> None:
    def change(ds: Dataset) -> None:
        good = Dataset()
        good.RegionSpatialFormat, good.RegionDataType = 1, 1
        good.RegionLocationMinX0, good.RegionLocationMinY0 = 10, 20
        good.RegionLocationMaxX1, good.RegionLocationMaxY1 = 700, 500
        good.PhysicalUnitsXDirection, good.PhysicalUnitsYDirection = 3, 3
        good.PhysicalDeltaX, good.PhysicalDeltaY = 0.01, -0.012  # negative: y axis points up
        bad = Dataset()
        bad.RegionLocationMinX0 = 0
        ds.SequenceOfUltrasoundRegions = Sequence([good, bad])

    path = factory.native(out / "regions.dcm", grey, photometric="MONOCHROME2")
    factory.edit(path, path, change)
    with DicomSource(path) as src:
        cal = src.info.calibration
        warnings = src.info.metadata["warnings"]
    assert cal is not None and len(cal.regions) == 1
    assert cal.is_calibrated
    assert cal.regions[0].mm_per_px == pytest.approx((0.1, 0.12))
    assert cal.distance_mm((100, 100), (100, 200)) == pytest.approx(12.0)
    assert any("region 2 skipped" in w for w in warnings)
