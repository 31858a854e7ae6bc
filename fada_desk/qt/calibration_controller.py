"""Manual calibration: two clicks on the depth scale, a typed distance, a scale for the source.

Which calibration is active is decided by the session state
(:meth:`~fada_desk.app.session_state.SessionState.active_calibration`): a DICOM
frame brings its regions; a scale set by hand for the acquisition source goes
with every capture from it; for a stored item under review it is stored with
the item (a new calibration version in the exam store, written by the store
worker). The status bar's ``calibration_label`` follows every change.

Once set, the two calibration marks disappear from the image, so the line is
never taken for a measurement; Image ▸ Show calibration line (``act_show_line``)
draws it again, dashed and labelled, for the calibration of the frame on screen.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QSettings
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMainWindow

from fada_desk.app.session_state import SessionState
from fada_desk.core.calibration import Calibration, ManualCalibration
from fada_desk.core.errors import CalibrationError, error_text
from fada_desk.qt.acquisition import AcquisitionController
from fada_desk.qt.dialogs import CalibrationDialog
from fada_desk.qt.exam_controller import ExamController
from fada_desk.qt.layout import ElidedLabel
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.util import open_dialog


def calibration_text(cal: Calibration | None) -> str:
    """One line for the status bar: which calibration is active and its scale."""
    if cal is None or not cal.is_calibrated:
        return "Uncalibrated"
    if cal.manual is not None:
        return f"Manual {cal.manual.mm_per_px:.4f} mm/px"
    regions = [r for r in cal.regions if r.is_spatial_cm]
    sx, sy = regions[0].mm_per_px
    scale = f"{sx:.4f} mm/px" if abs(sx - sy) < 1e-9 else f"{sx:.4f} × {sy:.4f} mm/px"
    more = f" ({len(regions)} regions)" if len(regions) > 1 else ""
    return f"DICOM region {scale}{more}"


class CalibrationController(QObject):
    """The calibration flow on the view, and the ``calibration_label`` of the status bar."""

    def __init__(self, window: QMainWindow, state: SessionState, settings: QSettings, view: LiveView,
                 acquisition: AcquisitionController, exams: ExamController,
                 show_error: Callable[[str, str], Any]) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._settings = settings
        self._view = view
        self._acquisition = acquisition
        self._exams = exams
        self._show_error = show_error
        self.dialog: CalibrationDialog | None = None
        self.label = ElidedLabel("Uncalibrated")
        self.label.setObjectName("calibrationLabel")
        self.act_show_line = QAction("Show calibration line", window)
        self.act_show_line.setObjectName("showCalibrationLine")
        self.act_show_line.setCheckable(True)
        self.act_show_line.setEnabled(False)
        self.act_show_line.setStatusTip("Draw the two marks the manual calibration was set on (dashed, cyan)")
        self.act_show_line.toggled.connect(lambda _on: self._update_line())
        state.calibration_changed.connect(self._show_calibration)
        view.pointsPicked.connect(self._on_points)
        view.pickCancelled.connect(
            lambda: self._window.statusBar().showMessage("Calibration cancelled.", 4000))

    def _show_calibration(self, cal: Calibration | None) -> None:
        self.label.setText(calibration_text(cal))
        self._update_line(cal)

    def _update_line(self, cal: Calibration | None = None) -> None:
        """Show the manual calibration's line if asked for (and there is one), else hide it."""
        cal = cal if cal is not None else self._state.active_calibration()
        manual = cal.manual if cal is not None else None
        self.act_show_line.setEnabled(manual is not None)
        if manual is not None and self.act_show_line.isChecked():
            self._view.show_calibration_line(manual.p1, manual.p2, f"Calibration {manual.distance_mm:g} mm")
        else:
            self._view.hide_calibration_line()

    def start(self) -> bool:
        """Freeze if live, then let the user click two marks on the depth scale."""
        p = self._state.active_pump()
        if p is None or self._state.shown is None:
            self._window.statusBar().showMessage("Open an image first.", 4000)
            return False
        if p.playing and not p.frozen:
            self._acquisition.toggle_freeze()
        self._view.begin_pick(2)
        self._window.statusBar().showMessage("Calibrate: click two marks on the depth scale (Esc cancels).")
        return True

    def _on_points(self, pts: list[tuple[float, float]]) -> None:
        p1, p2 = pts[0], pts[1]
        length = ((p2[0] - p1[0]) ** 2 + (p2[1] - p1[1]) ** 2) ** 0.5
        last_mm = float(self._settings.value("calibration/last_mm", 10.0))
        dlg = CalibrationDialog(length, last_mm, self._window)
        self.dialog = open_dialog(dlg, lambda: self.apply_manual(p1, p2, dlg.value()),
                                  self._view.clear_overlay)

    def apply_manual(self, p1: tuple[float, float], p2: tuple[float, float],
                     distance_mm: float) -> ManualCalibration | None:
        """``distance_mm`` between image points ``p1`` and ``p2``: for the item under review
        (stored with it) or for the acquisition source. None (and an error box) if refused."""
        st = self._state
        try:
            manual = ManualCalibration(p1, p2, float(distance_mm))
        except CalibrationError as err:
            self._show_error("Calibration not set", str(err))
            return None
        self._settings.setValue("calibration/last_mm", float(distance_mm))
        item = st.review_item
        if item is not None:
            base = getattr(item, "calibration", None) or (st.shown.calibration if st.shown else None)
            cal = (base or Calibration()).with_manual(manual)

            h = self._exams.store_call(lambda store: store.set_calibration(item.id, cal), "set-calibration")

            def stored(updated: Any) -> None:
                if st.review_item is not None and getattr(st.review_item, "id", None) == updated.id:
                    st.review_item = updated
                self._exams.thumbs.replace(updated)
                self._window.statusBar().showMessage(f"Calibration stored with capture #{updated.id}.", 5000)
                st.refresh_calibration()

            h.result.connect(stored)
            h.error.connect(lambda e: self._show_error("Calibration not stored", error_text(e)))
        else:
            st.manual = manual
            self._window.statusBar().showMessage(
                "Calibration set; it is stored with every capture from this source.", 6000)
        self._view.clear_overlay()  # the marks are not a measurement: Image > Show calibration line
        st.refresh_calibration()
        return manual
