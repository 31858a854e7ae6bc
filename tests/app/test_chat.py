"""Chat without Qt: the conversation model, a typed request run on a scripted model, kept with the exam."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from inference.fakes import FakeBackend

from app.fakes import BRAIN, OPERATOR, dark_frame, fake_service
from fada_desk.app.ai_results import AITarget
from fada_desk.app.analysis import AnalysisModel, RunMode, RunState, chat_phases
from fada_desk.app.chat import (
    CANCELLED,
    CHAT,
    DONE,
    FADA,
    STREAMING,
    USER,
    ChatMessage,
    Conversation,
    answer_text,
    load_conversation,
    messages_from_audit,
    record_chat_in_store,
)
from fada_desk.core.cancel import CancelToken, drive
from fada_desk.storage.review import ReviewStore


def test_a_request_is_answered_in_a_streamed_message() -> None:
    conv = Conversation()
    events: list[tuple[str, int]] = []
    conv.added.connect(lambda i: events.append(("added", i)))
    conv.changed.connect(lambda i: events.append(("changed", i)))
    asked = conv.ask("  detect the brain ", "Capture #3", "3:0")
    assert asked == ChatMessage(USER, "detect the brain", "Capture #3", "3:0")
    assert conv.answering == 1 and conv.messages[1].state == STREAMING and conv.messages[1].role == FADA
    conv.stream("[{\"bbox")
    conv.stream("\": [1, 2]}]")
    assert conv.messages[1].text == "[{\"bbox\": [1, 2]}]"
    done = conv.finish("**Detection:** 3 structures", DONE, "detect", "run-7")
    assert done is not None and done.text.startswith("**Detection") and done.analysis_id == "run-7"
    assert conv.answering is None and conv.finish("again") is None  # nothing streams any more
    conv.stream("late chunk")
    assert conv.messages[1].text == "**Detection:** 3 structures"
    assert events == [("added", 0), ("added", 1), ("changed", 1), ("changed", 1), ("changed", 1)]
    assert answer_text(CANCELLED, kept=1) == "Cancelled. 1 finished phase(s) kept."
    assert answer_text("failed", "model not loaded") == "Failed: model not loaded"


def test_chat_phases_follow_fadas_intent_rules() -> None:
    assert chat_phases("interpret", False) == ["interpret", "classify"]
    assert chat_phases("detect the brain", False) == ["detect"]
    assert chat_phases("segment the heart", True) == ["segment"]
    assert chat_phases("hello", True) == []


def test_a_typed_request_runs_on_the_frame_and_the_next_one_continues_its_session() -> None:
    svc = fake_service(FakeBackend(answers=dict(BRAIN)))
    model = AnalysisModel()
    target = AITarget(dark_frame(800, 540), "Capture #5", "", 0, 5, 1)
    run = model.start_chat(target, "detect the brain")
    assert run.mode is RunMode.CHAT and [r.phase for r in model.phases] == ["detect"]
    streamed: list[str] = []
    model.streamed.connect(lambda phase, text: streamed.append(phase))
    model.submitted(run, svc.loaded)
    reply = drive(run.chat_job(svc, "detect the brain")(CancelToken()), lambda p: model.on_progress(run, p))
    model.answered(run, reply)
    assert reply.task == "detect" and "Detection" in reply.text and set(streamed) == {"detect"}
    assert model.state is RunState.DONE and model.last_message.startswith("Answered in")
    assert sorted(a.label for a in run.annotations()) == ["Brain", "CSP", "LV"]
    assert all(a.analysis_id == run.analysis_id for a in run.annotations())
    doc, start = run.take_increment()
    assert start == 0 and [p["phase"] for p in doc["phases"]] == ["detect"]

    # the next request on the same frame: a run of its own, on the same pipeline session
    second = model.start_chat(target, "interpret", shows=lambda t: t is run.target)
    assert second.session is run.session and second.analysis_id != run.analysis_id
    assert second.stored_upto == 1 and second.annotations() == run.annotations()  # still drawn
    model.submitted(second, svc.loaded)
    reply = drive(second.chat_job(svc, "interpret")(CancelToken()), lambda p: model.on_progress(second, p))
    assert reply.task == "interpret" and "**Classification:** BPD_PLANE" in reply.text
    doc, start = second.take_increment()
    assert start == 1 and [p["phase"] for p in doc["phases"]] == ["interpret", "classify"]
    # another frame on screen: a fresh session (a greeting on an image not interpreted yet interprets it)
    third = model.start_chat(target, "hello", shows=lambda t: False)
    assert third.session is None and [r.phase for r in model.phases] == ["interpret", "classify"]


def test_the_conversation_is_kept_with_the_exam(store: Any, exam: Any, item: Any) -> None:
    asked = ChatMessage(USER, "segment the heart", f"Capture #{item.id}", f"{item.id}:0")
    answer = ChatMessage(FADA, "**Segmentation:** cardiac", f"Capture #{item.id}", f"{item.id}:0",
                         "segment", "run-1")
    record_chat_in_store(store, exam.id, OPERATOR, asked)
    record_chat_in_store(store, exam.id, OPERATOR, answer)
    assert load_conversation(store, exam.id) == [asked, answer]
    entries = [e for e in ReviewStore(store).audit_entries(exam.id) if e.action == CHAT]
    assert [e.operator for e in entries] == [OPERATOR, OPERATOR] and entries[0].target == f"{item.id}:0"
    other = store.create_exam("MRN-APP", operator=OPERATOR)
    assert load_conversation(store, other.id) == []
    damaged = [SimpleNamespace(action=CHAT, after={"text": "no role"}), SimpleNamespace(action=CHAT, after=None),
               SimpleNamespace(action="ai.output", after={"role": "user", "text": "x"})]
    assert messages_from_audit(damaged) == []
