"""The questions asked before an AI result is stored: duplicates of earlier runs, a reviewed interpretation.

:class:`StoreQuestions` answers the :class:`~fada_desk.app.analysis_keeper.AnalysisKeeper`'s
``choose`` (the new run proposes again what earlier runs on the capture proposed:
replace the earlier *pending* ones, keep both runs, or cancel) and ``confirm``
(replace an interpretation a human already reviewed?) with a non-blocking,
window-modal message box each; the answer goes back to the keeper
(:meth:`~fada_desk.app.analysis_keeper.AnalysisKeeper.answer` /
:meth:`~fada_desk.app.analysis_keeper.AnalysisKeeper.decline`).
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QWidget

from fada_desk.app.analysis_keeper import AnalysisKeeper, StoreRequest
from fada_desk.app.analysis_runs import DuplicateChoice, Duplicates

NOT_STORED = "The new AI result was not stored (the earlier AI items are kept)."


class StoreQuestions:
    """Asks the keeper's questions on ``parent``; ``message`` shows a one-line outcome."""

    def __init__(self, parent: QWidget, keeper: AnalysisKeeper, message: Callable[[str], None]) -> None:
        self.parent = parent
        self.keeper = keeper
        self.message = message
        self.box: QMessageBox | None = None
        keeper.choose.connect(self.ask_duplicates)
        keeper.confirm.connect(self.ask_replace_reviewed)

    def _box(self, title: str, text: str, name: str) -> QMessageBox:
        self.close()
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.NoButton, self.parent)
        box.setObjectName(name)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self.box = box
        return box

    def ask_duplicates(self, request: StoreRequest, dup: Duplicates) -> QMessageBox:
        """Replace the earlier pending items, keep both runs, or cancel (not stored)?"""
        box = self._box("AI items already on this capture", dup.question(), "aiDuplicateQuestion")
        replace = None
        if dup.can_replace:
            replace = box.addButton(f"Replace {len(dup.pending_ids)} pending", QMessageBox.ButtonRole.AcceptRole)
            replace.setObjectName("aiReplaceRun")
            replace.setToolTip("The earlier runs' pending items for these structures go, the new run's come "
                               "(one step: Undo brings them back). Accepted and edited items stay.")
        keep = box.addButton("Keep both", QMessageBox.ButtonRole.YesRole)
        keep.setObjectName("aiKeepBoth")
        keep.setToolTip("Store the new run beside the earlier ones; the AI panel can hide a run.")
        cancel = box.addButton("Cancel", QMessageBox.ButtonRole.RejectRole)
        cancel.setObjectName("aiCancelStore")
        box.setDefaultButton(replace or keep)
        box.setEscapeButton(cancel)

        def answered(button: object) -> None:
            if replace is not None and button is replace:
                self.keeper.answer(request, duplicates=DuplicateChoice.REPLACE)
            elif button is keep:
                self.keeper.answer(request, duplicates=DuplicateChoice.KEEP)
            else:
                self.keeper.decline(request)
                self.message(NOT_STORED)

        box.buttonClicked.connect(answered)
        box.open()
        return box

    def ask_replace_reviewed(self, request: StoreRequest, text: str) -> QMessageBox:
        box = self._box("Replace the reviewed interpretation?", text, "aiReplaceQuestion")
        box.setStandardButtons(QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No)

        def answered(button: object) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self.keeper.answer(request, replace_reviewed=True)
            else:
                self.keeper.decline(request)
                self.message("The new AI interpretation was not stored (the reviewed one is kept).")

        box.buttonClicked.connect(answered)
        box.open()
        return box

    def close(self) -> None:
        if self.box is not None:
            try:
                self.box.close()
            except RuntimeError:  # already deleted (WA_DeleteOnClose)
                pass
        self.box = None
