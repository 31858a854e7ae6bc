"""Undo framework for the review document (:class:`~fada_desk.core.review_doc.AnnotationSet`).

Every user edit is a :class:`Command` pushed on an :class:`UndoStack`; the
edits themselves are in :mod:`fada_desk.core.annotation_commands` and
:mod:`fada_desk.core.interpretation_commands`. Commands are *snapshot*
commands: built against the current document, they keep the affected values
before and after the edit (values are immutable), so undo and redo are exact
and cheap. The stack announces every change on its psygnal signal
:attr:`UndoStack.changed` (a :class:`StackEvent`).

The design follows Qt's QUndoStack on purpose, so that a Qt adapter can wrap a
command 1:1 (``redo``/``undo``/``merge_id``/``merge_with``/``is_obsolete``,
macros, clean index) while this module stays pure:

* ``push`` executes the command (like Qt) and may *merge* it into the previous
  one: commands with the same ``merge_id`` and the same ``gesture`` token (one
  mouse drag, one typing burst) collapse into a single undo step.
* ``begin_macro``/``end_macro`` (or ``with stack.macro(text):``) group several
  commands into one step; an exception inside the ``with`` rolls them back.
* The clean index marks the saved state; merging never crosses it.

Constructors validate and raise :class:`~fada_desk.core.review_types.AnnotationError`
before anything is changed, so an invalid edit never reaches the stack.

Each command describes itself for the audit trail with :meth:`Command.audit`
(action, target, before, after as JSON data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from typing import Any

from psygnal import Signal

from fada_desk.core.events import Subscribers
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import AnnotationError


@dataclass(frozen=True)
class AuditAction:
    """One auditable human action: ``action`` verb, ``target`` id, JSON before/after."""

    action: str
    target: str
    before: Any
    after: Any


class Command:
    """Base class. Subclasses implement :meth:`redo` and :meth:`undo`."""

    #: Commands with the same non-negative merge id may merge (Qt's ``id()``).
    merge_id: int = -1

    def __init__(self, text: str) -> None:
        self.text = text

    def redo(self, doc: AnnotationSet) -> None:
        raise NotImplementedError

    def undo(self, doc: AnnotationSet) -> None:
        raise NotImplementedError

    def merge_with(self, other: Command) -> bool:
        """Absorb ``other`` (already executed) into self; True if merged."""
        return False

    def after_merge(self, doc: AnnotationSet) -> None:
        """Called once ``other`` was merged in: bring ``doc`` to this command's state when
        merging changed it (e.g. a review rule judged against the whole gesture)."""

    def is_obsolete(self) -> bool:
        """True when the command (after merging) changes nothing; the stack drops it."""
        return False

    def audit(self) -> list[AuditAction]:
        return []


class MacroCommand(Command):
    """Several commands as one undo step (children already executed when added)."""

    def __init__(self, text: str, children: Sequence[Command] = ()) -> None:
        super().__init__(text)
        self.children: list[Command] = list(children)

    def redo(self, doc: AnnotationSet) -> None:
        for c in self.children:
            c.redo(doc)

    def undo(self, doc: AnnotationSet) -> None:
        for c in reversed(self.children):
            c.undo(doc)

    def is_obsolete(self) -> bool:
        return all(c.is_obsolete() for c in self.children)

    def audit(self) -> list[AuditAction]:
        return [a for c in self.children for a in c.audit()]


class StackEventKind(str, Enum):
    """What happened on an :class:`UndoStack` (compares equal to its text value)."""

    PUSH = "push"
    MERGE = "merge"
    UNDO = "undo"
    REDO = "redo"
    CLEAN = "clean"


@dataclass(frozen=True)
class StackEvent:
    """Emitted by :attr:`UndoStack.changed`. ``kind``: push, merge, undo, redo, clean.

    For ``merge`` the command is the (grown) previous step; for ``undo``/``redo``
    it is the step undone/redone.
    """

    kind: StackEventKind
    command: Command | None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", StackEventKind(self.kind))


class UndoStack:
    """Linear undo history for one :class:`AnnotationSet` (QUndoStack semantics)."""

    #: Emitted with a :class:`StackEvent` after every change of the history (use
    #: :meth:`subscribe` to be isolated from other subscribers' errors).
    changed = Signal(StackEvent)

    def __init__(self, doc: AnnotationSet, limit: int = 0) -> None:
        self.doc = doc
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0
        self._clean_index: int | None = 0
        self._seal_index: int | None = None
        self._macros: list[MacroCommand] = []
        self._subscribers = Subscribers(self.changed)

    # -- subscribers ------------------------------------------------------------------
    def subscribe(self, observer: Callable[[StackEvent], None]) -> Callable[[], None]:
        """Call ``observer(event)`` after every change; returns an unsubscribe function.

        Subscribers are isolated: all of them run, then the first one's error is
        re-raised (the stack itself is already consistent at this point).
        """
        return self._subscribers.subscribe(observer)

    def _emit(self, kind: StackEventKind, command: Command | None) -> None:
        self._subscribers.emit(StackEvent(kind, command))

    # -- state ----------------------------------------------------------------------------
    @property
    def index(self) -> int:
        return self._index

    def __len__(self) -> int:
        return len(self._commands)

    def command(self, i: int) -> Command:
        return self._commands[i]

    @property
    def can_undo(self) -> bool:
        return not self._macros and self._index > 0

    @property
    def can_redo(self) -> bool:
        return not self._macros and self._index < len(self._commands)

    @property
    def undo_text(self) -> str:
        return self._commands[self._index - 1].text if self.can_undo else ""

    @property
    def redo_text(self) -> str:
        return self._commands[self._index].text if self.can_redo else ""

    @property
    def is_clean(self) -> bool:
        return self._clean_index == self._index

    def set_clean(self) -> None:
        """Mark the current state as saved."""
        if self._macros:
            raise AnnotationError("Cannot mark clean inside a macro.")
        self._clean_index = self._index
        self._emit(StackEventKind.CLEAN, None)

    def seal(self) -> None:
        """Stop the current step from absorbing later commands (e.g. it was saved/audited)."""
        self._seal_index = self._index

    @property
    def in_macro(self) -> bool:
        return bool(self._macros)

    # -- operations ----------------------------------------------------------------------
    def push(self, cmd: Command) -> None:
        """Execute ``cmd`` and record it (merging into the previous step when allowed)."""
        cmd.redo(self.doc)
        if self._macros:
            children = self._macros[-1].children
            if (
                children
                and children[-1].merge_id >= 0
                and children[-1].merge_id == cmd.merge_id
                and children[-1].merge_with(cmd)
            ):
                children[-1].after_merge(self.doc)
                return
            children.append(cmd)
            return
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None  # the saved state is no longer reachable
        top = self._commands[-1] if self._commands else None
        can_merge = (
            top is not None
            and top.merge_id >= 0
            and top.merge_id == cmd.merge_id
            and self._clean_index != self._index
            and self._seal_index != self._index
        )
        if can_merge and top is not None and top.merge_with(cmd):
            top.after_merge(self.doc)
            if top.is_obsolete():
                self._commands.pop()
                self._index -= 1
            self._emit(StackEventKind.MERGE, top)
            return
        if cmd.is_obsolete():
            return
        self._commands.append(cmd)
        self._index += 1
        if self.limit and len(self._commands) > self.limit:
            drop = len(self._commands) - self.limit
            del self._commands[:drop]
            self._index -= drop
            if self._clean_index is not None:
                self._clean_index -= drop
                if self._clean_index < 0:
                    self._clean_index = None
        self._emit(StackEventKind.PUSH, cmd)

    def undo(self) -> Command | None:
        if not self.can_undo:
            return None
        cmd = self._commands[self._index - 1]
        cmd.undo(self.doc)
        self._index -= 1
        self._emit(StackEventKind.UNDO, cmd)
        return cmd

    def redo(self) -> Command | None:
        if not self.can_redo:
            return None
        cmd = self._commands[self._index]
        cmd.redo(self.doc)
        self._index += 1
        self._emit(StackEventKind.REDO, cmd)
        return cmd

    def begin_macro(self, text: str) -> None:
        self._macros.append(MacroCommand(text))

    def end_macro(self) -> None:
        if not self._macros:
            raise AnnotationError("end_macro() without begin_macro().")
        macro = self._macros.pop()
        if not macro.children:
            return
        if self._macros:
            self._macros[-1].children.append(macro)
            return
        # children already ran; record the macro without re-running it
        del self._commands[self._index :]
        if self._clean_index is not None and self._clean_index > self._index:
            self._clean_index = None
        if macro.is_obsolete():
            return
        self._commands.append(macro)
        self._index += 1
        self._emit(StackEventKind.PUSH, macro)

    def abort_macro(self) -> None:
        """Undo what the open macro did and forget it."""
        if not self._macros:
            raise AnnotationError("abort_macro() without begin_macro().")
        macro = self._macros.pop()
        macro.undo(self.doc)

    @contextmanager
    def macro(self, text: str) -> Iterator[None]:
        """``with stack.macro("Fit ellipse"): stack.push(a); stack.push(b)`` -> one step;
        if the block raises, everything it did is undone and the error propagates."""
        self.begin_macro(text)
        try:
            yield
        except BaseException:
            self.abort_macro()
            raise
        self.end_macro()

    def clear(self) -> None:
        """Forget the history (e.g. after loading another exam); the document is untouched."""
        if self._macros:
            raise AnnotationError("Cannot clear inside a macro.")
        self._commands.clear()
        self._index = 0
        self._clean_index = 0
        self._emit(StackEventKind.CLEAN, None)
