"""Run generator jobs off the GUI thread; deliver progress/result/error on the GUI thread.

A *job* is ``fn(token: CancelToken) -> Generator[Progress, None, R]`` (or a plain
function returning ``R``). :class:`JobRunner` runs it on its own ``QThreadPool``
and returns a :class:`JobHandle` whose public signals always fire on the GUI
thread, in order: any number of ``progress(Progress)``, then exactly one of
``result(object)`` / ``error(BaseException)`` / ``cancelled()``, then
``finished()``.

Why a handle with private relay signals: the worker thread emits the private
signals, whose receivers are the handle's own slots. The handle lives in the
GUI thread, so Qt queues those calls; the slots then re-emit the public
signals from the GUI thread. Connections to the public signals therefore run
on the GUI thread whatever they are (lambdas included).

Each ``yield`` is a cancellation point; ``cancel()`` also sets the job's
:class:`~fada_desk.core.cancel.CancelToken` so blocking steps can poll it.
Used by the live view (opening sources, saving captures) and reused by AI
inference and export.
"""

from __future__ import annotations

import inspect
import logging
import threading
import weakref
from collections.abc import Callable, Generator
from enum import Enum
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal, Slot

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import Cancelled, FadaError

log = logging.getLogger(__name__)

JobFn = Callable[[CancelToken], "Generator[Progress, None, Any] | Any"]

_RUNNERS: weakref.WeakSet[JobRunner] = weakref.WeakSet()


class Outcome(str, Enum):
    """How a job ended (delivered on the GUI thread)."""

    RESULT = "result"
    ERROR = "error"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


def live_runners() -> list[JobRunner]:
    """Runners not yet garbage-collected (tests check none has work left)."""
    return list(_RUNNERS)


class JobHandle(QObject):
    """A submitted job. Signals are delivered on the GUI thread."""

    progress = Signal(object)  # Progress
    result = Signal(object)
    error = Signal(object)  # the exception
    cancelled = Signal()
    finished = Signal()

    _relay_progress = Signal(object)
    _relay_done = Signal(str, object)  # (Outcome value, payload)

    def __init__(self, fn: JobFn, name: str, parent: QObject | None = None, cancellable: bool = True) -> None:
        super().__init__(parent)
        self.name = name
        self.cancellable = cancellable
        self.token = CancelToken()
        self._fn = fn
        self._done = threading.Event()
        self._released = threading.Event()  # the worker thread holds no reference any more
        self._outcome: Outcome | str = ""
        self._payload: Any = None
        self._relay_progress.connect(self._on_progress)
        self._relay_done.connect(self._on_done)

    # -- owner side ----------------------------------------------------------------------------
    def cancel(self) -> None:
        """Request cancellation (ignored for jobs submitted with ``cancellable=False``)."""
        if self.cancellable:
            self.token.cancel()

    @property
    def done(self) -> bool:
        """True once the worker thread finished (signals may still be queued)."""
        return self._done.is_set()

    @property
    def outcome(self) -> Outcome | str:
        """The :class:`Outcome` once delivered on the GUI thread, else ""."""
        return self._outcome

    @property
    def value(self) -> Any:
        """The result (or exception) once delivered."""
        return self._payload

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker thread is done (not for the GUI thread in normal use)."""
        return self._done.wait(timeout)

    # -- worker side ---------------------------------------------------------------------------
    def _execute(self) -> None:
        token = self.token
        try:
            token.check()
            out = self._fn(token)
            if inspect.isgenerator(out):
                gen: Generator[Progress, None, Any] = out
                try:
                    while True:
                        item = next(gen)
                        if token.cancelled:
                            gen.close()
                            raise Cancelled("cancelled by user")
                        if isinstance(item, Progress):
                            self._relay_progress.emit(item)
                except StopIteration as stop:
                    value = stop.value
            else:
                value = out
            if token.cancelled:
                self._relay_done.emit(Outcome.CANCELLED.value, None)
            else:
                self._relay_done.emit(Outcome.RESULT.value, value)
        except Cancelled:
            self._relay_done.emit(Outcome.CANCELLED.value, None)
        except BaseException as err:  # noqa: BLE001 - delivered to the GUI as an error
            if not isinstance(err, FadaError):
                log.error("job %s failed", self.name, exc_info=err)
            self._relay_done.emit(Outcome.ERROR.value, err)
        finally:
            self._done.set()

    # -- GUI side ------------------------------------------------------------------------------
    @Slot(object)
    def _on_progress(self, p: Progress) -> None:
        if not self._outcome:
            self.progress.emit(p)

    @Slot(str, object)
    def _on_done(self, outcome: str, payload: object) -> None:
        self._outcome = Outcome(outcome)
        self._payload = payload
        if self._outcome is Outcome.RESULT:
            self.result.emit(payload)
        elif self._outcome is Outcome.ERROR:
            self.error.emit(payload)
        else:
            self.cancelled.emit()
        self.finished.emit()


class _Runnable(QRunnable):
    def __init__(self, handle: JobHandle) -> None:
        super().__init__()
        self._handle = handle
        self.setAutoDelete(True)

    def run(self) -> None:
        handle, self._handle = self._handle, None
        released = handle._released
        try:
            handle._execute()
        finally:
            # The handle lives in the GUI thread: the worker must drop its last reference
            # before the GUI side may let go, or the QObject could be destroyed here.
            del handle
            released.set()


class JobRunner(QObject):
    """A pool of worker threads plus the set of jobs still running.

    ``max_threads=1`` gives a serial queue (e.g. all exam-store writes in order).
    """

    def __init__(self, max_threads: int = 2, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, max_threads))
        self._pool.setExpiryTimeout(2000)
        self._active: set[JobHandle] = set()
        self._closed = False
        _RUNNERS.add(self)

    def submit(self, fn: JobFn, name: str = "job", cancellable: bool = True) -> JobHandle:
        """Queue ``fn``. ``cancellable=False`` for clean-up that must run even on shutdown
        (closing a device, finishing a save)."""
        if self._closed:
            raise RuntimeError("job runner is shut down")
        # No Qt parent: the handle's lifetime is Python's (kept in _active until its outcome
        # is delivered, then by whoever holds it). Letting Qt delete it (parent + deleteLater)
        # crashed PySide 6.11 in ~QObject when slots connected to it were Python lambdas.
        handle = JobHandle(fn, name, None, cancellable)
        self._active.add(handle)
        handle.finished.connect(lambda h=handle: self._forget(h))
        self._pool.start(_Runnable(handle))
        return handle

    def _forget(self, handle: JobHandle) -> None:
        if not handle._released.is_set():  # worker still unwinding: ask again shortly
            QTimer.singleShot(2, self, lambda h=handle: self._forget(h))
            return
        self._active.discard(handle)
        handle.deleteLater()

    @property
    def active(self) -> list[JobHandle]:
        """Jobs whose GUI-side outcome has not been delivered yet."""
        return [h for h in self._active if not h.outcome]

    @property
    def busy(self) -> bool:
        return any(not h.done for h in self._active)

    def cancel_all(self) -> None:
        for h in list(self._active):
            h.cancel()

    def wait(self, timeout: float) -> bool:
        """Block until all worker threads are idle (used on shutdown and in tests)."""
        return bool(self._pool.waitForDone(max(0, int(timeout * 1000))))

    def shutdown(self, timeout: float = 5.0, cancel: bool = True) -> bool:
        """Cancel (optionally) and wait for running jobs; no new jobs afterwards."""
        self._closed = True
        if cancel:
            self.cancel_all()
        ok = self.wait(timeout)
        self._pool.clear()
        return ok

    @property
    def pool(self) -> QThreadPool:
        return self._pool
