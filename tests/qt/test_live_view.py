"""The image view: exact pixels on screen, display-only brightness/contrast, point picking."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from fada_desk.core.frame import Frame
from fada_desk.qt.live_view import LiveView, display_levels

pytestmark = pytest.mark.gui

COLORS = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 255)]


def quadrants(h: int = 120, w: int = 160) -> np.ndarray:
    px = np.zeros((h, w, 3), np.uint8)
    px[: h // 2, : w // 2] = COLORS[0]
    px[: h // 2, w // 2:] = COLORS[1]
    px[h // 2:, : w // 2] = COLORS[2]
    px[h // 2:, w // 2:] = COLORS[3]
    return px


def screen_rgb(view: LiveView, x: float, y: float) -> tuple[int, int, int]:
    img = view.grab_image()
    p = view.image_to_widget(x, y)
    dpr = img.devicePixelRatio()
    c = img.pixelColor(int(p.x() * dpr), int(p.y() * dpr))
    return (c.red(), c.green(), c.blue())


@pytest.fixture
def view(qtbot):  # noqa: ANN001, ANN201
    v = LiveView()
    qtbot.addWidget(v)
    v.resize(640, 480)
    v.show()
    qtbot.waitExposed(v)
    return v


def test_display_levels() -> None:
    assert display_levels(0, 1.0) is None  # identity: the zero-copy fast path
    assert display_levels(0, 2.0) == pytest.approx((63.75, 191.25))
    lo, hi = display_levels(50, 1.0)  # type: ignore[misc]
    assert (lo, hi) == pytest.approx((-127.5, 127.5))


def test_screenshot_shows_exact_source_pixels(qtbot, view) -> None:  # noqa: ANN001
    """Orientation (y down, x right), colour order (RGB) and values survive to the screen."""
    frame = Frame(quadrants())
    view.show_frame(frame)
    qtbot.wait(50)
    assert np.shares_memory(view.image_item.image, frame.pixels)  # no copy on the display path
    centres = [(40, 30), (120, 30), (40, 90), (120, 90)]
    for (x, y), colour in zip(centres, COLORS, strict=True):
        assert screen_rgb(view, x, y) == colour
    # the whole image is visible (fit) and nothing outside it is painted in image colours
    corner = view.image_to_widget(0, 0)
    far = view.image_to_widget(160, 120)
    w, h = view.graphics.viewport().width(), view.graphics.viewport().height()
    assert corner.x() >= -1 and corner.y() >= -1 and far.x() <= w + 1 and far.y() <= h + 1


def test_grey_frame_on_screen_matches_data(qtbot, view) -> None:  # noqa: ANN001
    ramp = np.tile(np.arange(0, 256, 16, dtype=np.uint8).repeat(10), (40, 1))  # 16 bands of 10 px
    view.show_frame(Frame(ramp))
    qtbot.wait(50)
    for band in range(16):
        assert screen_rgb(view, band * 10 + 5, 20) == (band * 16,) * 3


def test_brightness_contrast_change_screen_not_data(qtbot, view) -> None:  # noqa: ANN001
    px = np.full((50, 50), 100, np.uint8)
    frame = Frame(px)
    view.show_frame(frame)
    qtbot.wait(30)
    assert screen_rgb(view, 25, 25) == (100, 100, 100)
    view.set_brightness_contrast(20, 1.0)  # +20 % of full scale: 100 -> 151
    qtbot.wait(30)
    brighter = screen_rgb(view, 25, 25)[0]
    assert 145 <= brighter <= 156
    view.set_brightness_contrast(0, 2.0)  # gain 2 around 127.5: 100 -> 72.5
    qtbot.wait(30)
    assert 68 <= screen_rgb(view, 25, 25)[0] <= 77
    assert np.all(frame.pixels == 100) and np.shares_memory(view.image_item.image, px)  # data untouched
    view.reset_display()
    qtbot.wait(30)
    assert screen_rgb(view, 25, 25) == (100, 100, 100)
    assert view.levels is None


def test_new_size_refits_and_zoom_keeps_aspect(qtbot, view) -> None:  # noqa: ANN001
    view.show_frame(Frame(np.zeros((100, 400), np.uint8)))
    (x0, x1), (y0, y1) = view.viewbox.viewRange()
    assert x0 <= 0.5 and x1 >= 399.5
    view.viewbox.scaleBy((0.5, 0.5))
    view.show_frame(Frame(np.zeros((100, 400), np.uint8)))  # same size: the zoom is kept
    (a0, a1), _ = view.viewbox.viewRange()
    assert (a1 - a0) < (x1 - x0) * 0.75
    view.show_frame(Frame(np.zeros((300, 200), np.uint8)))  # new size: fit again
    _, (b0, b1) = view.viewbox.viewRange()
    assert b0 <= 0.5 and b1 >= 299.5


def test_clicks_pick_points_in_image_coordinates(qtbot, view) -> None:  # noqa: ANN001
    view.show_frame(Frame(np.zeros((200, 300), np.uint8)))
    qtbot.wait(30)
    view.begin_pick(2)
    with qtbot.waitSignal(view.pointsPicked, timeout=3000) as blocker:
        for x, y in ((50, 40), (250, 160)):
            qtbot.mouseClick(view.graphics.viewport(), Qt.MouseButton.LeftButton,
                             pos=view.image_to_widget(x, y))
    (p1, p2) = blocker.args[0]
    # one screen pixel is < 1 image pixel here (the view is larger than the image)
    assert p1 == pytest.approx((50, 40), abs=1.0)
    assert p2 == pytest.approx((250, 160), abs=1.0)
    assert not view.picking


def test_escape_cancels_picking(qtbot, view) -> None:  # noqa: ANN001
    view.show_frame(Frame(np.zeros((20, 20), np.uint8)))
    view.begin_pick(2)
    view.add_pick(5, 5)
    with qtbot.waitSignal(view.pickCancelled, timeout=2000):
        qtbot.keyClick(view, Qt.Key.Key_Escape)
    assert not view.picking
    view.add_pick(50, 50)  # outside the image and not picking: ignored
