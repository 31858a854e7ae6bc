"""Fixtures for the AI panel tests: a LiveView host, services over scripted backends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from app.fakes import BRAIN, dark_frame, fake_service
from inference.conftest import tiny_model  # noqa: F401 - the real tiny GGUF model (built once)
from inference.fakes import FakeBackend

from fada_desk.app import model_service as M


@pytest.fixture(autouse=True)
def _fresh_shared_service() -> Iterator[None]:
    """Every test starts without a process model and closes whatever it loaded."""
    M.reset_shared_service()
    yield
    M.reset_shared_service()


@pytest.fixture
def make_panel(qtbot: Any) -> Iterator[Callable[..., Any]]:
    """``make_panel(backend_or_service, frame=...)`` -> (panel, view, host): a shown LiveView
    with the panel beside it; shut down after the test."""
    from PySide6.QtWidgets import QHBoxLayout, QWidget

    from fada_desk.qt.ai.host import ViewHost
    from fada_desk.qt.ai.panel import AIPanel
    from fada_desk.qt.live_view import LiveView

    panels: list[Any] = []
    keep: list[Any] = []

    def make(backend: Any = None, frame: Any = None, service: M.ModelService | None = None,
             check: bool = True) -> tuple[Any, Any, Any]:
        if service is None:
            service = fake_service(backend if backend is not None else FakeBackend(answers=dict(BRAIN)))
        box = QWidget()
        qtbot.addWidget(box)
        view = LiveView()
        host = ViewHost(view, "Test image", "memory:test")
        panel = AIPanel(host, service=service, check=check)
        lay = QHBoxLayout(box)
        lay.addWidget(view, 3)
        lay.addWidget(panel, 2)
        box.resize(1000, 620)
        box.show()
        qtbot.waitExposed(box)
        view.show_frame(frame if frame is not None else dark_frame())
        panels.append(panel)
        keep.append(box)  # qtbot only holds a weak reference
        return panel, view, host

    yield make
    for p in panels:
        p.shutdown()


@pytest.fixture
def backend() -> FakeBackend:
    return FakeBackend(answers=dict(BRAIN))


@pytest.fixture
def ai_window(qtbot: Any, backend: FakeBackend) -> Iterator[Any]:
    """A main window whose process model is the scripted backend."""
    from fada_desk.qt.main_window import MainWindow

    M._SHARED = fake_service(backend)  # what shared_service() hands the window's AI dock
    win = MainWindow()
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    qtbot.waitExposed(win)
    win.ai_dock.raise_()  # tabbed with the review dock
    yield win
    win.close()
