"""The AI panel's run widgets: run buttons and state line, per-phase progress list, streamed answer.

Thin views: :class:`RunControls` holds the target line, the run / cancel
buttons, the progress bar and the state line; :class:`PhaseList` draws a
:class:`~fada_desk.app.analysis.PhaseBoard` and follows its events;
:class:`StreamView` shows the model's answer as it is generated, under a
header per phase.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtGui import QColor
from PySide6.QtWidgets import (
    QHeaderView,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.app.ai_results import AITarget
from fada_desk.app.analysis_phases import PhaseBoard, PhaseRow, PhaseState, phase_title
from fada_desk.core.errors import FadaError
from fada_desk.qt.util import hbox, vbox

ROW_COLORS = {PhaseState.RUNNING: "#1565c0", PhaseState.DONE: "#2e7d32", PhaseState.FAILED: "#c62828",
              PhaseState.CANCELLED: "#ef6c00", PhaseState.SKIPPED: "#757575", PhaseState.NOT_RUN: "#757575"}
ERROR_STYLE = "color: #c62828;"


def style_error(label: QLabel, error: bool) -> None:
    label.setStyleSheet(ERROR_STYLE if error else "")


def named_label(name: str) -> QLabel:
    label = QLabel("")
    label.setObjectName(name)
    label.setWordWrap(True)
    return label


def named_button(text: str, name: str, tip: str = "") -> QPushButton:
    b = QPushButton(text)
    b.setObjectName(name)
    if tip:
        b.setToolTip(tip)
    return b


class RunControls(QWidget):
    """What is analysed, Run autonomous / Interpret / Cancel, the progress bar and the state line."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.target_label = named_label("aiTarget")
        self.autonomous_button = named_button("Run autonomous", "aiRunAutonomous",
                                         "Interpret, classify, then detect and segment what the view shows")
        self.interpret_button = named_button("Interpret", "aiInterpret",
                                        "Interpret and classify first; then choose what to detect / segment")
        self.cancel_button = named_button("Cancel", "aiCancel")
        self.progress = QProgressBar()
        self.progress.setObjectName("aiProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.state_label = named_label("aiState")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.target_label)
        lay.addWidget(hbox(self.autonomous_button, self.interpret_button, self.cancel_button))
        lay.addWidget(self.progress)
        lay.addWidget(self.state_label)

    def show_target(self, host: Any) -> AITarget | None:
        """Show what ``host`` would analyse now (or why nothing); returns that target."""
        try:
            target: AITarget | None = host.current_target()
        except FadaError as err:
            self.target_label.setText(str(err))
            return None
        self.target_label.setText(f"Analyses: {target.description}" if target else "")
        return target

    def set_fraction(self, fraction: float) -> None:
        self.progress.setRange(0, 1000)
        self.progress.setValue(int(round(1000 * fraction)))

    def show_state(self, text: str, error: bool = False) -> None:
        self.state_label.setText(text)
        style_error(self.state_label, error)


class PhaseList(QTreeWidget):
    """Phase / State / Time rows of a :class:`PhaseBoard` (kept in step with its events)."""

    def __init__(self, board: PhaseBoard, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aiPhases")
        self.setHeaderLabels(["Phase", "State", "Time"])
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2):  # "done (warnings)" is never cut: the phase name gives way
            self.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.setMaximumHeight(150)
        self.board = board
        self._items: dict[str, QTreeWidgetItem] = {}
        board.changed.connect(self.show_row)
        board.cleared.connect(self.clear_rows)

    def clear_rows(self) -> None:
        self.clear()
        self._items.clear()

    def show_row(self, row: PhaseRow) -> None:
        item = self._items.get(row.phase)
        if item is None:
            item = self._items[row.phase] = QTreeWidgetItem([phase_title(row.phase), "", ""])
            self.addTopLevelItem(item)
        item.setText(1, row.state_text)
        item.setText(2, row.time_text)
        item.setToolTip(1, row.tip)
        color = None if row.warnings else ROW_COLORS.get(row.state)
        item.setForeground(1, QColor(color) if color else self.palette().text().color())


class StreamView(QPlainTextEdit):
    """The model's answer as it streams, one header per phase."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aiStream")
        self.setReadOnly(True)
        self.setPlaceholderText("The model's answer appears here as it is generated.")
        self.setMaximumBlockCount(5000)
        self._phase = ""

    def reset(self) -> None:
        self.clear()
        self._phase = ""

    def add_text(self, phase: str, text: str) -> None:
        cursor = self.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if phase != self._phase:
            cursor.insertText(("\n" if self._phase else "") + f"── {phase_title(phase)} ──\n")
            self._phase = phase
        cursor.insertText(text)
        self.setTextCursor(cursor)
        self.ensureCursorVisible()


def run_tab(phases: PhaseList, stream: StreamView) -> QWidget:
    """The "Progress" tab: the phase list above the streamed text."""
    return vbox(phases, (stream, 1), margins=2)
