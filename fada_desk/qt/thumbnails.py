"""Thumbnail strip of an exam's captured images and clips."""

from __future__ import annotations

from typing import Any

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPainter, QPixmap
from PySide6.QtWidgets import QListView, QListWidget, QListWidgetItem, QWidget

THUMB = 112


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
        self.setIconSize(QSize(THUMB, THUMB))
        self.setFixedHeight(THUMB + 48)
        self.setSpacing(4)
        self.itemClicked.connect(self._clicked)
        self.itemActivated.connect(self._clicked)

    def add(self, item: Any, thumb: np.ndarray | None) -> QListWidgetItem:
        pix = QPixmap.fromImage(_to_qimage(thumb)) if thumb is not None else QPixmap(THUMB, THUMB)
        if thumb is None:
            pix.fill(QColor(40, 40, 40))
        pix = pix.scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
        kind = getattr(item, "kind", "image")
        if kind == "clip":
            p = QPainter(pix)
            p.setPen(QColor(255, 220, 0))
            p.drawText(4, 14, f"▶ {getattr(item, 'n_frames', '')}")
            p.end()
        label = f"#{getattr(item, 'id', '?')} {'clip' if kind == 'clip' else 'image'}"
        w = QListWidgetItem(QIcon(pix), label)
        w.setData(Qt.ItemDataRole.UserRole, item)
        w.setToolTip(f"{label} · {getattr(item, 'width', '?')}×{getattr(item, 'height', '?')}")
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
