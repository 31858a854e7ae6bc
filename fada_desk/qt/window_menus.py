"""The main window's actions, menu bar and toolbar.

The actions themselves (with their window-wide shortcuts) belong to the window and its
controllers; this module only arranges them, so the window class keeps to wiring.
Help ▸ Keyboard shortcuts is generated from these same actions.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QLabel, QSlider, QToolBar, QWidget


def build_actions(w: Any) -> None:
    """The window's own actions (``w.act_*``), each with its window-wide shortcut."""
    w.act_open = w.add_action("&Open file…", w.choose_file, QKeySequence.StandardKey.Open)
    w.act_open_folder = w.add_action("Open &folder…", w.choose_folder)
    w.act_open_device = w.add_action("Open &device…", w.choose_device, "Ctrl+D")
    w.act_open_stream = w.add_action("Open &stream URL…", w.choose_stream, "Ctrl+U")
    w.act_reopen = w.add_action("&Reopen source", w.reopen_source, "Ctrl+R",
                                 "Open the current device, stream or file again")
    w.act_close_source = w.add_action("&Close source", w.close_source)
    w.act_quit = w.add_action("&Quit", w.close, QKeySequence.StandardKey.Quit)
    w.act_freeze = w.add_action("Freeze", w.toggle_freeze, Qt.Key.Key_Space,
                                 "Freeze / unfreeze the image (Space)")
    w.act_step_back = w.add_action("Previous frame", lambda: w.step(-1), Qt.Key.Key_Left)
    w.act_step_fwd = w.add_action("Next frame", lambda: w.step(1), Qt.Key.Key_Right)
    w.act_mark_in = w.add_action("Mark clip start", w.mark_in, Qt.Key.Key_I)
    w.act_mark_out = w.add_action("Mark clip end", w.mark_out, Qt.Key.Key_O)
    w.act_capture = w.add_action("Capture", w.capture_still, "Ctrl+S",
                                    "Store the image on screen in the exam")
    w.act_clip = w.add_action("Save clip", w.save_clip, "Ctrl+Shift+S",
                                 "Store the cine range in the exam")
    w.act_calibrate = w.add_action("Calibrate…", w.start_calibration, "Ctrl+K",
                                      "Click two marks on the depth scale, type the distance")
    w.act_live = w.add_action("Back to live", w.leave_review, Qt.Key.Key_Escape,
                                 "Esc: stop the drawing tool or clear the selection first, then back to live")
    w.act_new_exam = w.add_action("&New exam…", w.new_exam, QKeySequence.StandardKey.New)
    w.act_open_exam = w.add_action("Open e&xam…", w.open_exam_browser, "Ctrl+E")
    w.act_edit_exam = w.add_action("&Edit exam…", w.edit_exam, "Ctrl+Shift+E",
                                      "Change patient details, operator, LMP/EDD (audited)")
    w.act_fit = w.add_action("Fit image", w.view.fit, "Ctrl+0")
    w.act_reset_display = w.add_action("Reset brightness/contrast", w._reset_display)


def build_menus(w: Any) -> None:
    """File, Exam, Review and Image menus (the AI, Settings and Help menus add themselves)."""
    mb = w.menuBar()
    m = mb.addMenu("&File")
    for a in (w.act_open, w.act_open_folder, w.act_open_device, w.act_open_stream,
              w.act_reopen, w.act_close_source):
        m.addAction(a)
    m.addSeparator()
    m.addAction(w.act_quit)
    m = mb.addMenu("&Exam")
    for a in (w.act_new_exam, w.act_open_exam, w.act_edit_exam):
        m.addAction(a)
    m = mb.addMenu("&Review")
    ra = w.review_dock.review_actions
    for a in (ra.accept, ra.reject, ra.accept_all, ra.delete, ra.undo, ra.redo):
        m.addAction(a)
    m.addSeparator()
    for a in (*ra.tools.values(), ra.cancel):
        m.addAction(a)
    m.addSeparator()
    m.addAction(w.review_dock.act_export)
    m.addAction(w.review_dock.report.act_finalize)
    m.addAction(w.review_dock.report.act_amend)
    m.addAction(w.review_dock.toggleViewAction())
    m = mb.addMenu("&Image")
    for a in (w.act_freeze, w.act_step_back, w.act_step_fwd, w.act_mark_in, w.act_mark_out,
              w.act_capture, w.act_clip, w.act_calibrate, w.calibration.act_show_line,
              w.act_live, w.act_fit, w.act_reset_display):
        m.addAction(a)


def build_toolbar(w: Any) -> tuple[QSlider, QSlider]:
    """The main toolbar with the brightness and contrast sliders; returns the two sliders."""
    tb = QToolBar("Main")
    tb.setObjectName("mainToolbar")
    tb.setMovable(False)
    for a in (w.act_open, w.act_freeze, w.act_capture, w.act_clip, w.act_calibrate,
              w.act_live, w.act_new_exam, w.act_open_exam):
        tb.addAction(a)
    tb.addSeparator()
    tb.addWidget(QLabel(" Brightness "))
    brightness = QSlider(Qt.Orientation.Horizontal)
    brightness.setObjectName("brightnessSlider")
    brightness.setRange(-100, 100)
    brightness.setFixedWidth(110)
    tb.addWidget(brightness)
    tb.addWidget(QLabel(" Contrast "))
    contrast = QSlider(Qt.Orientation.Horizontal)
    contrast.setObjectName("contrastSlider")
    contrast.setRange(25, 400)  # percent gain
    contrast.setValue(100)
    contrast.setFixedWidth(110)
    tb.addWidget(contrast)
    brightness.valueChanged.connect(w.apply_display)
    contrast.valueChanged.connect(w.apply_display)
    for child in tb.findChildren(QWidget):  # the scan keys (Space, arrows) stay with the window
        child.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    w.addToolBar(tb)
    return brightness, contrast
