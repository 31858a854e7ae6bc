"""Undoable edits of an :class:`~fada_desk.core.annotations.AnnotationSet`.

Every user edit is a :class:`Command` pushed on an :class:`UndoStack`. Commands
are *snapshot* commands: built against the current document, they keep the
affected values before and after the edit (values are immutable), so undo and
redo are exact and cheap.

The design follows Qt's QUndoStack on purpose, so that a Qt adapter can wrap a
command 1:1 (``redo``/``undo``/``merge_id``/``merge_with``/``is_obsolete``,
macros, clean index) while this module stays pure:

* ``push`` executes the command (like Qt) and may *merge* it into the previous
  one: commands with the same ``merge_id`` and the same ``gesture`` token (one
  mouse drag, one typing burst) collapse into a single undo step.
* ``begin_macro``/``end_macro`` (or ``with stack.macro(text):``) group several
  commands into one step; an exception inside the ``with`` rolls them back.
* The clean index marks the saved state; merging never crosses it.

Constructors validate and raise :class:`~fada_desk.core.annotations.AnnotationError`
before anything is changed, so an invalid edit never reaches the stack.

Each command describes itself for the audit trail with :meth:`Command.audit`
(action, target, before, after as JSON data).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fada_desk.core.annotations import (
    Annotation,
    AnnotationError,
    AnnotationSet,
    Box,
    Ellipse,
    FrameRef,
    Polygon,
    ReviewStatus,
    vertices,
    with_vertex,
)
from fada_desk.core.interpretation import CLASSIFICATION, DET_CLASSES, SEG_CLASSES, Interpretation


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

    def is_obsolete(self) -> bool:
        """True when the command (after merging) changes nothing; the stack drops it."""
        return False

    def audit(self) -> list[AuditAction]:
        return []


# ---------------------------------------------------------------------------
# Annotation commands
# ---------------------------------------------------------------------------


class AddAnnotation(Command):
    def __init__(self, doc: AnnotationSet, annotation: Annotation, text: str = "") -> None:
        if annotation.id in doc:
            raise AnnotationError(f"An annotation with id {annotation.id!r} already exists.")
        super().__init__(text or f"Add {annotation.kind} {annotation.label}".strip())
        self.annotation = annotation

    def redo(self, doc: AnnotationSet) -> None:
        doc.insert(self.annotation)

    def undo(self, doc: AnnotationSet) -> None:
        doc.remove_many([self.annotation.id])

    def audit(self) -> list[AuditAction]:
        return [AuditAction("annotation.add", self.annotation.id, None, self.annotation.to_dict())]


class DeleteAnnotations(Command):
    def __init__(self, doc: AnnotationSet, ids: Sequence[str], text: str = "") -> None:
        ids = list(dict.fromkeys(ids))
        if not ids:
            raise AnnotationError("Nothing to delete.")
        self.snapshot = sorted(((doc.index_of(i), doc.get(i)) for i in ids), key=lambda t: t[0])
        super().__init__(text or ("Delete annotation" if len(ids) == 1 else f"Delete {len(ids)} annotations"))

    def redo(self, doc: AnnotationSet) -> None:
        doc.remove_many([a.id for _, a in self.snapshot])

    def undo(self, doc: AnnotationSet) -> None:
        doc.insert_many([a for _, a in self.snapshot], [i for i, _ in self.snapshot])

    def audit(self) -> list[AuditAction]:
        return [AuditAction("annotation.delete", a.id, a.to_dict(), None) for _, a in self.snapshot]


class ReplaceAnnotations(Command):
    """Generic snapshot edit of existing annotations (base of most edit commands).

    ``gesture``: an opaque token (e.g. one per mouse drag); consecutive commands
    of the same class, on the same ids, with the same non-None gesture merge.
    """

    action = "annotation.edit"

    def __init__(
        self,
        doc: AnnotationSet,
        after: Sequence[Annotation],
        text: str,
        gesture: object | None = None,
        detail: tuple[Any, ...] = (),
    ) -> None:
        super().__init__(text)
        if not after:
            raise AnnotationError("Nothing to change.")
        self.before = tuple(doc.get(a.id) for a in after)
        self.after = tuple(after)
        self.gesture = gesture
        self.detail = detail

    def redo(self, doc: AnnotationSet) -> None:
        doc.replace_many(self.after)

    def undo(self, doc: AnnotationSet) -> None:
        doc.replace_many(self.before)

    def _merge_key(self) -> tuple[Any, ...] | None:
        if self.gesture is None:
            return None
        return (type(self), self.gesture, tuple(a.id for a in self.after), self.detail)

    def merge_with(self, other: Command) -> bool:
        if not isinstance(other, ReplaceAnnotations):
            return False
        key = self._merge_key()
        if key is None or key != other._merge_key():
            return False
        self.after = other.after
        return True

    def is_obsolete(self) -> bool:
        return self.before == self.after

    def audit(self) -> list[AuditAction]:
        return [
            AuditAction(self.action, b.id, b.to_dict(), a.to_dict())
            for b, a in zip(self.before, self.after)
            if a != b
        ]


class MoveAnnotation(ReplaceAnnotations):
    merge_id = 1
    action = "annotation.move"

    def __init__(
        self, doc: AnnotationSet, ann_id: str, dx: float, dy: float, gesture: object | None = None
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(doc, [ann.translated(dx, dy)], f"Move {ann.label or ann.kind}", gesture)


class SetGeometry(ReplaceAnnotations):
    """Replace an annotation's geometry (resize a box, reshape an ellipse...)."""

    merge_id = 2
    action = "annotation.geometry"

    def __init__(
        self,
        doc: AnnotationSet,
        ann_id: str,
        geometry: dict[str, Any],
        gesture: object | None = None,
        text: str = "",
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc,
            [ann.with_geometry({**ann.geometry(), **geometry})],
            text or f"Reshape {ann.label or ann.kind}",
            gesture,
        )


class ResizeBox(SetGeometry):
    merge_id = 3

    def __init__(
        self,
        doc: AnnotationSet,
        ann_id: str,
        x0: float,
        y0: float,
        x1: float,
        y1: float,
        gesture: object | None = None,
    ) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Box):
            raise AnnotationError(f"Only boxes can be resized this way, not a {ann.kind}.")
        super().__init__(
            doc, ann_id, {"x0": x0, "y0": y0, "x1": x1, "y1": y1}, gesture, f"Resize {ann.label or 'box'}"
        )


class EditEllipse(SetGeometry):
    merge_id = 4

    def __init__(
        self, doc: AnnotationSet, ann_id: str, gesture: object | None = None, **params: float
    ) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Ellipse):
            raise AnnotationError(f"Not an ellipse: {ann.kind}.")
        unknown = set(params) - set(Ellipse.geometry_fields)
        if unknown:
            raise AnnotationError(f"Unknown ellipse parameter(s): {', '.join(sorted(unknown))}.")
        super().__init__(doc, ann_id, params, gesture, f"Reshape {ann.label or 'ellipse'}")


class MoveVertex(ReplaceAnnotations):
    merge_id = 5
    action = "annotation.vertex.move"

    def __init__(
        self, doc: AnnotationSet, ann_id: str, index: int, x: float, y: float, gesture: object | None = None
    ) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc, [with_vertex(ann, index, x, y)], f"Move point of {ann.label or ann.kind}", gesture, (index,)
        )


class InsertVertex(ReplaceAnnotations):
    """Insert a polygon vertex *before* position ``index`` (``index == len`` appends)."""

    action = "annotation.vertex.insert"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int, x: float, y: float) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Polygon):
            raise AnnotationError(f"Vertices can be inserted into polygons only, not a {ann.kind}.")
        if not 0 <= index <= len(ann.points):
            raise AnnotationError(f"Cannot insert at {index}: the polygon has {len(ann.points)} vertices.")
        pts = list(ann.points)
        pts.insert(index, (x, y))
        super().__init__(doc, [ann.edited(points=tuple(pts))], f"Add point to {ann.label or 'polygon'}")


class DeleteVertex(ReplaceAnnotations):
    action = "annotation.vertex.delete"

    def __init__(self, doc: AnnotationSet, ann_id: str, index: int) -> None:
        ann = doc.get(ann_id)
        if not isinstance(ann, Polygon):
            raise AnnotationError(f"Vertices can be deleted from polygons only, not a {ann.kind}.")
        n = len(vertices(ann))
        if not 0 <= index < n:
            raise AnnotationError(f"Vertex {index} does not exist (the polygon has {n}).")
        if n <= 3:
            raise AnnotationError("A polygon needs at least 3 vertices; delete the polygon instead.")
        pts = list(ann.points)
        del pts[index]
        super().__init__(doc, [ann.edited(points=tuple(pts))], f"Remove point from {ann.label or 'polygon'}")


class Relabel(ReplaceAnnotations):
    action = "annotation.relabel"

    def __init__(self, doc: AnnotationSet, ann_id: str, label: str) -> None:
        ann = doc.get(ann_id)
        if not isinstance(label, str) or not label.strip():
            raise AnnotationError("A label cannot be empty.")
        super().__init__(
            doc, [ann.edited(label=label)], f"Relabel {ann.label or ann.kind} as {label.strip()}"
        )


class SetMeasure(ReplaceAnnotations):
    """Tag an annotation as a biometry measurement (BPD, HC, ...) or untag it (None)."""

    action = "annotation.measure"

    def __init__(self, doc: AnnotationSet, ann_id: str, measure: str | None) -> None:
        ann = doc.get(ann_id)
        super().__init__(
            doc,
            [ann.edited(measure=measure)],
            f"Use {ann.label or ann.kind} as {measure or 'no'} measurement",
        )


class SetStatus(ReplaceAnnotations):
    action = "annotation.status"

    def __init__(
        self, doc: AnnotationSet, ids: Sequence[str], status: ReviewStatus | str, text: str = ""
    ) -> None:
        st = ReviewStatus(status)
        anns = [doc.get(i) for i in dict.fromkeys(ids)]
        verb = {"accepted": "Accept", "rejected": "Reject", "pending": "Reset"}[st.value]
        super().__init__(
            doc,
            [a.edited(status=st) for a in anns],
            text
            or (
                f"{verb} {anns[0].label or anns[0].kind}"
                if len(anns) == 1
                else f"{verb} {len(anns)} annotations"
            ),
        )


# ---------------------------------------------------------------------------
# Interpretation commands
# ---------------------------------------------------------------------------


class SetInterpretation(Command):
    """Snapshot edit of one frame's interpretation (base of the interpretation commands)."""

    action = "interpretation.edit"

    def __init__(
        self,
        doc: AnnotationSet,
        frame: FrameRef,
        after: Interpretation | None,
        text: str,
        target: str = "",
        gesture: object | None = None,
    ) -> None:
        super().__init__(text)
        self.frame = frame
        self.before: Interpretation | None = doc.interpretation(frame)
        self.after = after
        self.target = target
        self.gesture = gesture

    def redo(self, doc: AnnotationSet) -> None:
        doc.set_interpretation(self.frame, self.after)

    def undo(self, doc: AnnotationSet) -> None:
        doc.set_interpretation(self.frame, self.before)

    def merge_with(self, other: Command) -> bool:
        if (
            self.gesture is None
            or type(other) is not type(self)
            or not isinstance(other, SetInterpretation)
            or (other.gesture, other.frame, other.target) != (self.gesture, self.frame, self.target)
        ):
            return False
        self.after = other.after
        return True

    def is_obsolete(self) -> bool:
        return self.before == self.after

    def _part(self, interp: Interpretation | None) -> Any:
        if interp is None:
            return None
        if self.target and self.target in interp.values:
            return interp.values[self.target].to_dict()
        return interp.to_dict()

    def audit(self) -> list[AuditAction]:
        tgt = f"{self.frame.key()}/{self.target}" if self.target else self.frame.key()
        return [AuditAction(self.action, tgt, self._part(self.before), self._part(self.after))]


def _interp(doc: AnnotationSet, frame: FrameRef, create: bool = False) -> Interpretation:
    it = doc.interpretation(frame)
    if it is None:
        if create:
            return Interpretation.manual(frame)
        raise AnnotationError("This frame has no interpretation yet.")
    return it


class EditInterpretationField(SetInterpretation):
    """Edit one of the 8 fields (typing in the same field with one gesture merges)."""

    merge_id = 10
    action = "interpretation.field.edit"

    def __init__(
        self, doc: AnnotationSet, frame: FrameRef, name: str, value: Any, gesture: object | None = None
    ) -> None:
        it = _interp(doc, frame, create=True)
        if name in (CLASSIFICATION, DET_CLASSES, SEG_CLASSES):
            raise AnnotationError(f"Use the classification/mapping commands for {name!r}.")
        super().__init__(
            doc, frame, it.with_value(name, value), f"Edit {name.replace('_', ' ')}", name, gesture
        )


class SetFieldStatus(SetInterpretation):
    action = "interpretation.field.status"

    def __init__(self, doc: AnnotationSet, frame: FrameRef, name: str, status: ReviewStatus | str) -> None:
        it = _interp(doc, frame)
        st = ReviewStatus(status)
        verb = {"accepted": "Accept", "rejected": "Reject", "pending": "Reset"}[st.value]
        super().__init__(doc, frame, it.with_status(name, st), f"{verb} {name.replace('_', ' ')}", name)


class SetClassification(SetInterpretation):
    action = "interpretation.classification"

    def __init__(self, doc: AnnotationSet, frame: FrameRef, label: str | None) -> None:
        it = _interp(doc, frame, create=True)
        if label is not None and (not isinstance(label, str) or not label.strip()):
            raise AnnotationError("The classification cannot be empty.")
        super().__init__(
            doc,
            frame,
            it.with_value(CLASSIFICATION, label.strip() if label else None),
            f"Set view to {label}",
            CLASSIFICATION,
        )


class SetMappedClasses(SetInterpretation):
    """Set the detection/segmentation classes (upstream comma-separated strings or lists)."""

    action = "interpretation.mapping"

    def __init__(
        self,
        doc: AnnotationSet,
        frame: FrameRef,
        det_classes: str | Sequence[str] | None,
        seg_classes: str | Sequence[str] | None,
    ) -> None:
        it = _interp(doc, frame, create=True)
        after = it.with_value(DET_CLASSES, det_classes).with_value(SEG_CLASSES, seg_classes)
        super().__init__(doc, frame, after, "Set mapped classes")

    def audit(self) -> list[AuditAction]:
        def part(i: Interpretation | None) -> Any:
            return None if i is None else {k: i.values[k].to_dict() for k in (DET_CLASSES, SEG_CLASSES)}

        return [AuditAction(self.action, f"{self.frame.key()}/mapping", part(self.before), part(self.after))]


# ---------------------------------------------------------------------------
# Composite
# ---------------------------------------------------------------------------


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


class AcceptAll(MacroCommand):
    """Accept every pending AI annotation and interpretation value of a frame (or of all frames)."""

    def __init__(self, doc: AnnotationSet, frame: FrameRef | None = None) -> None:
        super().__init__("Accept all" if frame is None else "Accept all on this frame")
        pending = doc.pending(frame)
        if pending:
            self.children.append(SetStatus(doc, [a.id for a in pending], ReviewStatus.ACCEPTED, self.text))
        for f in [frame] if frame is not None else doc.frames():
            it = doc.interpretation(f)
            if it is not None and it.pending_names():
                cmd = SetInterpretation(doc, f, it.with_all_accepted(), self.text)
                cmd.action = "interpretation.accept_all"
                self.children.append(cmd)
        if not self.children:
            raise AnnotationError("Nothing is pending review.")


# ---------------------------------------------------------------------------
# Stack
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StackEvent:
    """Reported to stack observers. ``kind``: push, merge, undo, redo, clean.

    For ``merge`` the command is the (grown) previous step; for ``undo``/``redo``
    it is the step undone/redone.
    """

    kind: str
    command: Command | None


class UndoStack:
    """Linear undo history for one :class:`AnnotationSet` (QUndoStack semantics)."""

    def __init__(self, doc: AnnotationSet, limit: int = 0) -> None:
        self.doc = doc
        self.limit = limit
        self._commands: list[Command] = []
        self._index = 0
        self._clean_index: int | None = 0
        self._seal_index: int | None = None
        self._macros: list[MacroCommand] = []
        self._observers: list[Callable[[StackEvent], None]] = []

    # -- observers ------------------------------------------------------------------
    def subscribe(self, observer: Callable[[StackEvent], None]) -> Callable[[], None]:
        self._observers.append(observer)
        return lambda: self._observers.remove(observer) if observer in self._observers else None

    def _emit(self, kind: str, command: Command | None) -> None:
        """Tell every observer; the first observer error is re-raised after all ran
        (the stack itself is already consistent at this point)."""
        first_error: BaseException | None = None
        for obs in list(self._observers):
            try:
                obs(StackEvent(kind, command))
            except Exception as err:
                first_error = first_error or err
        if first_error is not None:
            raise first_error

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
        self._emit("clean", None)

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
            if top.is_obsolete():
                self._commands.pop()
                self._index -= 1
            self._emit("merge", top)
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
        self._emit("push", cmd)

    def undo(self) -> Command | None:
        if not self.can_undo:
            return None
        cmd = self._commands[self._index - 1]
        cmd.undo(self.doc)
        self._index -= 1
        self._emit("undo", cmd)
        return cmd

    def redo(self) -> Command | None:
        if not self.can_redo:
            return None
        cmd = self._commands[self._index]
        cmd.redo(self.doc)
        self._index += 1
        self._emit("redo", cmd)
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
        self._emit("push", macro)

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
        self._emit("clean", None)
