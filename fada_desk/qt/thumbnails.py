"""Thumbnail strip of an exam's captured images and clips, in a dock that folds away.

The strip is one row of small thumbnails, each captioned on the image itself
("#3 image", "#4 clip ▶ 40"), so it takes about 100 px of a 768-pixel screen;
its dock's title folds it to a single line (remembered in the settings).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSettings, QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QListView,
    QListWidget,
    QListWidgetItem,
    QStyle,
    QToolButton,
    QWidget,
)

THUMB = 112  # pixels kept per thumbnail (any thread)
ICON = 72  # pixels shown in the strip
COLLAPSED_KEY = "layout/captures_collapsed"


def make_thumbnail(pixels: np.ndarray, size: int = THUMB) -> np.ndarray:
    """A small uint8 copy (nearest-neighbour striding; cheap, any thread)."""
    h, w = pixels.shape[:2]
    step = max(1, int(np.ceil(max(h, w) / size)))
    return np.ascontiguousarray(pixels[::step, ::step])


def _to_qimage(px: np.ndarray) -> QImage:
    px = np.ascontiguousarray(px)
    h, w = px.shape[:2]
    if px.ndim == 2:
        img = QImage(px.data, w, h, px.strides[0], QImage.Format.Format_Grayscale8)
    else:
        img = QImage(px.data, w, h, px.strides[0], QImage.Format.Format_RGB888)
    return img.copy()  # own the memory


class ThumbnailStrip(QListWidget):
    """Horizontal strip; ``itemActivated(item)`` gives back the stored item object."""

    itemChosen = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("thumbnailStrip")
        self.setViewMode(QListView.ViewMode.IconMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(False)
        self.setMovement(QListView.Movement.Static)
        self.setIconSize(QSize(ICON, ICON))
        self.setSpacing(3)
        self.setUniformItemSizes(True)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent)
        self.setFixedHeight(ICON + 2 * 3 + 2 * self.frameWidth() + bar + 8)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)

    def add(self, item: Any, thumb: np.ndarray | None) -> QListWidgetItem:
        pix = QPixmap.fromImage(_to_qimage(thumb)) if thumb is not None else QPixmap(ICON, ICON)
        if thumb is None:
            pix.fill(QColor(40, 40, 40))
        pix = pix.scaled(ICON, ICON, Qt.AspectRatioMode.KeepAspectRatio,
                         Qt.TransformationMode.SmoothTransformation)
        kind = getattr(item, "kind", "image")
        label = f"#{getattr(item, 'id', '?')} {'clip' if kind == 'clip' else 'image'}"
        caption = label + (f" ▶ {getattr(item, 'n_frames', '')}" if kind == "clip" else "")
        _caption(pix, caption)
        w = QListWidgetItem(QIcon(pix), "")
        w.setData(Qt.ItemDataRole.UserRole, item)
        w.setData(Qt.ItemDataRole.AccessibleTextRole, caption)
        w.setToolTip(f"{caption} · {getattr(item, 'width', '?')}×{getattr(item, 'height', '?')}")
        self.addItem(w)
        self.scrollToItem(w)
        return w

    def stored_items(self) -> list[Any]:
        return [self.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.count())]

    def replace(self, item: Any) -> None:
        """Update the stored object of an entry (e.g. after a calibration change)."""
        for i in range(self.count()):
            w = self.item(i)
            if getattr(w.data(Qt.ItemDataRole.UserRole), "id", None) == getattr(item, "id", None):
                w.setData(Qt.ItemDataRole.UserRole, item)

    def _clicked(self, w: QListWidgetItem) -> None:
        self.itemChosen.emit(w.data(Qt.ItemDataRole.UserRole))

    def caption(self, row: int) -> str:
        return str(self.item(row).data(Qt.ItemDataRole.AccessibleTextRole))


def _caption(pix: QPixmap, text: str) -> None:
    """Write ``text`` on a dark band along the bottom of ``pix``."""
    p = QPainter(pix)
    f = p.font()
    f.setPixelSize(11)
    p.setFont(f)
    h = p.fontMetrics().height() + 2
    p.fillRect(0, pix.height() - h, pix.width(), h, QColor(0, 0, 0, 170))
    p.setPen(QColor(255, 230, 120) if "▶" in text else QColor(255, 255, 255))
    p.drawText(3, pix.height() - h, pix.width() - 4, h, Qt.AlignmentFlag.AlignVCenter, text)
    p.end()


class CaptureDock(QDockWidget):
    """The "Exam captures" dock: the strip under a title that folds it to one line."""

    def __init__(self, strip: ThumbnailStrip, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__("Exam captures", parent)
        self.setObjectName("capturesDock")
        self.strip = strip
        self.settings = settings
        self.setWidget(strip)
        self.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.fold_button = QToolButton()
        self.fold_button.setObjectName("capturesFold")
        self.fold_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.fold_button.setAutoRaise(True)
        self.fold_button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the scan keys stay with the window
        self.fold_button.clicked.connect(lambda _c=False: self.set_collapsed(not self.collapsed))
        title = QWidget()
        lay = QHBoxLayout(title)
        lay.setContentsMargins(2, 0, 2, 0)
        lay.addWidget(self.fold_button)
        lay.addStretch(1)
        self.setTitleBarWidget(title)
        model = strip.model()
        for sig in (model.rowsInserted, model.rowsRemoved, model.modelReset):
            sig.connect(self._on_rows)
        self.set_collapsed(str(settings.value(COLLAPSED_KEY, "false")).lower() == "true")

    @property
    def collapsed(self) -> bool:
        return self.strip.isHidden()

    def set_collapsed(self, collapsed: bool) -> None:
        """Fold the strip away (the title line stays, with the number of captures) or show it."""
        self.strip.setVisible(not collapsed)
        self.settings.setValue(COLLAPSED_KEY, "true" if collapsed else "false")
        self._show_title()

    def _on_rows(self, *_: object) -> None:
        try:
            self._show_title()
        except RuntimeError:  # the strip is being deleted with the window
            pass

    def _show_title(self) -> None:
        n = self.strip.count()
        self.fold_button.setArrowType(Qt.ArrowType.RightArrow if self.collapsed else Qt.ArrowType.DownArrow)
        self.fold_button.setText(f"Exam captures ({n})" if n else "Exam captures")
        self.fold_button.setToolTip("Show the captures" if self.collapsed else "Fold the captures away")
