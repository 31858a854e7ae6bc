"""The sonographer's day on a 1366x768 clinic laptop and a 1920x1080 desk screen (issue 15.6).

One realistic state (an exam, a calibrated capture analysed by the AI, its
pending boxes, HC/BPD/AC/FL measured, GA/EFW computed) is shown in the real
main window at the size it opens at on each screen (the screen less a 40-px
taskbar and the window frame), every side tab is screenshotted, and the layout
is checked: no visible widget squeezed below its minimum size, no label cut
without its text in a tooltip, the tables show the rows asked for, the status
bar and the capture strip inside the window. The window's first size on such a
screen is checked in a process of its own (the offscreen platform takes the
screen size from a config file).

Screenshots go to ``$FADA_SHOTS`` when set (the before/after pictures of the
issue), else to the test's tmp dir.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from app.fakes import dark_frame, fake_service
from inference.fakes import FakeBackend
from PySide6.QtCore import QRect, QSize, Qt
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractScrollArea,
    QDockWidget,
    QLabel,
    QSizePolicy,
    QTableWidget,
    QWidget,
)

from fada_desk.app import model_service as M
from fada_desk.core.annotation_commands import AddAnnotation
from fada_desk.core.annotations import Caliper, Ellipse
from fada_desk.core.calibration import Calibration, Region
from fada_desk.core.frame import Frame
from fada_desk.core.review_types import FrameRef
from fada_desk.qt.exam_dialogs import ExamRequest
from fada_desk.qt.layout import ElidedLabel, initial_geometry, side_width_limit
from fada_desk.sources.memory import FrameListSource

pytestmark = pytest.mark.gui

# A first-trimester scan as FADA answers it: a long interpretation (with a trailing comma the
# parser repairs, so the phase ends "done (warnings)"), boxes with FADA's short class codes.
LONG_INTERPRET = """{
  "anatomical_structures": "Whole embryo in mid-sagittal section with head, body, crown and rump, the yolk sac, the amnion and the chorionic cavity; the nuchal region is visible along the posterior neck",
  "fetal_orientation": "Mid-sagittal section of the embryo, horizontal, facing up, the spine lying posteriorly and the crown to the left of the image",
  "imaging_plane": "Crown-rump length plane, true mid-sagittal, with the nasal bone, the palate and the diencephalon in view",
  "biometric_measurements": "CRL measurable; NT measurable in this plane with the neck in neutral position",
  "gestational_age": "12 weeks 3 days by CRL",
  "image_quality": "Good: the embryo occupies most of the image, calipers can be placed precisely",
  "normality_assessment": "Normal embryo for gestational age, nuchal translucency within normal limits, nasal bone present",
  "clinical_recommendations": "Use the CRL for dating; offer first trimester combined screening and book the anomaly scan at 20 weeks",
}"""
SCENARIO = {
    "interpret": LONG_INTERPRET,
    "classify": '{"label": "Other"}',
    "detect": ('[{"bbox_2d": [120, 180, 520, 720], "label": "AB"}, {"bbox_2d": [560, 200, 900, 560], "label": "B"},'
               ' {"bbox_2d": [300, 400, 480, 600], "label": "C"}, {"bbox_2d": [80, 150, 300, 400], "label": "H"},'
               ' {"bbox_2d": [620, 620, 700, 700], "label": "NB"}]'),
    "segment": "[]",
}
MM_PER_PX = 0.25
TASKBAR = 40
SCREENS = {"1366x768": (1366, 768), "1920x1080": (1920, 1080)}


def opening_size(screen: str) -> QSize:
    """The client size the window opens at on ``screen`` with a taskbar (see qt/layout.py)."""
    w, h = SCREENS[screen]
    return initial_geometry(QRect(0, 0, w, h - TASKBAR)).size()


SIZES = {name: opening_size(name) for name in SCREENS}


def shots_dir(tmp_path: Path) -> Path:
    d = Path(os.environ.get("FADA_SHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


def calibrated_frame() -> Frame:
    f = dark_frame(800, 600, index=0)
    cal = Calibration(regions=(Region(0, 0, 799, 599, MM_PER_PX / 10, MM_PER_PX / 10),), source="dicom")
    return Frame(f.pixels, index=0, calibration=cal)


@pytest.fixture
def day_window(qtbot: Any, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A main window on the scripted model (``request.param`` = window size, WxH)."""
    from fada_desk.qt.main_window import MainWindow

    M.reset_shared_service()
    M._SHARED = fake_service(FakeBackend(answers=dict(SCENARIO)))
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(SIZES[request.param])
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()
    M.reset_shared_service()


def clinic_day(qtbot: Any, win: Any, wait_for: Any) -> Any:
    """Exam -> calibrated image -> AI run -> capture -> review with four measurements."""
    req = ExamRequest("MRN-2231", name="DOE^JANE", lmp=dt.date.today() - dt.timedelta(days=150),
                      operator="A. Sonographer")
    with qtbot.waitSignal(win.examChanged, timeout=30000):
        win.create_exam(req)
    panel, dock = win.ai_dock.panel, win.review_dock
    win.open_source(FrameListSource([calibrated_frame()], uri="memory:scan"))
    wait_for(lambda: win.shown_frame is not None)
    wait_for(lambda: panel.target_label.text().startswith("Analyses: Image 800×600"))
    with qtbot.waitSignal(panel.resultReady, timeout=30000):
        panel.run_autonomous()
    with qtbot.waitSignal(panel.storedInExam, timeout=30000), \
            qtbot.waitSignal(win.itemSaved, timeout=30000) as saved:
        win.capture_still()
    item = saved.args[0]
    ref = FrameRef(item.id, 0)
    win.show_item(item)
    wait_for(lambda: dock.frame == ref and len(dock.editor.items) == 5)
    ed = dock.editor
    for ann in (Ellipse(frame=ref, label="HC", measure="HC", cx=400, cy=300, rx=140, ry=115, angle_deg=10),
                Caliper(frame=ref, label="BPD", measure="BPD", p1=(400, 190), p2=(400, 410)),
                Ellipse(frame=ref, label="AC", measure="AC", cx=600, cy=420, rx=120, ry=105, angle_deg=0),
                Caliper(frame=ref, label="FL", measure="FL", p1=(120, 520), p2=(280, 560))):
        assert ed.undo.run(lambda a=ann: AddAnnotation(ed.doc, a))
    wait_for(lambda: len(dock.panel.measurements.result_rows()) >= 5)
    return item


def grab(win: Any, path: Path) -> None:
    assert win.grab().save(str(path)), path


def tab_to(tabs: Any, title: str) -> None:
    for i in range(tabs.count()):
        if tabs.tabText(i) == title:
            tabs.setCurrentIndex(i)
            return
    raise AssertionError(f"no tab {title!r}")


# ---------------------------------------------------------------------------------- clipping checks
def on_screen(w: QWidget) -> bool:
    return w.isVisible() and not w.visibleRegion().isEmpty()


def in_scrolled_content(w: QWidget) -> bool:
    """Inside a scroll area's viewport (table cells, scrolled pages): it may scroll, not clip."""
    p = w.parentWidget()
    while p is not None:
        owner = p.parentWidget()
        if isinstance(owner, QAbstractScrollArea) and owner.viewport() is p:
            return True
        p = owner
    return False


def label_problem(lab: QLabel) -> str | None:
    if lab.textFormat() == Qt.TextFormat.RichText or not lab.text() or not lab.pixmap().isNull():
        return None
    room = lab.contentsRect()
    if lab.wordWrap():
        need = lab.heightForWidth(lab.width())
        return f"wraps to {need} px, has {lab.height()}" if need > lab.height() + 1 else None
    if isinstance(lab, ElidedLabel):
        return "elided without its text as tooltip" if lab.elided and lab.toolTip() != lab.text() else None
    need = max(lab.fontMetrics().horizontalAdvance(line) for line in lab.text().splitlines())
    if need > room.width() + 1 and lab.text() not in lab.toolTip():
        return f"text needs {need} px, has {room.width()}"
    return None


def clipping(root: QWidget) -> list[str]:
    """Every visible widget under ``root`` that is smaller than its minimum size or cuts its text."""
    problems = []
    checked = 0
    for w in [root, *root.findChildren(QWidget)]:
        if not on_screen(w) or in_scrolled_content(w):
            continue
        checked += 1
        name = f"{type(w).__name__} {w.objectName() or ''} {getattr(w, 'text', lambda: '')()!r}"
        # what a layout must give it: an explicit minimum size, else its minimum size hint
        msh, pol = w.minimumSizeHint(), w.sizePolicy()
        need_w = w.minimumWidth() or (msh.width() if pol.horizontalPolicy() != QSizePolicy.Policy.Ignored else 0)
        need_h = w.minimumHeight() or (msh.height() if pol.verticalPolicy() != QSizePolicy.Policy.Ignored else 0)
        if w.width() + 1 < need_w:
            problems.append(f"{name}: {w.width()} px wide, needs {need_w}")
        if w.height() + 1 < need_h:
            problems.append(f"{name}: {w.height()} px high, needs {need_h}")
        if isinstance(w, QLabel) and (p := label_problem(w)):
            problems.append(f"{name}: {p}")
        if isinstance(w, QAbstractButton) and w.text() and not w.toolTip():
            need = w.fontMetrics().horizontalAdvance(w.text().replace("&", ""))
            if need > w.width():
                problems.append(f"{name}: button text needs {need} px, has {w.width()}")
    if root.isVisible() and checked < 5:
        problems.append(f"only {checked} widgets of {type(root).__name__} on screen: nothing checked")
    return problems


def rows_shown(table: QTableWidget) -> int:
    """How many rows of ``table`` are entirely visible without scrolling."""
    vp = table.viewport().height()
    return sum(1 for r in range(table.rowCount())
               if table.rowViewportPosition(r) >= 0 and table.rowViewportPosition(r) + table.rowHeight(r) <= vp)


def inside(win: QWidget, w: QWidget) -> bool:
    top_left = w.mapTo(win, w.rect().topLeft())
    return win.rect().contains(QRect(top_left, w.size()))


def check_window(win: Any) -> list[str]:
    problems = []
    if win.size() != win.minimumSize().expandedTo(win.size()) or win.minimumSizeHint().height() > win.height():
        problems.append(f"window needs {win.minimumSizeHint()}, has {win.size()}")
    sb = win.statusBar()
    if not (on_screen(sb) and inside(win, sb)):
        problems.append(f"status bar at {sb.geometry()} outside the window {win.rect()}")
    for lab in (win.state_label, win.stats_label, win.calibration_label, win.exam_label):
        if on_screen(lab) and not inside(win, lab):
            problems.append(f"status label {lab.objectName()} outside the window")
    dock = win.findChild(QDockWidget, "capturesDock")
    if not inside(win, dock) or dock.height() > 140:
        problems.append(f"capture strip takes {dock.height()} px")
    return problems


@pytest.mark.parametrize("day_window", list(SIZES), indirect=True)
def test_a_clinic_day_fits_the_screen(qtbot: Any, day_window: Any, wait_for: Any, tmp_path: Path,
                                      request: pytest.FixtureRequest) -> None:
    win = day_window
    clinic_day(qtbot, win, wait_for)
    screen = request.node.callspec.params["day_window"]
    tag = os.environ.get("FADA_SHOTS_TAG", "after")
    out = shots_dir(tmp_path)
    review, ai = win.review_dock, win.ai_dock
    problems: dict[str, list[str]] = {}
    if win.size() != SIZES[screen]:
        problems["window"] = [f"cannot be made {SIZES[screen]}: it stays {win.size()}"]
    for title in ("Annotations", "Interpretation", "Measurements"):
        review.raise_()
        tab_to(review.panel, title)
        qtbot.wait(50)
        grab(win, out / f"{tag}_{screen}_review_{title.lower()}.png")
        found = problems[f"review/{title}"] = check_window(win) + clipping(review) + clipping(win.statusBar())
        panel = review.panel
        if title == "Interpretation":
            from fada_desk.qt.review.interpretation_editor import COL_VALUE

            width = panel.interpretation.table.columnWidth(COL_VALUE)
            if width < 140:
                found.append(f"value column {width} px: a word a line")
        elif title == "Measurements":
            m = panel.measurements
            if rows_shown(m.table) < 4:
                found.append(f"{rows_shown(m.table)} of the frame's 4 measurements in view")
            if rows_shown(m.results) < 5:
                found.append(f"{rows_shown(m.results)} GA / EFW rows in view, want 5")
    for title in ("Progress", "Interpretation"):
        ai.raise_()
        tab_to(ai.panel.tabs, title)
        qtbot.wait(50)
        grab(win, out / f"{tag}_{screen}_ai_{title.lower()}.png")
        found = problems[f"ai/{title}"] = check_window(win) + clipping(ai) + clipping(win.statusBar())
        if title == "Progress":
            phases = ai.panel.phase_list
            for i in range(phases.topLevelItemCount()):
                it = phases.topLevelItem(i)
                if phases.fontMetrics().horizontalAdvance(it.text(1)) > phases.columnWidth(1):
                    found.append(f"phase state {it.text(1)!r} is cut")
        else:
            table = ai.panel.results.table
            if table.columnWidth(1) < 200:
                found.append(f"interpretation column {table.columnWidth(1)} px")
            for r in range(table.rowCount()):  # wrapped, never cut: each row as high as its text
                if table.rowHeight(r) < table.sizeHintForRow(r) - 1:
                    found.append(f"interpretation row {r} cut")
    win.captures_dock.set_collapsed(True)  # the strip folded: the image takes the room
    qtbot.wait(50)
    grab(win, out / f"{tag}_{screen}_captures_folded.png")
    problems["folded"] = check_window(win) + clipping(ai)
    bad = [f"{where}: {p}" for where, found in problems.items() for p in found]
    assert not bad, "\n".join(bad)


# ---------------------------------------------------------------------------------- first opening
OPEN_SCRIPT = r"""
import json, os, sys
from PySide6.QtWidgets import QApplication
app = QApplication([])
from fada_desk.qt.main_window import MainWindow
win = MainWindow()
win.show()
for _ in range(10):
    app.processEvents()
sb = win.statusBar()
avail = app.primaryScreen().availableGeometry()
print(json.dumps({"screen": [avail.width(), avail.height()], "frame": win.frameGeometry().getRect(),
                  "status_bottom": sb.mapTo(win, sb.rect().bottomLeft()).y(), "height": win.height()}))
win.close()
"""


@pytest.mark.parametrize("screen", list(SCREENS))
def test_the_window_opens_fitted_to_the_screen(screen: str, tmp_path: Path) -> None:
    """On a real screen of that size (offscreen platform with a screen config), in a fresh process."""
    w, h = SCREENS[screen]
    cfg = tmp_path / "screen.json"
    cfg.write_text(json.dumps({"screens": [{"name": "s", "x": 0, "y": 0, "width": w, "height": h,
                                            "logicalDpi": 96, "dpr": 1}]}))
    env = dict(os.environ, QT_QPA_PLATFORM=f"offscreen:configfile={cfg}", FADA_DESK_DATA_DIR=str(tmp_path))
    run = subprocess.run([sys.executable, "-c", OPEN_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["screen"] == [w, h]
    x, y, fw, fh = got["frame"]
    assert x >= 0 and y >= 0 and x + fw <= w and y + fh <= h, got  # all of it on the screen
    assert got["status_bottom"] < got["height"], got


# ---------------------------------------------------------------------------------- strip and docks
def test_capture_strip_folds_and_the_layout_is_remembered(qtbot: Any, window: Any, wait_for: Any) -> None:
    from fada_desk.qt.main_window import MainWindow

    window.resize(760, 640)  # fits the test platform's 800x800 screen (restoring clamps to the screen)
    dock = window.captures_dock
    wait_for(lambda: dock.height() > 0)
    assert dock.strip.isVisible() and dock.height() <= 140
    image_height = window.view.height()
    qtbot.mouseClick(dock.fold_button, Qt.MouseButton.LeftButton)
    wait_for(lambda: dock.height() <= dock.fold_button.sizeHint().height() + 8)
    assert dock.collapsed and not dock.strip.isVisible()
    wait_for(lambda: window.view.height() > image_height)  # the image takes the room
    window.resizeDocks([window.review_dock], [430], Qt.Orientation.Horizontal)
    wait_for(lambda: abs(window.review_dock.width() - 430) <= 2)
    window.close()

    win2 = MainWindow()  # same settings file: folded strip, dock width, window size
    qtbot.addWidget(win2)
    win2.show()
    qtbot.waitExposed(win2)
    assert win2.size() == QSize(760, 640)
    assert win2.captures_dock.collapsed
    wait_for(lambda: abs(win2.review_dock.width() - 430) <= 2)
    qtbot.mouseClick(win2.captures_dock.fold_button, Qt.MouseButton.LeftButton)
    assert not win2.captures_dock.collapsed
    wait_for(lambda: win2.captures_dock.strip.isVisible())
    win2.close()


def test_side_docks_may_grow_on_a_wide_window(qtbot: Any, window: Any, wait_for: Any) -> None:
    window.resize(SIZES["1366x768"])
    wait_for(lambda: window.review_dock.maximumWidth() == side_width_limit(1358) == 461)
    window.resize(SIZES["1920x1080"])
    wait_for(lambda: window.review_dock.maximumWidth() == side_width_limit(1912) == 650)
    assert window.ai_dock.maximumWidth() == window.review_dock.maximumWidth()


def test_elided_label_keeps_its_text_in_the_tooltip(qtbot: Any) -> None:
    lab = ElidedLabel("Reviewing capture #12 — Frozen at frame 31 of 120")
    qtbot.addWidget(lab)
    lab.resize(lab.sizeHint())
    lab.show()
    assert not lab.elided and lab.toolTip() == ""
    lab.resize(80, lab.height())
    assert lab.elided and lab.toolTip() == lab.text() == "Reviewing capture #12 — Frozen at frame 31 of 120"
    assert lab.minimumSizeHint().width() < 80 < lab.sizeHint().width()
    lab.setText("Live")
    assert not lab.elided and lab.text() == "Live"
