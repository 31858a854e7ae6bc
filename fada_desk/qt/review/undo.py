"""Qt view of the core undo stack: signals and QActions, no second history.

The core :class:`~fada_desk.core.commands.UndoStack` is the single truth.
:class:`UndoAdapter` only *forwards*: widgets call :meth:`UndoAdapter.run`
with a command factory, the adapter pushes it on the review target (a
:class:`~fada_desk.app.review_session.ReviewSession`, which persists and audits
every step, or an in-memory :class:`LocalReview`), and re-emits the stack's
state as Qt signals so buttons and menus stay in sync. Nothing is mirrored
into a ``QUndoStack``: two histories could disagree after a failed write.

Expected failures (an invalid edit, a full disk while autosaving) never
escape into Qt: they are reported once through :attr:`UndoAdapter.error`.

Drags: :meth:`begin_gesture` returns a token that the edit commands carry
(``gesture=``); the core stack merges every command of one gesture into one
undo step. :meth:`end_gesture` (mouse release) flushes the settled step to
the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QKeySequence

from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.commands import Command, StackEvent, UndoStack
from fada_desk.core.errors import FadaError


#: The keys of Undo and Redo (the review editor's actions and :meth:`UndoAdapter.create_undo_action`);
#: made into QKeySequences when an action is built (that needs the application).
UNDO_KEYS: list[QKeySequence.StandardKey | str] = [QKeySequence.StandardKey.Undo]
REDO_KEYS: list[QKeySequence.StandardKey | str] = ["Ctrl+Y", "Ctrl+Shift+Z"]


class ReviewTarget(Protocol):
    """What the review widgets edit: ReviewSession's editing API."""

    doc: AnnotationSet
    stack: UndoStack

    def push(self, cmd: Command) -> None: ...

    def undo(self) -> Command | None: ...

    def redo(self) -> Command | None: ...

    def flush(self) -> Any: ...


class LocalReview:
    """An in-memory review target (no store): a document and its undo stack.

    Used for review without an open exam (e.g. a file opened for teaching) and
    in tests; :class:`~fada_desk.app.review_session.ReviewSession` is the persistent one.
    """

    def __init__(self, doc: AnnotationSet | None = None) -> None:
        self.doc = doc if doc is not None else AnnotationSet()
        self.stack = UndoStack(self.doc)

    def push(self, cmd: Command) -> None:
        self.stack.push(cmd)

    def undo(self) -> Command | None:
        return self.stack.undo()

    def redo(self) -> Command | None:
        return self.stack.redo()

    def flush(self) -> list[Any]:
        return []


def subscribe_while_alive(owner: QObject, subscribe: Callable[[Any], Callable[[], None]], fn: Any) -> None:
    """``subscribe(fn)`` on a pure observable and unsubscribe when ``owner`` is destroyed,
    so a closed widget is never called back from the core model."""
    unsubscribe = subscribe(fn)
    owner.destroyed.connect(lambda *_: unsubscribe())


class UndoAdapter(QObject):
    """Signals + actions over the core stack of a :class:`ReviewTarget`."""

    changed = Signal()  # after every push/merge/undo/redo/clean
    canUndoChanged = Signal(bool)  # noqa: N815 - Qt naming
    canRedoChanged = Signal(bool)  # noqa: N815
    undoTextChanged = Signal(str)  # noqa: N815
    redoTextChanged = Signal(str)  # noqa: N815
    cleanChanged = Signal(bool)  # noqa: N815
    error = Signal(str)  # one-line message for the user

    def __init__(self, target: ReviewTarget, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.target = target
        self._state = self._snapshot()
        self._gesture: object | None = None
        self.last_error = ""
        subscribe_while_alive(self, target.stack.subscribe, self._on_stack_event)

    # -- state -----------------------------------------------------------------------
    @property
    def doc(self) -> AnnotationSet:
        return self.target.doc

    @property
    def stack(self) -> UndoStack:
        return self.target.stack

    @property
    def can_undo(self) -> bool:
        return self.stack.can_undo

    @property
    def can_redo(self) -> bool:
        return self.stack.can_redo

    def _snapshot(self) -> tuple[bool, bool, str, str, bool]:
        s = self.target.stack
        return (s.can_undo, s.can_redo, s.undo_text, s.redo_text, s.is_clean)

    def _on_stack_event(self, _event: StackEvent) -> None:
        self._emit_state()

    def _emit_state(self) -> None:
        old, new = self._state, self._snapshot()
        self._state = new
        if old[0] != new[0]:
            self.canUndoChanged.emit(new[0])
        if old[1] != new[1]:
            self.canRedoChanged.emit(new[1])
        if old[2] != new[2]:
            self.undoTextChanged.emit(new[2])
        if old[3] != new[3]:
            self.redoTextChanged.emit(new[3])
        if old[4] != new[4]:
            self.cleanChanged.emit(new[4])
        self.changed.emit()

    # -- editing ---------------------------------------------------------------------
    def run(self, make: Callable[[], Command]) -> bool:
        """Build a command (its constructor validates) and push it; False + :attr:`error` on failure.

        A write failure of a persistent target happens *after* the edit: the
        document and history keep the edit and the store retries on the next
        write, so the user sees the message but loses nothing.
        """
        try:
            cmd = make()
            self.target.push(cmd)
        except FadaError as err:
            self._report(err)
            return False
        return True

    def push(self, cmd: Command) -> bool:
        return self.run(lambda: cmd)

    def run_macro(self, text: str, makes: list[Callable[[], Command]]) -> bool:
        """Several commands as ONE undo step; if any fails, the ones already done are undone."""
        stack = self.target.stack
        stack.begin_macro(text)
        try:
            for make in makes:
                stack.push(make())
        except FadaError as err:
            stack.abort_macro()
            self._report(err)
            self._emit_state()
            return False
        except BaseException:
            stack.abort_macro()
            raise
        return self._call(stack.end_macro)  # a persistent target writes the step here

    def undo(self) -> bool:
        return self._call(self.target.undo)

    def redo(self) -> bool:
        return self._call(self.target.redo)

    def flush(self) -> bool:
        """Write what the target has not written yet (a settled drag, queued audit entries)."""
        return self._call(self.target.flush)

    def _call(self, fn: Callable[[], Any]) -> bool:
        try:
            fn()
        except FadaError as err:
            self._report(err)
            return False
        finally:
            self._emit_state()
        return True

    def _report(self, err: FadaError) -> None:
        self.last_error = str(err)
        self.error.emit(self.last_error)

    # -- gestures (one drag = one undo step) ----------------------------------------------
    def begin_gesture(self) -> object:
        """A fresh token for the commands of one drag / typing burst."""
        self._gesture = object()
        return self._gesture

    @property
    def gesture(self) -> object | None:
        return self._gesture

    def end_gesture(self) -> None:
        """The drag is over: its merged step is final; persist it now."""
        self._gesture = None
        self.flush()

    # -- actions ----------------------------------------------------------------------
    def undo_state(self) -> tuple[bool, str]:
        """(enabled, text) of an Undo action: "Undo Move box"."""
        return self.can_undo, f"Undo {self.stack.undo_text}".strip()

    def redo_state(self) -> tuple[bool, str]:
        return self.can_redo, f"Redo {self.stack.redo_text}".strip()

    def create_undo_action(self, parent: QObject) -> QAction:
        return self._stack_action(parent, "Undo", UNDO_KEYS, "reviewUndo", self.undo, self.undo_state)

    def create_redo_action(self, parent: QObject) -> QAction:
        return self._stack_action(parent, "Redo", REDO_KEYS, "reviewRedo", self.redo, self.redo_state)

    def _stack_action(self, parent: QObject, verb: str, keys: list[QKeySequence.StandardKey | str], name: str,
                      trigger: Callable[[], object], state: Callable[[], tuple[bool, str]]) -> QAction:
        """An Undo/Redo action whose enabled state and text ("Undo Move box") follow the stack."""
        act = QAction(verb, parent)
        act.setShortcuts([QKeySequence(k) for k in keys])
        act.setObjectName(name)
        act.triggered.connect(lambda _c=False: trigger())

        def sync(*_: object) -> None:
            enabled, text = state()
            act.setEnabled(enabled)
            act.setText(text)

        sync()
        self.changed.connect(sync)
        return act
