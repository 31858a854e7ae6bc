"""The phases of an analysis as the user follows them: one row per phase, its state, time, notes.

:class:`PhaseBoard` keeps the rows of the analysis shown, in run order (a
later human-in-the-loop step adds rows or reuses them) and emits a psygnal
event for every change, so a view (the AI panel's phase list) only draws
them. Times come from an injectable clock. Nothing here touches Qt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from enum import Enum

from psygnal import Signal

from fada_desk.inference.fada.results import ERROR, SKIPPED, PhaseResult

PHASE_TITLES = {"interpret": "Interpret", "classify": "Classify", "detect": "Detect", "segment": "Segment",
                "keypoints": "Keypoints"}


def phase_title(phase: str) -> str:
    return PHASE_TITLES.get(phase, phase)


class PhaseState(str, Enum):
    """The state of one phase row."""

    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    SKIPPED = "skipped"
    FAILED = "failed"
    CANCELLED = "cancelled"
    NOT_RUN = "not run"

    def __str__(self) -> str:
        return self.value


@dataclass
class PhaseRow:
    """One phase in the progress list: state, time text, tooltip."""

    phase: str
    state: PhaseState = PhaseState.PENDING
    time_text: str = ""
    tip: str = ""
    warnings: bool = False  # done, but parsing needed repairs / reported problems
    started: float | None = None  # clock() when it started streaming

    @property
    def title(self) -> str:
        return phase_title(self.phase)

    @property
    def state_text(self) -> str:
        return self.state.value + (" (warnings)" if self.warnings else "")


class PhaseBoard:
    """The phases of the analysis shown, in run order (a later step adds rows or reuses them)."""

    changed = Signal(object)  # the PhaseRow added or updated
    cleared = Signal()

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._rows: dict[str, PhaseRow] = {}

    def __iter__(self) -> Iterator[PhaseRow]:
        return iter(list(self._rows.values()))

    def __len__(self) -> int:
        return len(self._rows)

    def get(self, phase: str) -> PhaseRow | None:
        return self._rows.get(phase)

    def state_text(self, phase: str) -> str:
        """The state shown for ``phase`` ("" if it has no row)."""
        row = self._rows.get(phase)
        return row.state_text if row is not None else ""

    def rows(self) -> list[tuple[str, str, str]]:
        """(phase, state, time) for every row, in order."""
        return [(r.phase, r.state_text, r.time_text) for r in self._rows.values()]

    def clear(self) -> None:
        self._rows.clear()
        self.cleared.emit()

    def plan(self, phases: Sequence[str], reset: bool) -> None:
        """Rows for the phases a job is about to run (all pending)."""
        if reset:
            self.clear()
        for phase in phases:
            self.set(phase, PhaseState.PENDING, "")

    def set(self, phase: str, state: PhaseState, time_text: str | None = None, tip: str = "",
            warnings: bool = False) -> PhaseRow:
        row = self._rows.get(phase)
        if row is None:
            row = self._rows[phase] = PhaseRow(phase)
        row.state, row.tip, row.warnings = state, tip, warnings
        if time_text is not None:
            row.time_text = time_text
        self.changed.emit(row)
        return row

    def start(self, phase: str) -> None:
        """``phase`` streams: running from now (once)."""
        row = self._rows.get(phase)
        if row is not None and row.state is PhaseState.RUNNING:
            return
        self.set(phase, PhaseState.RUNNING, "").started = self.clock()

    def finish(self, res: PhaseResult) -> None:
        secs = "cached" if res.cached else f"{res.seconds:.1f} s"
        if res.status == ERROR:
            self.set(res.phase, PhaseState.FAILED, secs, res.error)
        elif res.status == SKIPPED:
            self.set(res.phase, PhaseState.SKIPPED, "", res.error)
        else:
            self.set(res.phase, PhaseState.DONE, secs, "; ".join([*res.parse_errors, *res.notes]),
                     warnings=bool(res.parse_errors))

    def close(self, state: PhaseState) -> None:
        """A job ended: a running phase becomes ``state``, phases still pending "not run"."""
        for row in list(self._rows.values()):
            if row.state is PhaseState.RUNNING:
                secs = f"{self.clock() - row.started:.1f} s" if row.started else ""
                self.set(row.phase, state, secs)
            elif row.state is PhaseState.PENDING:
                self.set(row.phase, PhaseState.NOT_RUN, "")

    def tick(self) -> None:
        """Refresh the elapsed time of running phases."""
        for row in list(self._rows.values()):
            if row.state is PhaseState.RUNNING and row.started is not None:
                row.time_text = f"{self.clock() - row.started:.0f} s"
                self.changed.emit(row)
