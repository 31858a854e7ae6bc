"""The image view: one pyqtgraph ImageItem in an aspect-locked, y-down ViewBox.

Display speed: frames are uint8 and shown with ``autoLevels=False``; with
neutral brightness/contrast the levels are ``None`` so pyqtgraph wraps the
frame's buffer in a Grayscale8/RGB888 QImage without copying or scaling the
data. Brightness/contrast change only the display levels, never the pixels
that are captured, measured or sent to the AI.

Point picking (manual calibration, later measurements) maps scene clicks to
image pixel coordinates (x right, y down) and draws the picked points. Once a
calibration is set its line is no longer drawn (it must never pass for a
measurement); :meth:`LiveView.show_calibration_line` shows it on request, thin,
dashed, cyan and labelled "Calibration 10 mm".
"""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QPointF, Qt, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QVBoxLayout, QWidget

from fada_desk.core.frame import Frame

BRIGHTNESS_RANGE = (-100, 100)  # percent of full scale shift
CONTRAST_RANGE = (0.25, 4.0)  # gain


def display_levels(brightness: float, contrast: float) -> tuple[float, float] | None:
    """Black/white display levels for uint8 data; None = identity (fast path).

    brightness in [-100, 100] shifts the window centre by up to the full range;
    contrast is a gain (window width = 255 / contrast).
    """
    if abs(brightness) < 1e-9 and abs(contrast - 1.0) < 1e-9:
        return None
    centre = 127.5 - brightness / 100.0 * 255.0
    half = 127.5 / max(contrast, 1e-3)
    return (centre - half, centre + half)


class LiveView(QWidget):
    """Zoomable, pannable frame display with display-only brightness/contrast."""

    pointsPicked = Signal(object)  # list[tuple[float, float]] in image pixels
    pickCancelled = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.graphics = pg.GraphicsView(self, background="k")
        self.graphics.setObjectName("liveGraphics")
        self.viewbox = pg.ViewBox(lockAspect=True, invertY=True, enableMenu=False)
        self.viewbox.setDefaultPadding(0.0)
        self.graphics.setCentralItem(self.viewbox)
        self.image_item = pg.ImageItem(axisOrder="row-major")
        self.image_item.setAutoDownsample(False)
        self.viewbox.addItem(self.image_item)
        self._overlay_line = pg.PlotCurveItem(pen=pg.mkPen((255, 220, 0), width=2))
        self._overlay_pts = pg.ScatterPlotItem(size=9, pen=pg.mkPen((255, 220, 0), width=2),
                                               brush=pg.mkBrush(0, 0, 0, 0), symbol="+")
        for item in (self._overlay_line, self._overlay_pts):
            item.setZValue(10)
            self.viewbox.addItem(item)
        cyan = (0, 200, 255)
        self._cal_line = pg.PlotCurveItem(pen=pg.mkPen(cyan, width=1, style=Qt.PenStyle.DashLine))
        self._cal_ends = pg.ScatterPlotItem(size=11, pen=pg.mkPen(cyan, width=1), brush=pg.mkBrush(0, 0, 0, 0),
                                            symbol="+")
        self._cal_text = pg.TextItem("", color=cyan, anchor=(0, 1), fill=pg.mkBrush(0, 0, 0, 150))
        for item in (self._cal_line, self._cal_ends, self._cal_text):
            item.setZValue(9)
            item.setVisible(False)
            self.viewbox.addItem(item, ignoreBounds=True)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.graphics)

        self._brightness = 0.0
        self._contrast = 1.0
        self._shape: tuple[int, ...] | None = None
        self._frame: Frame | None = None
        self._pick_n = 0
        self._picked: list[tuple[float, float]] = []
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_click)

    # -- frames --------------------------------------------------------------------------------
    def show_frame(self, frame: Frame) -> None:
        """Display ``frame`` (GUI thread; no copy, no decode)."""
        px = frame.pixels
        first = self._shape is None
        changed = px.shape[:2] != (self._shape or ())[:2]
        self.image_item.setImage(px, autoLevels=False, levels=self.levels)
        self._shape = px.shape
        self._frame = frame
        if first or changed:
            self.fit()

    def clear(self) -> None:
        self.image_item.clear()
        self._shape = None
        self._frame = None
        self.clear_overlay()

    @property
    def frame(self) -> Frame | None:
        return self._frame

    def fit(self) -> None:
        """Show the whole image (resets zoom/pan)."""
        if self._shape is not None:
            h, w = self._shape[:2]
            self.viewbox.setRange(xRange=(0, w), yRange=(0, h), padding=0.0)

    # -- display adjustments -------------------------------------------------------------------
    @property
    def levels(self) -> tuple[float, float] | None:
        return display_levels(self._brightness, self._contrast)

    @property
    def brightness(self) -> float:
        return self._brightness

    @property
    def contrast(self) -> float:
        return self._contrast

    def set_brightness_contrast(self, brightness: float, contrast: float) -> None:
        lo, hi = BRIGHTNESS_RANGE
        self._brightness = float(min(max(brightness, lo), hi))
        clo, chi = CONTRAST_RANGE
        self._contrast = float(min(max(contrast, clo), chi))
        self.image_item.setLevels(self.levels)

    def reset_display(self) -> None:
        self.set_brightness_contrast(0.0, 1.0)
        self.fit()

    # -- geometry ------------------------------------------------------------------------------
    def image_to_widget(self, x: float, y: float) -> QPoint:
        """Widget (graphics viewport) coordinates of image pixel (x, y) — for tests and overlays."""
        scene = self.viewbox.mapViewToScene(QPointF(x, y))
        return self.graphics.mapFromScene(scene)

    def widget_to_image(self, pos: QPoint) -> tuple[float, float]:
        scene = self.graphics.mapToScene(pos)
        p = self.viewbox.mapSceneToView(scene)
        return (float(p.x()), float(p.y()))

    def grab_image(self) -> QImage:
        """What is on screen (the graphics viewport) as an RGB32 QImage."""
        return self.graphics.viewport().grab().toImage().convertToFormat(QImage.Format.Format_RGB32)

    # -- point picking -------------------------------------------------------------------------
    def begin_pick(self, n: int) -> None:
        """Collect ``n`` clicks on the image; emits ``pointsPicked``. Escape cancels."""
        self._pick_n = n
        self._picked = []
        self.clear_overlay()
        self.graphics.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocus()

    def cancel_pick(self) -> None:
        if self._pick_n:
            self._pick_n = 0
            self._picked = []
            self.clear_overlay()
            self.graphics.unsetCursor()
            self.pickCancelled.emit()

    @property
    def picking(self) -> bool:
        return self._pick_n > 0

    def add_pick(self, x: float, y: float) -> None:
        """Add a picked point in image coordinates (also what a click does)."""
        if not self._pick_n or self._shape is None:
            return
        h, w = self._shape[:2]
        if not (0 <= x <= w and 0 <= y <= h):
            return  # outside the image: ignore, keep picking
        self._picked.append((x, y))
        self.set_overlay(self._picked)
        if len(self._picked) >= self._pick_n:
            pts = list(self._picked)
            self._pick_n = 0
            self.graphics.unsetCursor()
            self.pointsPicked.emit(pts)

    def _on_scene_click(self, ev: object) -> None:
        if not self._pick_n or ev.button() != Qt.MouseButton.LeftButton:  # type: ignore[attr-defined]
            return
        p = self.viewbox.mapSceneToView(ev.scenePos())  # type: ignore[attr-defined]
        ev.accept()  # type: ignore[attr-defined]
        self.add_pick(float(p.x()), float(p.y()))

    def set_overlay(self, points: list[tuple[float, float]]) -> None:
        if not points:
            self.clear_overlay()
            return
        arr = np.asarray(points, float)
        self._overlay_pts.setData(arr[:, 0], arr[:, 1])
        if len(points) >= 2:
            self._overlay_line.setData(arr[:, 0], arr[:, 1])
        else:
            self._overlay_line.setData([], [])

    def clear_overlay(self) -> None:
        self._overlay_pts.setData([], [])
        self._overlay_line.setData([], [])

    @property
    def pick_overlay_shown(self) -> bool:
        """Are picked points (a calibration being set) drawn?"""
        return len(self._overlay_pts.data) > 0

    # -- the calibration reference (shown on request only) ---------------------------------------
    def show_calibration_line(self, p1: tuple[float, float], p2: tuple[float, float], text: str) -> None:
        xs, ys = [p1[0], p2[0]], [p1[1], p2[1]]
        self._cal_line.setData(xs, ys)
        self._cal_ends.setData(xs, ys)
        self._cal_text.setText(text)
        top = min((p1, p2), key=lambda p: p[1])
        self._cal_text.setPos(top[0] + 4, top[1] - 4)
        for item in (self._cal_line, self._cal_ends, self._cal_text):
            item.setVisible(True)

    def hide_calibration_line(self) -> None:
        for item in (self._cal_line, self._cal_ends, self._cal_text):
            item.setVisible(False)

    @property
    def calibration_line_shown(self) -> bool:
        return self._cal_line.isVisible()

    @property
    def calibration_line_text(self) -> str:
        return self._cal_text.textItem.toPlainText() if self.calibration_line_shown else ""

    def keyPressEvent(self, event: object) -> None:  # noqa: N802 - Qt API
        if self._pick_n and event.key() == Qt.Key.Key_Escape:  # type: ignore[attr-defined]
            self.cancel_pick()
            return
        super().keyPressEvent(event)  # type: ignore[arg-type]
