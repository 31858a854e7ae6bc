"""Cooperative cancellation and progress for generator jobs.

Long work (inference, file IO, export, PACS) is written as a *generator* that
yields :class:`Progress` objects. Each ``yield`` is a cancellation point: the
Qt worker (``fada_desk.qt.workers``) or the CLI drives the generator and stops
it when the user cancels. Blocking calls inside a job should poll
``token.check()`` so that cancellation takes effect within a second.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import Any, TypeVar

from fada_desk.core.errors import Cancelled

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One progress report. ``fraction`` in [0, 1] or None when unknown."""

    message: str = ""
    fraction: float | None = None
    payload: Any = None  # e.g. a streamed token or a partial result


class CancelToken:
    """Thread-safe cancellation flag shared between a job and its owner."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """Raise :class:`Cancelled` if cancellation was requested."""
        if self._event.is_set():
            raise Cancelled("cancelled by user")

    def wait(self, timeout: float) -> bool:
        """Sleep up to ``timeout`` s; return True early if cancelled."""
        return self._event.wait(timeout)


#: A generator job: yields progress, returns its result (``StopIteration.value``).
Job = Generator[Progress, None, T]


def drive(job: Job[T], on_progress: Callable[[Progress], None] | None = None) -> T:
    """Run a generator job to completion in this thread and return its result.

    The one job driver outside Qt (the CLI, tests, app services); the GUI's
    ``JobRunner`` drives the same generators on a worker thread.
    """
    while True:
        try:
            p = next(job)
        except StopIteration as stop:
            return stop.value  # type: ignore[no-any-return]
        if on_progress is not None:
            on_progress(p)
