"""Store work behind a GUI action runs in a worker: the GUI thread never reads an exam's review document."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from fada_desk.qt.exam_dialogs import ExamRequest

pytestmark = pytest.mark.gui


def test_review_sessions_are_opened_in_the_store_worker(qtbot: Any, window: Any, monkeypatch: Any) -> None:
    from fada_desk.app import review_session as R

    opened_on: list[threading.Thread] = []
    real_init = R.ReviewSession.__init__

    def spy(self: Any, *args: Any, **kwargs: Any) -> None:
        opened_on.append(threading.current_thread())
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(R.ReviewSession, "__init__", spy)
    dock = window.review_dock
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(ExamRequest("MRN-1", name="DOE^JANE", operator="A. Sonographer"))
    first = window.exam.id
    assert dock.session is not None and dock.session.exam_id == first
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(ExamRequest("MRN-2", name="ROE^JILL", operator="B. Sonographer"))
    assert dock.session.exam_id == window.exam.id != first
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.open_exam(first)
    assert dock.session.exam_id == first and dock.session.operator == "A. Sonographer"
    assert len(opened_on) == 3
    assert all(t is not threading.main_thread() for t in opened_on)

    # Reopening the exam under review: the preloaded session is dropped and the document read
    # again after the old session wrote its last edit (the one case left on the GUI thread).
    old = dock.session
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.open_exam(first)
    assert dock.session is not old and dock.session.exam_id == first
    assert len(opened_on) == 5 and opened_on[-1] is threading.main_thread()


def test_an_exam_without_operator_opens_without_a_review_session(qtbot: Any, window: Any) -> None:
    dock = window.review_dock
    dock.operator_fallback = ""
    with qtbot.waitSignal(window.examChanged, timeout=30000):
        window.create_exam(ExamRequest("MRN-3", name="DOE^JOHN"))
    assert window.exam is not None and dock.session is None
    assert "operator's name" in dock.message.text()
