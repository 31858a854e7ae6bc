"""The AI dock of the main window: the :class:`~.panel.AIPanel` + an "AI" menu.

The main window only creates it (``AIDock(window)``); the dock finds what it
needs through the window's public API (:class:`~.host.MainWindowHost`):
the frame on screen, the captured item under review, the exam store, the
review dock's session. It listens to ``itemSaved`` (a capture of the analysed
frozen frame takes the analysis along) and to the window's Close event, where
it cancels a run and stores what finished *before* the window stops its store
worker. When an exam is opened the chat shows the conversation kept with it.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QAction, QKeySequence
from PySide6.QtWidgets import QDockWidget

from fada_desk.app.analysis import RunState
from fada_desk.app.model_service import ModelService
from fada_desk.qt.ai.host import MainWindowHost
from fada_desk.qt.ai.panel import AIPanel


class _CloseWatcher(QObject):
    """Shuts the panel down when the window receives its Close event (before closeEvent runs)."""

    def __init__(self, panel: AIPanel, parent: QObject) -> None:
        super().__init__(parent)
        self.panel = panel

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        if event.type() == QEvent.Type.Close:
            self.panel.shutdown()
        return False


class AIDock(QDockWidget):
    """Dock + actions: Run autonomous (F5), Interpret (F6), Cancel (Shift+F5), settings."""

    def __init__(self, window: Any, service: ModelService | None = None) -> None:
        super().__init__("AI (FADA)", window)
        self.setObjectName("aiDock")
        self.window_ = window
        self.host = MainWindowHost(window)
        self.panel = AIPanel(self.host, service=service, settings=window.settings)
        self.setWidget(self.panel)
        window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self)
        review = getattr(window, "review_dock", None)
        if review is not None:  # one tabbed side area keeps the image large on a laptop screen
            window.tabifyDockWidget(review, self)
            review.raise_()
        window.itemSaved.connect(self.panel.item_captured)
        window.examChanged.connect(self.panel.chat_keeper.exam_changed)  # the chat kept with the exam
        self._watcher = _CloseWatcher(self.panel, self)
        window.installEventFilter(self._watcher)

        def action(text: str, slot: Any, key: str, name: str) -> QAction:
            a = QAction(text, window)
            a.setObjectName(name)
            a.setShortcut(QKeySequence(key))
            a.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            a.triggered.connect(lambda _c=False: slot())
            window.addAction(a)
            return a

        self.act_autonomous = action("Run AI (autonomous)", self.panel.run_autonomous, "F5", "aiActAutonomous")
        self.act_interpret = action("AI interpret (choose next steps)", self.panel.run_interpret, "F6",
                                    "aiActInterpret")
        self.act_cancel = action("Cancel AI", self.panel.cancel, "Shift+F5", "aiActCancel")
        self.act_settings = QAction("AI model settings…", window)
        self.act_settings.triggered.connect(lambda _c=False: self.panel.open_settings())
        menu = window.menuBar().addMenu("&AI")
        for a in (self.act_autonomous, self.act_interpret, self.act_cancel):
            menu.addAction(a)
        menu.addSeparator()
        menu.addAction(self.act_settings)
        menu.addAction(self.toggleViewAction())
        self.menu = menu
        self.panel.stateChanged.connect(self._on_state)
        self._sync_actions()

    def _on_state(self, state: str) -> None:
        if state in (RunState.LOADING, RunState.RUNNING) and not self.on_screen:
            self.show()
            self.raise_()  # a run started from the menu / F5: show its progress
        self._sync_actions()

    @property
    def on_screen(self) -> bool:
        """Shown and not behind another tab (Qt moves hidden tabs off-screen, still 'visible')."""
        return self.isVisible() and not self.visibleRegion().isEmpty()

    def _sync_actions(self) -> None:
        busy = self.panel.running
        self.act_autonomous.setEnabled(not busy)
        self.act_interpret.setEnabled(not busy)
        self.act_cancel.setEnabled(busy)
