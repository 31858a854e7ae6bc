"""Fixtures for the review GUI tests: a real LiveView with the annotation editor on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from helpers_review import FRAME, H, W, grey_frame

from fada_desk.core.annotations import Annotation
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.qt.live_view import LiveView
from fada_desk.qt.review.editor import AnnotationEditor
from fada_desk.qt.review.undo import LocalReview, UndoAdapter


class Rig:
    """A shown LiveView + editor over an in-memory review of ``annotations``."""

    def __init__(self, qtbot: Any, annotations: list[Annotation]) -> None:
        self.view = LiveView()
        qtbot.addWidget(self.view)
        self.view.resize(640, 480)
        self.view.show()
        qtbot.waitExposed(self.view)
        self.view.activateWindow()
        qtbot.waitUntil(self.view.isActiveWindow)
        self.view.show_frame(grey_frame())
        self.target = LocalReview(AnnotationSet(annotations))
        self.undo = UndoAdapter(self.target)
        self.editor = AnnotationEditor(self.view, self.undo)
        self.editor.set_frame(FRAME, (W, H))
        self.errors: list[str] = []
        self.undo.error.connect(self.errors.append)
        self.view.graphics.setFocus()
        qtbot.wait(20)

    @property
    def doc(self) -> AnnotationSet:
        return self.target.doc

    @property
    def viewport(self) -> Any:
        return self.view.graphics.viewport()

    def at(self, x: float, y: float) -> Any:
        return self.editor.to_widget(x, y)


@pytest.fixture
def make_rig(qtbot: Any) -> Iterator[Any]:
    rigs: list[Rig] = []

    def make(annotations: list[Annotation]) -> Rig:
        rig = Rig(qtbot, annotations)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        if rig.editor.context_menu is not None:
            rig.editor.context_menu.close()
