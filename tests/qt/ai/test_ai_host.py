"""MainWindowHost's decisions on stub windows: which frame, when, and what goes on record."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from app.fakes import dark_frame

from fada_desk.core.review_types import FrameRef
from fada_desk.core.errors import FadaError
from fada_desk.qt.ai.host import MainWindowHost


def _window(pump: Any, frame: Any, item: Any = None) -> Any:
    return SimpleNamespace(view=None, active_pump=lambda: pump, shown_frame=frame, review_item=item,
                           exam=None)


def _pump(uri: str, live: bool, frozen: bool = False, playing: bool = True, count: int | None = None) -> Any:
    return SimpleNamespace(info=SimpleNamespace(uri=uri), live=live, frozen=frozen,
                           playing=playing and not frozen, frame_count=count)


def test_live_needs_freeze_and_stream_passwords_never_reach_the_record() -> None:
    frame = dark_frame(64, 48)
    win = _window(_pump("rtsp://clinic:s3cret@10.0.0.5/live", live=True), frame)
    with pytest.raises(FadaError, match="Freeze the image first"):
        MainWindowHost(win).current_target()
    win.active_pump = lambda: _pump("rtsp://clinic:s3cret@10.0.0.5/live", live=True, frozen=True)
    target = MainWindowHost(win).current_target()
    assert target.source == "rtsp://clinic:***@10.0.0.5/live" and "s3cret" not in target.description
    assert target.description == "Frozen live frame 64×48" and target.frame_ref is None


def test_playing_video_must_be_paused_and_positions_are_matched_per_source() -> None:
    host = MainWindowHost(_window(_pump("/data/cine.mp4", live=False, count=30), dark_frame(64, 48, index=4)))
    with pytest.raises(FadaError, match="Pause the video first"):
        host.current_target()
    paused = _pump("/data/cine.mp4", live=False, playing=False, count=30)
    win = _window(paused, dark_frame(64, 48, index=4))
    host = MainWindowHost(win)
    target = host.current_target()
    assert target.description == "Frame 5/30 64×48" and target.frame_index == 4
    win.shown_frame = dark_frame(64, 48, index=4)  # the same position read again: still this result
    assert host.shows(target)
    win.shown_frame = dark_frame(64, 48, index=5)
    assert not host.shows(target)
    win.shown_frame = dark_frame(64, 48, index=4)
    win.active_pump = lambda: _pump("/data/other.mp4", live=False, playing=False, count=30)
    assert not host.shows(target)  # another file at the same position is another image


def test_captured_item_under_review_is_a_stored_frame() -> None:
    item = SimpleNamespace(id=7, exam_id=3, n_frames=10)
    win = _window(_pump("exam item #7", live=False, count=10), dark_frame(64, 48, index=2), item)
    with pytest.raises(FadaError, match="Pause the video first"):
        MainWindowHost(win).current_target()  # a stored clip loops while reviewed
    win.active_pump = lambda: _pump("exam item #7", live=False, frozen=True, count=10)
    target = MainWindowHost(win).current_target()
    assert target.frame_ref == FrameRef(7, 2) and target.exam_id == 3
    assert target.description == "Capture #7, frame 3/10"
    assert MainWindowHost(win).shows(target)
    win.review_item = SimpleNamespace(id=8, exam_id=3, n_frames=10)
    win.shown_frame = dark_frame(64, 48, index=2)
    assert not MainWindowHost(win).shows(target)


def test_nothing_open() -> None:
    with pytest.raises(FadaError, match="Open an image"):
        MainWindowHost(_window(None, None)).current_target()
