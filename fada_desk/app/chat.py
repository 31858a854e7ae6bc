"""Chat with FADA about the frame on screen, as in FADA's web and mobile apps; kept with the exam.

A :class:`Conversation` is the messages of the open exam, as an evented model
(psygnal): the sonographer's requests and FADA's answers, each saying which
frame it was about. An answer streams into its message while the model
generates (:meth:`Conversation.stream`) and is replaced by the finished reply
(:meth:`Conversation.finish`: done, cancelled or failed). The requests run as
chat runs of :mod:`fada_desk.app.analysis` (``AnalysisRun.chat_job``); their
results are stored for review like any run's (pending items, the duplicate
question).

The conversation is kept in the exam's audit trail: every finished message is
one ``ai.chat`` entry (signed, hash-chained, append-only: the record of what
was asked and answered). :func:`record_chat` writes one through a review
session; :func:`load_conversation` reads the exam's back (store worker).
Nothing here touches Qt.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from psygnal import Signal

from fada_desk.app.review_session import ReviewSession
from fada_desk.storage.review import ReviewStore

CHAT = "ai.chat"  # the audit action of a chat message
USER, FADA = "user", "fada"
STREAMING, DONE, CANCELLED, FAILED = "streaming", "done", "cancelled", "failed"


@dataclass(frozen=True)
class ChatMessage:
    """One message: who (``user`` / ``fada``), the text (Markdown for FADA's answers), about what."""

    role: str
    text: str
    about: str = ""  # the frame it was about, as the panel names it ("Capture #3")
    frame: str = ""  # FrameRef.key() of a captured frame, "" for one not in the exam
    task: str = ""  # what FADA's intent rules made of the request (interpret, detect...)
    analysis_id: str = ""  # the run that answered
    state: str = DONE

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ChatMessage:
        names = cls.__dataclass_fields__
        return cls(**{k: str(v) for k, v in d.items() if k in names and v is not None})


class Conversation:
    """The chat of the open exam (GUI thread); every change is a signal with the message index."""

    added = Signal(int)
    changed = Signal(int)  # streamed text or finished
    reset = Signal()

    def __init__(self) -> None:
        self.messages: list[ChatMessage] = []
        self.exam_id: int | None = None

    def __len__(self) -> int:
        return len(self.messages)

    def load(self, messages: Iterable[ChatMessage], exam_id: int | None) -> None:
        self.messages = list(messages)
        self.exam_id = exam_id
        self.reset.emit()

    def add(self, message: ChatMessage) -> int:
        self.messages.append(message)
        index = len(self.messages) - 1
        self.added.emit(index)
        return index

    def ask(self, text: str, about: str, frame: str) -> ChatMessage:
        """The sonographer's request; FADA's answer starts streaming after it."""
        msg = ChatMessage(USER, text.strip(), about, frame)
        self.add(msg)
        self.add(ChatMessage(FADA, "", about, frame, state=STREAMING))
        return msg

    @property
    def answering(self) -> int | None:
        """The index of the answer being streamed, if any."""
        last = len(self.messages) - 1
        return last if last >= 0 and self.messages[last].state == STREAMING else None

    def stream(self, chunk: str) -> None:
        index = self.answering
        if index is None or not chunk:
            return
        msg = self.messages[index]
        self.messages[index] = replace(msg, text=msg.text + chunk)
        self.changed.emit(index)

    def finish(self, text: str, state: str = DONE, task: str = "", analysis_id: str = "") -> ChatMessage | None:
        """The streamed answer is over: its final text (the reply, or why there is none)."""
        index = self.answering
        if index is None:
            return None
        msg = replace(self.messages[index], text=text, state=state, task=task, analysis_id=analysis_id)
        self.messages[index] = msg
        self.changed.emit(index)
        return msg


def answer_text(state: str, text: str = "", kept: int = 0) -> str:
    """The answer shown when a request did not finish."""
    if state == CANCELLED:
        return "Cancelled." + (f" {kept} finished phase(s) kept." if kept else "")
    return f"Failed: {text}"


def chat_entry(msg: ChatMessage) -> tuple[str, str, None, dict[str, Any]]:
    """(action, target, before, after) of the audit entry keeping ``msg``."""
    return CHAT, msg.frame or "exam", None, msg.to_dict()


def record_chat(session: Any, msg: ChatMessage) -> None:
    """Keep ``msg`` in the exam of review session ``session`` (its audit trail)."""
    session.record_action(*chat_entry(msg))


def record_chat_in_store(store: Any, exam_id: int, operator: str, msg: ChatMessage) -> None:
    """:func:`record_chat` with a short-lived session (store worker)."""
    with ReviewSession(store, exam_id, operator) as session:
        record_chat(session, msg)


def messages_from_audit(entries: Iterable[Any]) -> list[ChatMessage]:
    """The chat messages among an exam's audit entries, in order (damaged ones skipped)."""
    out = []
    for e in entries:
        if e.action == CHAT and isinstance(e.after, Mapping):
            try:
                out.append(ChatMessage.from_dict(e.after))
            except (TypeError, ValueError):
                continue
    return out


def load_conversation(store: Any, exam_id: int) -> list[ChatMessage]:
    """The conversation kept with exam ``exam_id`` (store worker)."""
    return messages_from_audit(ReviewStore(store).audit_entries(exam_id))
