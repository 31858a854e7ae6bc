"""The AI runs on the capture under review, each one shown or hidden (a row of toggles).

When a capture holds items of more than one AI run (the sonographer chose
"Keep both"), :class:`RunsBar` shows one toggle per run ("Run 2: 4 item(s)
(3 pending)", from :func:`~fada_desk.app.analysis_runs.frame_runs`); unticking
one hides that run's items in the review editor and the AI overlay
(:class:`~fada_desk.app.analysis_runs.HiddenRuns`: view state, never stored). With
one run or none the bar is hidden.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from PySide6.QtCore import QSignalBlocker
from PySide6.QtWidgets import QHBoxLayout, QLabel, QToolButton, QWidget

from fada_desk.app.analysis_runs import HiddenRuns, RunSummary


class RunsBar(QWidget):
    """One toggle per AI run on the frame shown (hidden with fewer than two runs)."""

    def __init__(self, hidden: HiddenRuns, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aiRuns")
        self.hidden = hidden
        self._runs: tuple[RunSummary, ...] = ()
        self.buttons: dict[str, QToolButton] = {}
        self._lay = QHBoxLayout(self)
        self._lay.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Runs:")
        label.setToolTip("AI runs with items on this capture: untick one to hide its items")
        self._lay.addWidget(label)
        self._lay.addStretch(1)
        hidden.changed.connect(lambda _ids: self._sync())
        self.setVisible(False)

    def follow(self, host: Any, target: Any) -> None:
        """Show the runs on the frame ``host`` shows now (``target``: an AITarget or None)."""
        ref = target.frame_ref if target is not None else None
        self.show_runs(host.frame_runs(ref) if ref is not None else [])
        host.set_hidden_runs(self.hidden.ids)  # a new review editor (exam opened) starts with none hidden

    def show_runs(self, runs: Sequence[RunSummary]) -> None:
        """The runs of the frame shown now (rebuilt only when they changed)."""
        runs = tuple(runs)
        if runs == self._runs:
            return
        self._runs = runs
        for b in self.buttons.values():
            self._lay.removeWidget(b)
            b.deleteLater()
        self.buttons.clear()
        for run in runs if len(runs) > 1 else ():
            b = QToolButton()
            b.setObjectName(f"aiRun{run.number}")
            b.setCheckable(True)
            b.setText(run.title)
            b.setToolTip(run.text() + ("\n" + ", ".join(run.structures) if run.structures else ""))
            b.toggled.connect(lambda on, aid=run.analysis_id: self.hidden.set_shown(aid, on))
            self._lay.insertWidget(self._lay.count() - 1, b)
            self.buttons[run.analysis_id] = b
        self._sync()
        self.setVisible(len(runs) > 1)

    def _sync(self) -> None:
        for aid, b in self.buttons.items():
            with QSignalBlocker(b):
                b.setChecked(aid not in self.hidden)

    def summary(self) -> list[tuple[str, bool]]:
        """(run text, shown) per toggle (tests, screenshots)."""
        return [(r.text(), r.analysis_id not in self.hidden) for r in self._runs if r.analysis_id in self.buttons]
