"""Still images and folders of images, on a real HC18 ultrasound image and the real cine."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from testdata import shared_or_local
from PIL import Image

from fada_desk.core.errors import SourceError, UnsupportedFormatError
from fada_desk.sources import open_source
from fada_desk.sources.folder import FolderSource, natural_key
from fada_desk.sources.image import ImageSource

from . import dicom_factory as factory

HC18 = shared_or_local("images", "001_HC.png")


@pytest.fixture(scope="module")
def grey() -> np.ndarray:
    return factory.hc18_grey()


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    return factory.cine_rgb(3)[1]


def test_png_grey_is_passed_through_exactly(grey: np.ndarray) -> None:
    with open_source(HC18) as src:
        assert isinstance(src, ImageSource)
        info = src.info
        assert (info.kind, info.width, info.height, info.frame_count, info.fps) == (
            "image",
            800,
            540,
            1,
            None,
        )
        assert info.metadata["format"] == "PNG" and info.metadata["bits_stored"] == 8
        f = src.read(0)
    assert f.pixels.shape == (540, 800) and f.pixels.dtype == np.uint8
    assert np.array_equal(f.pixels, grey)
    assert not f.pixels.flags.writeable
    assert f.index == 0 and f.meta["path"] == str(HC18)


@pytest.mark.parametrize("fmt,suffix", [("BMP", ".bmp"), ("TIFF", ".tif"), ("PNG", ".png")])
def test_lossless_rgb_formats(tmp_path: Path, rgb: np.ndarray, fmt: str, suffix: str) -> None:
    path = tmp_path / f"frame{suffix}"
    Image.fromarray(rgb).save(path, format=fmt)
    with ImageSource(path) as src:
        assert np.array_equal(src.read(0).pixels, rgb)


def test_jpeg_matches_pillow_decoding_and_original(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "frame.jpg"
    Image.fromarray(rgb).save(path, quality=95)
    with ImageSource(path) as src:
        px = src.read(0).pixels
    assert np.array_equal(px, np.asarray(Image.open(path).convert("RGB")))
    assert np.abs(px.astype(int) - rgb).mean() < 3  # lossy, but the same picture


def test_16bit_grey_png_and_tiff_windowed_to_full_range(tmp_path: Path, grey: np.ndarray) -> None:
    g16 = grey.astype(np.uint16) * 257 + 100
    lo, hi = float(g16.min()), float(g16.max())
    expected = np.rint((g16 - lo) / (hi - lo) * 255).astype(int)
    for name in ("g16.png", "g16.tif"):
        Image.fromarray(g16).save(tmp_path / name)
        with ImageSource(tmp_path / name) as src:
            assert src.info.metadata["bits_stored"] == 16
            f = src.read(0)
        assert f.meta["bits_stored"] == 16
        assert f.pixels.dtype == np.uint8
        assert np.abs(f.pixels.astype(int) - expected).max() <= 1


def test_16bit_rgb_keeps_high_byte_and_reports_16_bits(tmp_path: Path, rgb: np.ndarray) -> None:
    import cv2

    rgb16 = rgb.astype(np.uint16) * 256 + 77
    cv2.imwrite(str(tmp_path / "rgb16.png"), rgb16[:, :, ::-1])
    with ImageSource(tmp_path / "rgb16.png") as src:
        f = src.read(0)
        assert src.info.metadata["bits_stored"] == 16
    assert np.array_equal(f.pixels, rgb)


def test_rgba_is_composited_over_black(tmp_path: Path, rgb: np.ndarray) -> None:
    alpha = np.full(rgb.shape[:2], 255, np.uint8)
    alpha[:, :50] = 0
    Image.fromarray(np.dstack([rgb, alpha])).save(tmp_path / "rgba.png")
    with ImageSource(tmp_path / "rgba.png") as src:
        px = src.read(0).pixels
    assert px.shape == rgb.shape
    assert np.array_equal(px[:, 50:], rgb[:, 50:])
    assert not px[:, :50].any()


def test_palette_colour_and_palette_grey(tmp_path: Path, rgb: np.ndarray, grey: np.ndarray) -> None:
    pal = Image.fromarray(rgb).quantize(64)
    pal.save(tmp_path / "pal.png")
    with ImageSource(tmp_path / "pal.png") as src:
        assert np.array_equal(src.read(0).pixels, np.asarray(pal.convert("RGB")))
    # A palette of greys (common for exported ultrasound) stays a grey frame.
    pal_grey = Image.fromarray(grey).convert("P")
    pal_grey.putpalette([v for i in range(256) for v in (i, i, i)])
    pal_grey.save(tmp_path / "palgrey.png")
    with ImageSource(tmp_path / "palgrey.png") as src:
        px = src.read(0).pixels
    assert px.ndim == 2
    assert np.array_equal(px, np.asarray(pal_grey.convert("L")))


def test_bilevel_and_grey_alpha(tmp_path: Path, grey: np.ndarray) -> None:
    Image.fromarray(grey).convert("1").save(tmp_path / "bw.png")
    with ImageSource(tmp_path / "bw.png") as src:
        px = src.read(0).pixels
    assert set(np.unique(px).tolist()) <= {0, 255}
    la = np.dstack([grey, np.full_like(grey, 255)])
    Image.fromarray(la, mode="LA").save(tmp_path / "la.png")
    with ImageSource(tmp_path / "la.png") as src:
        assert np.array_equal(src.read(0).pixels, grey)


def test_exif_orientation_is_applied(tmp_path: Path, rgb: np.ndarray) -> None:
    im = Image.fromarray(rgb)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    im.save(tmp_path / "rot.jpg", exif=exif, quality=95)
    with ImageSource(tmp_path / "rot.jpg") as src:
        px = src.read(0).pixels
        assert (src.info.width, src.info.height) == (rgb.shape[0], rgb.shape[1])
    assert px.shape[:2] == (rgb.shape[1], rgb.shape[0])


def test_multipage_tiff_and_animated_gif(tmp_path: Path) -> None:
    frames = factory.cine_rgb(4)
    ims = [Image.fromarray(f) for f in frames]
    ims[0].save(tmp_path / "cine.tif", save_all=True, append_images=ims[1:])
    with open_source(tmp_path / "cine.tif") as src:
        assert src.info.frame_count == 4
        for i in (3, 0, 2, 1):
            assert np.array_equal(src.read(i).pixels, frames[i])
    ims[0].save(tmp_path / "cine.gif", save_all=True, append_images=ims[1:], duration=100, loop=0)
    with open_source(tmp_path / "cine.gif") as src:
        assert src.info.frame_count == 4
        assert src.info.fps == 10.0
        f = src.read(2)
        assert f.timestamp == pytest.approx(0.2)
        assert f.pixels.shape == (240, 320, 3)


def test_single_image_file_is_released_after_open(tmp_path: Path) -> None:
    path = tmp_path / "a.png"
    shutil.copy(HC18, path)
    src = ImageSource(path)
    path.unlink()  # the user moves the file away: the frame is still there
    assert src.read(0).pixels.shape == (540, 800)
    src.close()


def test_bad_images_give_one_line_errors(tmp_path: Path) -> None:
    data = HC18.read_bytes()
    (tmp_path / "trunc.png").write_bytes(data[: len(data) // 3])
    with pytest.raises(SourceError, match="trunc.png: corrupt or truncated"):
        ImageSource(tmp_path / "trunc.png")
    (tmp_path / "text.png").write_text("not an image at all")
    with pytest.raises(UnsupportedFormatError, match="text.png: not a readable image"):
        open_source(tmp_path / "text.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(SourceError, match="not a supported"):
        open_source(tmp_path / "notes.txt")
    with pytest.raises(SourceError, match="no such file"):
        open_source(tmp_path / "missing.png")
    with ImageSource(HC18) as src, pytest.raises(SourceError, match="out of range"):
        src.read(1)


def test_image_without_suffix_is_found_by_magic(tmp_path: Path, grey: np.ndarray) -> None:
    shutil.copy(HC18, tmp_path / "export_0001")
    with open_source(tmp_path / "export_0001") as src:
        assert src.kind == "image"
        assert np.array_equal(src.read(0).pixels, grey)


# -- folders -------------------------------------------------------------------------------------


def test_natural_key_orders_numbers_numerically() -> None:
    names = ["img10.png", "img2.png", "IMG3.png", "img1.png", "img02.png"]
    # equal numbers: the shorter spelling first, so the order is total and stable
    assert sorted(names, key=natural_key) == ["img1.png", "img2.png", "img02.png", "IMG3.png", "img10.png"]


@pytest.fixture
def cine_folder(tmp_path: Path) -> tuple[Path, np.ndarray]:
    frames = factory.cine_rgb(12)
    d = tmp_path / "cine"
    d.mkdir()
    for i, f in enumerate(frames):
        Image.fromarray(f).save(d / f"frame{i + 1}.png")
    (d / "notes.txt").write_text("not an image")
    (d / ".hidden.png").write_bytes(b"junk")
    (d / "._frame1.png").write_bytes(b"macOS resource fork")
    (d / "sub").mkdir()
    return d, frames


def test_folder_plays_images_in_natural_order(cine_folder: tuple[Path, np.ndarray]) -> None:
    d, frames = cine_folder
    with open_source(d) as src:
        assert isinstance(src, FolderSource)
        assert src.info.frame_count == 12
        assert [p.name for p in src.files][:3] == ["frame1.png", "frame2.png", "frame3.png"]
        assert src.files[-1].name == "frame12.png"
        for i in (0, 9, 11, 1):
            f = src.read(i)
            assert np.array_equal(f.pixels, frames[i])
            assert f.meta["path"].endswith(f"frame{i + 1}.png")


def test_folder_fps_gives_timestamps(cine_folder: tuple[Path, np.ndarray]) -> None:
    d, _ = cine_folder
    with FolderSource(d, fps=25) as src:
        assert src.info.fps == 25
        assert src.read(5).timestamp == pytest.approx(0.2)


def test_folder_with_mixed_sizes_and_a_corrupt_file(
    tmp_path: Path, grey: np.ndarray, rgb: np.ndarray
) -> None:
    Image.fromarray(grey).save(tmp_path / "a1.png")
    Image.fromarray(rgb).save(tmp_path / "a2.jpg", quality=95)
    (tmp_path / "a3.png").write_bytes(HC18.read_bytes()[:500])
    Image.fromarray(rgb[:100, :120]).save(tmp_path / "a4.bmp")
    with FolderSource(tmp_path) as src:
        assert (src.info.width, src.info.height) == (800, 540)
        assert src.read(0).pixels.shape == (540, 800)
        assert src.read(1).pixels.shape == (240, 320, 3)
        with pytest.raises(SourceError, match="a3.png"):
            src.read(2)
        assert np.array_equal(src.read(3).pixels, rgb[:100, :120])


def test_empty_folder_and_folder_without_images(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="no images in this folder"):
        open_source(tmp_path)
    (tmp_path / "readme.txt").write_text("x")
    (tmp_path / "scan.dcm").write_bytes(b"x")
    with pytest.raises(SourceError, match="no images in this folder"):
        FolderSource(tmp_path)
    with pytest.raises(SourceError, match="no such folder"):
        FolderSource(tmp_path / "nope")


def _tiff_with_broken_second_page(path: Path, rgb: np.ndarray, tag: int) -> Path:
    """3-page TIFF whose page 2 lost the IFD entry ``tag`` (Pillow raises TypeError/SyntaxError, not OSError)."""
    import io
    import struct

    buf = io.BytesIO()
    pages = [Image.fromarray(rgb[:64, :64]) for _ in range(3)]
    pages[0].save(buf, format="TIFF", save_all=True, append_images=pages[1:])
    data = bytearray(buf.getvalue())
    assert data[:2] == b"II"
    first = struct.unpack_from("<L", data, 4)[0]
    n = struct.unpack_from("<H", data, first)[0]
    second = struct.unpack_from("<L", data, first + 2 + 12 * n)[0]
    for i in range(struct.unpack_from("<H", data, second)[0]):
        at = second + 2 + 12 * i
        if struct.unpack_from("<H", data, at)[0] == tag:
            struct.pack_into("<H", data, at, 0x7FF0)  # an unknown private tag instead
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize(
    ("tag", "why"), [(256, "Missing dimensions"), (262, "unknown pixel mode")], ids=["width", "photometric"]
)
def test_damaged_tiff_page_is_a_one_line_error(tmp_path: Path, rgb: np.ndarray, tag: int, why: str) -> None:
    # Found by the fuzz campaign (issue 10): counting pages raised TypeError / SyntaxError out of ImageSource.
    path = _tiff_with_broken_second_page(tmp_path / "pages.tif", rgb, tag)
    with pytest.raises(SourceError) as err:
        open_source(path)
    assert str(err.value) == f"pages.tif: corrupt or unsupported image ({why})"


def test_alpha_composited_in_bands_equals_the_exact_composite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from fada_desk.sources import _convert

    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    rgba = np.stack([c, (c * 7) % 256, 255 - c, a], axis=-1).astype(np.uint8)
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    Image.fromarray(rgba[:, :, [0, 3]], "LA").save(tmp_path / "la.png")
    monkeypatch.setattr(_convert, "BLOCK_ELEMENTS", 1000)  # bands of a few rows
    with ImageSource(tmp_path / "rgba.png") as src:
        assert np.array_equal(src.read(0).pixels, _convert.rgba_to_rgb(rgba))
    with ImageSource(tmp_path / "la.png") as src:
        assert np.array_equal(src.read(0).pixels, _convert.grey_alpha_to_grey(rgba[:, :, [0, 3]]))


def test_an_animated_png_declaring_2_31_frames_is_refused(tmp_path: Path) -> None:
    import struct
    import zlib

    # Found by the fuzz campaign: Pillow reports the acTL frame count unchecked.
    buf = tmp_path / "apng.png"
    Image.fromarray(np.zeros((8, 8), np.uint8)).save(buf)
    data = buf.read_bytes()
    actl = struct.pack(">LL", 1 << 31, 0)
    chunk = struct.pack(">L", 8) + b"acTL" + actl + struct.pack(">L", zlib.crc32(b"acTL" + actl))
    end_of_ihdr = 8 + 8 + 13 + 4
    buf.write_bytes(data[:end_of_ihdr] + chunk + data[end_of_ihdr:])
    with pytest.raises(SourceError, match=r"apng.png: corrupt or unsupported image \(it declares 2,147,483,64\d frames"):
        open_source(buf)
