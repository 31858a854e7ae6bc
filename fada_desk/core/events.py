"""Change notification of the pure model: psygnal signals with isolated subscribers.

The review document (:class:`~fada_desk.core.review_doc.AnnotationSet`) and the
undo stack (:class:`~fada_desk.core.commands.UndoStack`) announce every change
on a psygnal :class:`~psygnal.Signal` (``changed``). Views subscribe through
:meth:`Subscribers.subscribe`, which isolates them from each other: every
subscriber runs even when an earlier one raises (one broken view must not
starve the others), and the first error is re-raised, unwrapped, after all of
them ran (the model is already consistent at that point).

A callback connected straight to the signal (``doc.changed.connect(fn)``) gets
psygnal's own semantics instead: its error stops the emission and arrives
wrapped in :class:`psygnal.EmitLoopError`, and a bound method is held weakly
(dropped when its object is collected).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from psygnal import SignalInstance


class Subscribers:
    """Isolated subscribers of one signal instance; emit through :meth:`emit`."""

    def __init__(self, signal: SignalInstance) -> None:
        self.signal = signal
        # one error list per emission in progress (emissions nest when a subscriber edits the model)
        self._collecting: list[list[Exception]] = []

    def subscribe(self, fn: Callable[[Any], Any]) -> Callable[[], None]:
        """Call ``fn(payload)`` on every emission; returns an unsubscribe function (idempotent).

        ``fn`` is held strongly until unsubscribed, like a plain callback list.
        """

        def isolated(*args: Any) -> None:
            try:
                fn(*args)
            except Exception as err:
                if not self._collecting:  # emitted around :meth:`emit`: psygnal reports it
                    raise
                self._collecting[-1].append(err)

        self.signal.connect(isolated)

        def unsubscribe() -> None:
            self.signal.disconnect(isolated, missing_ok=True)

        return unsubscribe

    def emit(self, *args: Any) -> None:
        """Emit to every subscriber, then re-raise the first subscriber error, if any."""
        errors: list[Exception] = []
        self._collecting.append(errors)
        try:
            self.signal.emit(*args)
        finally:
            self._collecting.pop()
        if errors:
            raise errors[0]
