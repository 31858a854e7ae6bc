"""The pure display-conversion helpers (fada_desk.sources._convert)."""

from __future__ import annotations

import numpy as np
import pytest

from fada_desk.core.frame import Frame
from fada_desk.sources import _convert as cv


def test_range_maps_ends_and_clips() -> None:
    a = np.array([[-10, 0, 50, 100, 200]], dtype=np.int16)
    out = cv.range_to_uint8(a, 0, 100)
    assert out.dtype == np.uint8
    assert out.tolist() == [[0, 0, 128, 255, 255]]


def test_range_degenerate_window_is_a_step() -> None:
    out = cv.range_to_uint8(np.array([[4, 5, 6]], dtype=np.uint16), 5, 5)
    assert out.tolist() == [[0, 0, 255]]


def test_window_linear_matches_dicom_formula() -> None:
    # PS3.3 C.11.2.1.2.1: x <= c - 0.5 - (w-1)/2 -> min; x > c - 0.5 + (w-1)/2 -> max.
    c, w = 40.0, 400.0
    lo, hi = c - 0.5 - (w - 1) / 2, c - 0.5 + (w - 1) / 2
    a = np.array([lo - 1, lo, (lo + hi) / 2, hi, hi + 1])
    out = cv.window_to_uint8(a, c, w)
    assert out[0] == 0 and out[1] == 0
    assert out[-1] == 255 and out[-2] == 255
    assert out[2] == 128


def test_window_linear_exact_and_sigmoid() -> None:
    a = np.array([0.0, 50.0, 100.0])
    assert cv.window_to_uint8(a, 50, 100, "LINEAR_EXACT").tolist() == [0, 128, 255]
    sig = cv.window_to_uint8(a, 50, 100, "SIGMOID")
    # PS3.3 C.11.2.1.3.1: y = 255 / (1 + exp(-4 (x - c) / w))
    assert sig.tolist() == [round(255 / (1 + np.exp(2))), 128, round(255 / (1 + np.exp(-2)))]


@pytest.mark.parametrize("width", [0.0, -5.0])
def test_window_rejects_bad_width(width: float) -> None:
    with pytest.raises(ValueError):
        cv.window_to_uint8(np.zeros(3), 0, width)


def test_shift_keeps_top_bits() -> None:
    a = np.array([0, 4095, 2048, 5000], dtype=np.uint16)
    assert cv.shift_to_uint8(a, 12).tolist() == [0, 255, 128, 255]
    assert cv.shift_to_uint8(np.array([0, 65535], dtype=np.uint16), 16).tolist() == [0, 255]


def test_rgba_composited_over_black() -> None:
    px = np.array([[[200, 100, 50, 255], [200, 100, 50, 0], [200, 100, 50, 128]]], dtype=np.uint8)
    out = cv.rgba_to_rgb(px)
    assert out.shape == (1, 3, 3)
    assert out[0, 0].tolist() == [200, 100, 50]
    assert out[0, 1].tolist() == [0, 0, 0]
    assert out[0, 2].tolist() == [100, 50, 25]


def test_grey_alpha() -> None:
    px = np.array([[[200, 255], [200, 0]]], dtype=np.uint8)
    assert cv.grey_alpha_to_grey(px).tolist() == [[200, 0]]


def test_lut_to_uint8_scales_16_bit_and_detects_8_bit_content() -> None:
    assert cv.lut_to_uint8(np.array([0, 256, 65535]), 16).tolist() == [0, 1, 255]
    # declared 16 bits, values all <= 255: taken as they are
    assert cv.lut_to_uint8(np.array([0, 128, 255]), 16).tolist() == [0, 128, 255]


def test_palette_first_mapped_and_clamping() -> None:
    lut = np.array([[10, 0, 0], [20, 0, 0], [30, 0, 0]], dtype=np.uint8)
    idx = np.array([[4, 5, 6, 7, 100]])
    out = cv.apply_palette(idx, lut, first=5)
    assert out[0, :, 0].tolist() == [10, 10, 20, 30, 30]
    with pytest.raises(ValueError):
        cv.apply_palette(idx, lut.astype(np.uint16))


def test_ybr_full_to_rgb_primaries() -> None:
    # Y/Cb/Cr of pure red, green, blue, white and black (BT.601 full range).
    ybr = np.array(
        [[[76, 85, 255], [150, 44, 21], [29, 255, 107], [255, 128, 128], [0, 128, 128]]], dtype=np.uint8
    )
    rgb = cv.ybr_full_to_rgb(ybr).astype(int)
    expect = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 255], [0, 0, 0]]])
    assert np.abs(rgb - expect).max() <= 2


@pytest.mark.parametrize(
    ("arr", "shape"),
    [
        (np.zeros((4, 5), np.uint8), (4, 5)),
        (np.zeros((4, 5, 1), np.uint8), (4, 5)),
        (np.zeros((4, 5, 3), np.uint8), (4, 5, 3)),
        (np.zeros((4, 5, 4), np.uint8), (4, 5, 3)),
        (np.zeros((4, 5, 2), np.uint8), (4, 5)),
        (np.arange(20, dtype=np.uint16).reshape(4, 5) * 1000, (4, 5)),
        (np.linspace(-1, 1, 20).reshape(4, 5), (4, 5)),
        (np.ones((4, 5), bool), (4, 5)),
    ],
)
def test_to_display_always_gives_frame_pixels(arr: np.ndarray, shape: tuple[int, ...]) -> None:
    out = cv.to_display(arr)
    assert out.shape == shape and out.dtype == np.uint8 and out.flags.c_contiguous
    Frame(pixels=out)  # accepted by the Frame contract


def test_to_display_stretches_wide_data_and_honours_window() -> None:
    a = np.array([[1000, 2000, 3000]], dtype=np.uint16)
    assert cv.to_display(a).tolist() == [[0, 128, 255]]
    assert cv.to_display(a, window=(0, 4000)).tolist() == [[64, 128, 191]]


def test_to_display_float_with_nan() -> None:
    a = np.array([[0.0, np.nan, 1.0]])
    out = cv.to_display(a)
    assert out.tolist() == [[0, 0, 255]]


def test_to_display_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        cv.to_display(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError):
        cv.to_display(np.zeros(5, np.uint8))


def test_rgba_in_integers_equals_the_exact_rounded_composite() -> None:
    c, a = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    px = np.stack([c, c, c, a], axis=-1).astype(np.uint8)
    for bg in (0, 255, 77):
        want = np.floor((c * a + bg * (255 - a)) / 255 + 0.5).astype(np.uint8)  # exact: no x.5 ties exist
        assert np.array_equal(cv.rgba_to_rgb(px, bg)[:, :, 0], want)
        assert np.array_equal(cv.grey_alpha_to_grey(px[:, :, [0, 3]], bg), want)


def test_conversions_by_blocks_equal_the_whole_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    u16 = rng.integers(0, 4096, (37, 29), dtype=np.uint16)
    f64 = rng.normal(0, 100, (37, 29))
    f64[3, 4], f64[5, 6] = np.nan, np.inf
    rgba = rng.integers(0, 256, (37, 29, 4), dtype=np.uint8)
    lut = rng.integers(0, 256, (300, 3), dtype=np.uint8)

    def all_of() -> list[np.ndarray]:
        return [cv.range_to_uint8(u16, 100, 3000), cv.window_to_uint8(u16, 2000, 1500),
                cv.window_to_uint8(u16, 2000, 1500, "SIGMOID"), cv.to_display(f64), cv.rgba_to_rgb(rgba),
                cv.apply_palette(u16 % 300, lut), cv.ybr_full_to_rgb(rgba[:, :, :3]), cv.shift_to_uint8(u16, 12)]

    whole = all_of()
    monkeypatch.setattr(cv, "BLOCK_ELEMENTS", 50)  # a few rows per block
    for got, want in zip(all_of(), whole, strict=True):
        assert got.dtype == np.uint8 and np.array_equal(got, want)
