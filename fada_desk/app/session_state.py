"""What the workstation has open, shows and works on, kept in one place.

One :class:`SessionState` per workstation window. The window's controllers
(:mod:`fada_desk.qt.acquisition`, :mod:`fada_desk.qt.cine_controller`,
:mod:`fada_desk.qt.exam_controller`, :mod:`fada_desk.qt.calibration_controller`)
read and change it on the GUI thread and keep no copy of it; whoever must follow
a change listens to its psygnal signals (emitted synchronously, in the caller's
thread). Qt-free: it holds the pumps, frames and store objects, never a widget.

The rules that decide which calibration and which capture metadata go with a
stored frame live here too (:meth:`SessionState.active_calibration`,
:meth:`SessionState.capture_meta`): they depend only on this state.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from psygnal import Signal

from fada_desk.core.calibration import Calibration, ManualCalibration
from fada_desk.core.frame import Frame
from fada_desk.sources.pump import FramePump
from fada_desk.storage.values import jsonable


class SessionState:
    """The open source, the stored item under review, the frame on screen, the exam.

    Two pumps at most: the *acquisition* pump (device, stream or file) and,
    while a stored item is reviewed, a *review* pump over its frames; the
    active one is what the window shows and works on.
    """

    changed = Signal()  # what the user can do may have changed (the window's actions)
    calibration_changed = Signal(object)  # the active Calibration | None, on every refresh
    exam_changed = Signal(object)  # Exam | None
    source_opened = Signal(object)  # SourceInfo of the new acquisition source
    item_saved = Signal(object)  # CapturedItem just stored in the exam

    def __init__(self) -> None:
        self.pump: FramePump | None = None  # acquisition (device / stream / file)
        self.review: FramePump | None = None  # frames of the stored item under review
        self.review_item: Any = None  # that CapturedItem
        self.shown: Frame | None = None  # the frame on screen
        self.manual: ManualCalibration | None = None  # set by hand for the acquisition source
        self.exam: Any = None
        self.source_uri = ""  # stored with every capture: redacted, never a stream password
        self.reopen: tuple[str, dict[str, Any]] | None = None  # (uri, options) to open it again
        self.closing = False  # the window is shutting down (source-opening jobs read it too)

    def active_pump(self) -> FramePump | None:
        """The review pump while an item is reviewed, else the acquisition pump."""
        return self.review if self.review is not None else self.pump

    def active_calibration(self) -> Calibration | None:
        """The calibration of the frame on screen: a reviewed item's stored one, else the
        frame's (or the source's) with the manual calibration of this source applied."""
        frame = self.shown
        if self.review is not None:
            base = getattr(self.review_item, "calibration", None)
            return base if base is not None else (frame.calibration if frame else None)
        cal = frame.calibration if frame is not None else None
        if self.manual is not None:
            return (cal or Calibration()).with_manual(self.manual)
        if cal is None and self.pump is not None:
            cal = self.pump.info.calibration
        return cal

    def capture_meta(self, frame: Frame | None, pump: FramePump | None) -> dict[str, Any]:
        """Metadata stored with a capture of ``frame`` from ``pump`` (the active one)."""
        meta: dict[str, Any] = {"captured_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}
        if pump is not None:
            info = pump.info
            meta.update({"source_kind": info.kind, "live": info.live, "frozen": pump.frozen,
                         "source_metadata": jsonable(info.metadata)})
        if frame is not None and frame.index is not None:
            meta["frame_index"] = frame.index
        if self.review_item is not None:
            meta["from_item"] = getattr(self.review_item, "id", None)
        return meta

    def refresh(self) -> None:
        """Tell listeners that pumps, review or freezing changed (then the calibration)."""
        self.changed.emit()
        self.refresh_calibration()

    def refresh_calibration(self) -> None:
        self.calibration_changed.emit(self.active_calibration())
