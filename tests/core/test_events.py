"""The evented primitive: psygnal signals on the review document and the undo stack."""

from __future__ import annotations

import pytest
from psygnal import EmitLoopError, SignalInstance

from fada_desk.core.annotation_commands import AddAnnotation, Relabel
from fada_desk.core.annotations import Box
from fada_desk.core.commands import StackEvent, StackEventKind, UndoStack
from fada_desk.core.events import Subscribers
from fada_desk.core.review_doc import AnnotationSet, Change, ChangeKind
from fada_desk.core.review_types import FrameRef

F = FrameRef(1)


def box(**kw: object) -> Box:
    return Box(frame=F, x0=0, y0=0, x1=10, y1=10, **kw)  # type: ignore[arg-type]


def test_document_changes_are_a_psygnal_signal() -> None:
    doc = AnnotationSet()
    assert isinstance(doc.changed, SignalInstance)
    assert doc.changed is not AnnotationSet().changed  # one signal per document
    seen: list[Change] = []
    doc.changed.connect(seen.append)
    b = box(id="b")
    doc.insert(b)
    doc.replace_many([b.edited(label="head")])
    doc.remove_many(["b"])
    doc.reset()
    assert [c.kind for c in seen] == [
        ChangeKind.ADDED,
        ChangeKind.UPDATED,
        ChangeKind.REMOVED,
        ChangeKind.RESET,
    ]
    assert seen[0] == Change(ChangeKind.ADDED, ("b",), (F,))
    doc.changed.disconnect(seen.append)
    doc.insert(box())
    assert len(seen) == 4


def test_change_and_stack_event_kinds_are_enums_equal_to_their_text() -> None:
    c = Change("updated", ("x",))
    assert c.kind is ChangeKind.UPDATED and c.kind == "updated" and c == Change(ChangeKind.UPDATED, ("x",))
    e = StackEvent("merge", None)
    assert e.kind is StackEventKind.MERGE and e.kind == "merge"
    with pytest.raises(ValueError):
        Change("moved")
    with pytest.raises(ValueError):
        StackEvent("jump", None)


def test_stack_events_are_a_psygnal_signal() -> None:
    doc = AnnotationSet()
    stack = UndoStack(doc)
    assert isinstance(stack.changed, SignalInstance)
    events: list[StackEvent] = []
    stack.changed.connect(events.append)
    stack.push(AddAnnotation(doc, box(id="b")))
    stack.push(Relabel(doc, "b", "head"))
    stack.undo()
    stack.redo()
    stack.set_clean()
    assert [e.kind for e in events] == ["push", "push", "undo", "redo", "clean"]
    assert all(isinstance(e.kind, StackEventKind) for e in events)
    assert events[2].command is events[1].command


def test_subscribe_returns_an_idempotent_unsubscribe() -> None:
    doc = AnnotationSet()
    seen: list[Change] = []
    unsubscribe = doc.subscribe(seen.append)
    again = doc.subscribe(seen.append)  # the same callback twice: two subscriptions
    doc.insert(box())
    assert len(seen) == 2
    unsubscribe()
    unsubscribe()
    doc.insert(box())
    assert len(seen) == 3
    again()
    doc.insert(box())
    assert len(seen) == 3 and len(doc.changed) == 0


def test_subscribers_are_isolated_and_the_first_error_is_reraised_unwrapped() -> None:
    doc = AnnotationSet()
    order: list[str] = []

    def broken(_: object) -> None:
        order.append("broken")
        raise KeyError("first")

    def also_broken(_: object) -> None:
        order.append("also")
        raise RuntimeError("second")

    for fn in (broken, also_broken, lambda _: order.append("ok")):
        doc.subscribe(fn)
    with pytest.raises(KeyError, match="first"):  # not an EmitLoopError
        doc.insert(box(id="b"))
    assert order == ["broken", "also", "ok"]
    assert "b" in doc  # the document changed before it told anyone


def test_stack_subscribers_are_isolated_too() -> None:
    doc = AnnotationSet()
    stack = UndoStack(doc)
    seen: list[StackEvent] = []

    def broken(_: StackEvent) -> None:
        raise RuntimeError("toolbar crashed")

    stack.subscribe(broken)
    stack.subscribe(seen.append)
    with pytest.raises(RuntimeError, match="toolbar crashed"):
        stack.push(AddAnnotation(doc, box(id="b")))
    assert [e.kind for e in seen] == ["push"] and stack.can_undo  # recorded before it told anyone


def test_a_nested_emission_reports_its_errors_to_the_outer_subscriber() -> None:
    """A subscriber that edits the document: the inner emission's error reaches it, as before."""
    doc = AnnotationSet()
    caught: list[BaseException] = []

    def editor(change: Change) -> None:
        if change.kind == ChangeKind.ADDED and "nested" not in doc:
            try:
                doc.insert(box(id="nested"))
            except ValueError as err:
                caught.append(err)

    def picky(change: Change) -> None:
        if change.ids == ("nested",):
            raise ValueError("no nesting")

    doc.subscribe(editor)
    doc.subscribe(picky)
    doc.insert(box(id="outer"))
    assert [str(e) for e in caught] == ["no nesting"] and "nested" in doc


def test_a_direct_psygnal_connection_keeps_psygnal_semantics() -> None:
    doc = AnnotationSet()
    later: list[Change] = []

    def broken(_: Change) -> None:
        raise RuntimeError("view crashed")

    doc.changed.connect(broken)
    doc.subscribe(later.append)
    with pytest.raises(EmitLoopError) as info:
        doc.insert(box())
    assert isinstance(info.value.__cause__, RuntimeError)
    assert later == []  # psygnal stops the emission at the first error


def test_subscribers_helper_outside_an_emit_lets_psygnal_report() -> None:
    from psygnal import Signal

    class Model:
        changed = Signal(int)

    m = Model()
    subs = Subscribers(m.changed)
    got: list[int] = []
    subs.subscribe(got.append)
    subs.emit(1)
    m.changed.emit(2)  # emitted directly: subscribers still run
    assert got == [1, 2]
    subs.subscribe(lambda _: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        subs.emit(3)
    with pytest.raises(EmitLoopError):
        m.changed.emit(4)
