"""The review document of one exam: annotations and interpretations, one source of truth.

:class:`AnnotationSet` holds the exam's annotations
(:mod:`fada_desk.core.annotations`) and per-frame interpretations
(:mod:`fada_desk.core.interpretation`) and announces every change on its
psygnal signal :attr:`AnnotationSet.changed` (payload: a :class:`Change`).
User edits go through the undoable commands (:mod:`fada_desk.core.commands`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any

from psygnal import Signal

from fada_desk.core.annotations import Annotation
from fada_desk.core.events import Subscribers
from fada_desk.core.interpretation import Interpretation
from fada_desk.core.review_types import AnnotationError, FrameRef, ReviewStatus


class ChangeKind(str, Enum):
    """What kind of change a :class:`Change` reports."""

    ADDED = "added"
    REMOVED = "removed"
    UPDATED = "updated"
    INTERPRETATION = "interpretation"
    RESET = "reset"


@dataclass(frozen=True)
class Change:
    """What changed in an :class:`AnnotationSet`.

    ``kind``: ``added`` / ``removed`` / ``updated`` (annotation ids in ``ids``),
    ``interpretation`` (``frames`` names the frame), ``reset`` (everything).
    A :class:`ChangeKind`, which compares equal to its text value.
    """

    kind: ChangeKind
    ids: tuple[str, ...] = ()
    frames: tuple[FrameRef, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", ChangeKind(self.kind))


Observer = Callable[[Change], None]


class AnnotationSet:
    """The single source of truth for one exam's review: annotations + interpretations.

    Pure Python, no Qt. User edits go through :mod:`fada_desk.core.commands`
    (undoable); the low-level mutators below are what commands call and they
    emit :attr:`changed` after each change. Not thread-safe: own it from one
    thread (the GUI thread) and hand copies (``to_dict``) to workers.
    """

    #: Emitted with a :class:`Change` after every change (use :meth:`subscribe` to be isolated
    #: from other subscribers' errors).
    changed = Signal(Change)

    def __init__(
        self, annotations: Iterable[Annotation] = (), interpretations: Iterable[Interpretation] = ()
    ) -> None:
        self._items: dict[str, Annotation] = {}
        self._interp: dict[FrameRef, Interpretation] = {}
        self._subscribers = Subscribers(self.changed)
        #: Optional check of every frame that gets content (e.g. "the item belongs to this exam");
        #: raises to refuse the change before anything is modified.
        self.frame_validator: Callable[[FrameRef], None] | None = None
        for a in annotations:
            self._check_new(a)
            self._items[a.id] = a
        for it in interpretations:
            self._interp[it.frame] = it

    # -- subscribers ------------------------------------------------------------------
    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(change)`` after every change; returns an unsubscribe function.

        Subscribers are isolated (:class:`~fada_desk.core.events.Subscribers`): all of
        them run, then the first one's error is re-raised.
        """
        return self._subscribers.subscribe(observer)

    def _notify(self, change: Change) -> None:
        self._subscribers.emit(change)

    # -- queries ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(list(self._items.values()))

    def __contains__(self, ann_id: object) -> bool:
        return ann_id in self._items

    def get(self, ann_id: str) -> Annotation:
        try:
            return self._items[ann_id]
        except KeyError:
            raise AnnotationError(f"No annotation with id {ann_id!r}.") from None

    def index_of(self, ann_id: str) -> int:
        for i, k in enumerate(self._items):
            if k == ann_id:
                return i
        raise AnnotationError(f"No annotation with id {ann_id!r}.")

    def for_frame(
        self, frame: FrameRef, *, statuses: Sequence[ReviewStatus] | None = None
    ) -> list[Annotation]:
        return [
            a for a in self._items.values() if a.frame == frame and (statuses is None or a.status in statuses)
        ]

    def frames(self) -> list[FrameRef]:
        """Every frame with annotations or an interpretation, sorted."""
        return sorted({a.frame for a in self._items.values()} | set(self._interp))

    def interpretation(self, frame: FrameRef) -> Interpretation | None:
        """The :class:`~fada_desk.core.interpretation.Interpretation` of a frame, or None."""
        return self._interp.get(frame)

    def interpretations(self) -> list[Interpretation]:
        return [self._interp[f] for f in sorted(self._interp)]

    def pending(self, frame: FrameRef | None = None) -> list[Annotation]:
        return [
            a
            for a in self._items.values()
            if a.status is ReviewStatus.PENDING and (frame is None or a.frame == frame)
        ]

    # -- low-level mutators (used by commands; each notifies) --------------------------
    def _check_new(self, ann: Annotation) -> None:
        if not isinstance(ann, Annotation):
            raise AnnotationError(f"Not an annotation: {ann!r}.")
        if ann.id in self._items:
            raise AnnotationError(f"An annotation with id {ann.id!r} already exists.")

    def insert(self, ann: Annotation, index: int | None = None) -> None:
        self.insert_many([ann], [index] if index is not None else None)

    def insert_many(self, anns: Sequence[Annotation], indices: Sequence[int] | None = None) -> None:
        """Insert annotations; ``indices`` (ascending final positions) restore a deleted order."""
        for a in anns:
            self._check_new(a)
        if len({a.id for a in anns}) != len(anns):
            raise AnnotationError("Duplicate annotation ids in one insert.")
        if self.frame_validator is not None:
            for f in sorted({a.frame for a in anns}):
                self.frame_validator(f)
        items = list(self._items.items())
        if indices is None:
            items.extend((a.id, a) for a in anns)
        else:
            for a, i in sorted(zip(anns, indices), key=lambda t: t[1]):
                items.insert(min(max(i, 0), len(items)), (a.id, a))
        self._items = dict(items)
        self._notify(
            Change(ChangeKind.ADDED, tuple(a.id for a in anns), tuple(sorted({a.frame for a in anns})))
        )

    def remove_many(self, ids: Sequence[str]) -> list[tuple[int, Annotation]]:
        """Remove annotations; returns (index, annotation) pairs to re-insert on undo."""
        for i in ids:
            self.get(i)
        removed = [(self.index_of(i), self._items[i]) for i in ids]
        for i in ids:
            del self._items[i]
        removed.sort(key=lambda t: t[0])
        self._notify(Change(ChangeKind.REMOVED, tuple(ids), tuple(sorted({a.frame for _, a in removed}))))
        return removed

    def replace_many(self, anns: Sequence[Annotation]) -> None:
        """Swap in new versions of existing annotations (same ids, order kept)."""
        for a in anns:
            old = self.get(a.id)
            if old.frame != a.frame:
                raise AnnotationError("An annotation cannot move to another frame.")
        for a in anns:
            self._items[a.id] = a
        if anns:
            self._notify(
                Change(ChangeKind.UPDATED, tuple(a.id for a in anns), tuple(sorted({a.frame for a in anns})))
            )

    def set_interpretation(self, frame: FrameRef, interpretation: Interpretation | None) -> None:
        """Set (or with None, remove) the interpretation of ``frame``."""
        if interpretation is None:
            self._interp.pop(frame, None)
        else:
            if interpretation.frame != frame:
                raise AnnotationError("Interpretation frame mismatch.")
            if self.frame_validator is not None and frame not in self._interp:
                self.frame_validator(frame)
            self._interp[frame] = interpretation
        self._notify(Change(ChangeKind.INTERPRETATION, (), (frame,)))

    def reset(
        self, annotations: Iterable[Annotation] = (), interpretations: Iterable[Interpretation] = ()
    ) -> None:
        """Replace the whole content (load from the store)."""
        fresh = AnnotationSet(annotations, interpretations)
        self._items, self._interp = fresh._items, fresh._interp
        self._notify(Change(ChangeKind.RESET))

    # -- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "annotations": [a.to_dict() for a in self._items.values()],
            "interpretations": [it.to_dict() for it in self.interpretations()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnnotationSet:
        return cls(
            [Annotation.from_dict(a) for a in d.get("annotations", [])],
            [Interpretation.from_dict(i) for i in d.get("interpretations", [])],
        )
