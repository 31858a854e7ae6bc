"""The slider bar under the image: scrub a file or the frozen cine, step, mark a clip range.

Its mode follows the active pump (:func:`slider_mode`): ``"file"`` for a
seekable source with more than one frame (the slider is the file position),
``"cine"`` for a frozen live source (the slider walks the cine buffer), else
the bar is hidden. Marks and positions are in slider units; moving the slider
asks the pump to seek / show a cine frame, and the display loop shows what the
pump publishes (:mod:`fada_desk.qt.acquisition`).
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Qt
from PySide6.QtWidgets import QLabel, QMainWindow, QSlider

from fada_desk.app.session_state import SessionState
from fada_desk.core.errors import FadaError
from fada_desk.qt.util import hbox
from fada_desk.sources.pump import FramePump

FILE_MODE = "file"
CINE_MODE = "cine"


def slider_mode(p: FramePump | None) -> str:
    """What the slider controls for pump ``p``: FILE_MODE, CINE_MODE or "" (hidden)."""
    if p is None:
        return ""
    if p.seekable and (p.frame_count or 0) > 1:
        return FILE_MODE
    if p.live and p.frozen and len(p.cine) > 0:
        return CINE_MODE
    return ""


class CineController(QObject):
    """Owns the cine bar (``bar``: ``slider``, ``label``, ``range_label``) and the clip marks."""

    def __init__(self, window: QMainWindow, state: SessionState) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._guard = False  # set while the program (not the user) moves the slider
        self._key: tuple[int, str] = (0, "")  # (pump, mode) the slider was configured for
        self._mark_in: int | None = None
        self._mark_out: int | None = None
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setObjectName("cineSlider")
        self.slider.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.slider.valueChanged.connect(self._on_slider)
        self.label = QLabel("")
        self.label.setMinimumWidth(190)
        self.range_label = QLabel("")
        self.bar = hbox(QLabel("Cine"), (self.slider, 1), self.label, self.range_label, margins=(6, 2, 6, 2))
        self.bar.setVisible(False)

    def reset_marks(self) -> None:
        self._mark_in = self._mark_out = None

    def configure(self) -> None:
        """Show the slider for the active pump; keeps the scrub position while the mode is unchanged."""
        p = self._state.active_pump()
        mode = slider_mode(p)
        key = (id(p), mode)
        changed = key != self._key
        self._key = key
        self.bar.setVisible(bool(mode))
        if not mode or p is None:
            return
        self._guard = True
        try:
            if mode == FILE_MODE:
                self.slider.setRange(0, (p.frame_count or 1) - 1)
                if changed:
                    self.slider.setValue(p.position or 0)
            elif changed:
                n = len(p.cine)
                self.slider.setRange(0, n - 1)
                self.slider.setValue(n - 1)
        finally:
            self._guard = False
        self._update_label()

    def sync(self, p: FramePump) -> None:
        """Follow a playing / seeking file's position (unless the user holds the slider)."""
        if slider_mode(p) == FILE_MODE and not self.slider.isSliderDown() and p.position is not None:
            self._guard = True
            self.slider.setValue(p.position)
            self._guard = False
            self._update_label()

    def _on_slider(self, value: int) -> None:
        self._update_label()
        if self._guard:
            return
        p = self._state.active_pump()
        mode = slider_mode(p)
        try:
            if mode == FILE_MODE and p is not None:
                p.seek(value)
            elif mode == CINE_MODE and p is not None:
                p.show_cine(value)
        except (FadaError, IndexError) as err:
            self._window.statusBar().showMessage(str(err), 4000)

    def _update_label(self) -> None:
        p = self._state.active_pump()
        mode = slider_mode(p)
        v, n = self.slider.value(), self.slider.maximum() + 1
        if mode == CINE_MODE and p is not None:
            secs = p.cine.duration
            self.label.setText(f"Cine {v + 1}/{n} ({secs:.1f} s)")
        elif mode == FILE_MODE:
            self.label.setText(f"Frame {v + 1}/{n}")
        else:
            self.label.setText("")
        lo, hi = self.clip_range()
        self.range_label.setText(f"Clip {lo + 1}–{hi + 1}" if mode and hi >= lo else "")

    def step(self, delta: int) -> None:
        """Previous / next frame, while frozen or paused."""
        p = self._state.active_pump()
        mode = slider_mode(p)
        if not mode or p is None or not (p.frozen or not p.playing):
            return
        self.slider.setValue(self.slider.value() + delta)

    def scrub_to(self, index: int) -> None:
        """Move the cine/file slider (what dragging it does)."""
        self.slider.setValue(index)

    def mark_in(self) -> None:
        if slider_mode(self._state.active_pump()):
            self._mark_in = self.slider.value()
            if self._mark_out is not None and self._mark_out < self._mark_in:
                self._mark_out = None
            self._update_label()

    def mark_out(self) -> None:
        if slider_mode(self._state.active_pump()):
            self._mark_out = self.slider.value()
            if self._mark_in is not None and self._mark_in > self._mark_out:
                self._mark_in = None
            self._update_label()

    def clip_range(self) -> tuple[int, int]:
        """Inclusive (start, end) of the clip to save, in slider units; defaults to everything."""
        p = self._state.active_pump()
        mode = slider_mode(p)
        if mode == FILE_MODE and p is not None:
            last = (p.frame_count or 1) - 1
        elif p is not None:
            last = len(p.cine) - 1
        else:
            return (0, -1)
        lo = self._mark_in if self._mark_in is not None else 0
        hi = self._mark_out if self._mark_out is not None else last
        return (max(0, min(lo, last)), max(0, min(hi, last)))
