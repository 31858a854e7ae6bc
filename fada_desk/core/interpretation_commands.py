"""Undoable edits of interpretations: fields, review status, view classification, mapped classes.

Snapshot commands (see :mod:`fada_desk.core.commands`) on one frame's
:class:`~fada_desk.core.interpretation.Interpretation`, plus :class:`AcceptAll`
(every pending annotation and interpretation value of a frame, or of the exam).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fada_desk.core.annotation_commands import SetStatus
from fada_desk.core.commands import AuditAction, Command, MacroCommand
from fada_desk.core.interpretation import CLASSIFICATION, DET_CLASSES, SEG_CLASSES, Interpretation
from fada_desk.core.review_doc import AnnotationSet
from fada_desk.core.review_types import STATUS_VERBS, AnnotationError, FrameRef, ReviewStatus


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
        verb = STATUS_VERBS[st]
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
