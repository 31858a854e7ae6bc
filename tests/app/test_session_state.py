"""SessionState: which pump and calibration are active, what goes with a capture, its events."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import numpy as np

from fada_desk.app.session_state import SessionState
from fada_desk.core.calibration import Calibration, ManualCalibration
from fada_desk.core.frame import Frame


def _pump(calibration: Calibration | None = None, frozen: bool = False) -> Any:
    info = SimpleNamespace(calibration=calibration, kind="file", live=False, metadata={"Modality": "US"})
    return SimpleNamespace(info=info, frozen=frozen)


def _frame(index: int | None = 3, calibration: Calibration | None = None) -> Frame:
    return Frame(np.zeros((4, 5), np.uint8), index=index, calibration=calibration)


def test_the_review_pump_wins_while_an_item_is_reviewed() -> None:
    st = SessionState()
    assert st.active_pump() is None
    st.pump = _pump()
    assert st.active_pump() is st.pump
    st.review = _pump()
    assert st.active_pump() is st.review


def test_manual_calibration_applies_to_the_acquisition_not_to_a_reviewed_item() -> None:
    st = SessionState()
    src_cal = Calibration(source="dicom")
    st.pump = _pump(src_cal)
    assert st.active_calibration() is src_cal  # no frame yet: the source's calibration
    st.shown = _frame()
    assert st.active_calibration() is src_cal  # the frame carries none: still the source's
    frame_cal = Calibration(source="dicom")
    st.shown = _frame(calibration=frame_cal)
    assert st.active_calibration() is frame_cal
    manual = ManualCalibration((0.0, 0.0), (0.0, 100.0), 50.0)
    st.manual = manual
    assert st.active_calibration().manual == manual

    stored = Calibration().with_manual(ManualCalibration((0.0, 0.0), (10.0, 0.0), 5.0))
    st.review, st.review_item = _pump(), SimpleNamespace(id=7, calibration=stored)
    assert st.active_calibration() is stored
    st.review_item = SimpleNamespace(id=7, calibration=None)
    assert st.active_calibration() is frame_cal  # an item stored without one: the frame's


def test_capture_meta_records_source_frame_and_reviewed_item() -> None:
    st = SessionState()
    p = _pump(frozen=True)
    meta = st.capture_meta(_frame(index=4), p)
    assert meta["source_kind"] == "file" and meta["frozen"] is True and meta["frame_index"] == 4
    assert meta["source_metadata"] == {"Modality": "US"} and "from_item" not in meta
    st.review_item = SimpleNamespace(id=9)
    assert st.capture_meta(_frame(index=None), None)["from_item"] == 9
    json.dumps(meta)


def test_capture_meta_keeps_numbers_and_stringifies_objects() -> None:
    """Source metadata goes through the store's one JSON converter: numbers stay numbers."""
    import numpy as np

    st = SessionState()
    p = _pump()
    p.info = SimpleNamespace(kind="dicom", live=False, metadata={
        "Rows": np.uint16(480), "a": [1, 2.5, None, True], 3: ("x", object), "nan": float("nan")})
    meta = st.capture_meta(_frame(index=None), p)["source_metadata"]
    json.dumps(meta)
    assert meta["Rows"] == 480 and isinstance(meta["Rows"], int)
    assert meta["a"] == [1, 2.5, None, True] and meta["3"][0] == "x" and isinstance(meta["3"][1], str)
    assert meta["nan"] is None


def test_refresh_tells_the_actions_then_the_calibration() -> None:
    st = SessionState()
    seen: list[Any] = []
    st.changed.connect(lambda: seen.append("changed"))
    st.calibration_changed.connect(seen.append)
    st.refresh()
    assert seen == ["changed", None]
