"""The AI dock's chat: type a request about the frame on screen, watch FADA answer, keep it with the exam.

:class:`ChatPane` is the view: the conversation (finished messages, Markdown),
the answer streaming in below it, a request line, Send and Cancel. It draws a
:class:`~fada_desk.app.chat.Conversation` and follows its events.
:class:`ChatKeeper` ties the conversation to the open exam through the panel's
host: it loads the exam's conversation when an exam is opened and keeps every
finished message with it (its audit trail). The AI panel runs the requests
(``AIPanel.run_chat``) like any run: one job at a time, results stored for
review as pending items (with the duplicate question).
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QLineEdit, QPlainTextEdit, QTextBrowser, QVBoxLayout, QWidget

from fada_desk.app.chat import CANCELLED, DONE, FADA, FAILED, STREAMING, ChatMessage, Conversation, answer_text
from fada_desk.core.errors import error_text
from fada_desk.qt.ai.run_views import named_button, named_label
from fada_desk.qt.util import hbox

PLACEHOLDER = "Ask about this frame: interpret, detect the brain, segment the heart…"
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>#+|!~-])")


def _escape(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def message_markdown(msg: ChatMessage) -> str:
    """One message of the transcript, as Markdown."""
    if msg.role == FADA:
        state = {CANCELLED: " (cancelled)", FAILED: " (failed)"}.get(msg.state, "")
        return f"**FADA**{state}\n\n{msg.text or '…'}"
    about = f" · *{_escape(msg.about)}*" if msg.about else ""
    return f"**You**{about}\n\n{_escape(msg.text)}"


class ChatPane(QWidget):
    """Conversation, streaming answer, request line, Send / Cancel."""

    submitted = Signal(str)  # a request to run
    cancelRequested = Signal()  # noqa: N815 - Qt naming

    def __init__(self, conversation: Conversation, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("aiChat")
        self.conversation = conversation
        self.transcript = QTextBrowser()
        self.transcript.setObjectName("aiChatTranscript")
        self.transcript.setOpenLinks(False)
        self.transcript.setPlaceholderText("Ask FADA about the frame on screen; its answers and the items it "
                                           "finds go into the review like any AI run.")
        self.live = QPlainTextEdit()
        self.live.setObjectName("aiChatLive")
        self.live.setReadOnly(True)
        self.live.setMaximumHeight(110)
        self.live.setVisible(False)
        self.input = QLineEdit()
        self.input.setObjectName("aiChatInput")
        self.input.setPlaceholderText(PLACEHOLDER)
        self.input.setClearButtonEnabled(True)
        self.send_button = named_button("Send", "aiChatSend", "Run the request on the frame on screen (Enter)")
        self.cancel_button = named_button("Cancel", "aiChatCancel", "Stop the answer (finished phases are kept)")
        self.note = named_label("aiChatNote")
        self.input.returnPressed.connect(self.send)
        self.send_button.clicked.connect(self.send)
        self.cancel_button.clicked.connect(self.cancelRequested.emit)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(2, 2, 2, 2)
        lay.addWidget(self.transcript, 1)
        lay.addWidget(self.live)
        lay.addWidget(hbox(self.input, self.send_button, self.cancel_button))
        lay.addWidget(self.note)
        conversation.added.connect(self._on_added)
        conversation.changed.connect(self._on_changed)
        conversation.reset.connect(self.render)
        self.set_busy(False)
        self.render()

    def send(self) -> None:
        text = self.input.text().strip()
        if text and self.send_button.isEnabled():
            self.submitted.emit(text)

    def set_busy(self, busy: bool, can_cancel: bool = False) -> None:
        """While a job runs nothing new is sent; Cancel stops an answer being streamed."""
        self.send_button.setEnabled(not busy)
        self.cancel_button.setEnabled(busy and can_cancel)

    def request_taken(self) -> None:
        """The request runs: clear the line for the next one."""
        self.input.clear()

    def set_note(self, text: str) -> None:
        self.note.setText(text)
        self.note.setToolTip(text)

    # ------------------------------------------------------------------ drawing
    def render(self) -> None:
        """Draw the finished messages (the one streaming is shown below them)."""
        done = [m for m in self.conversation.messages if m.state != STREAMING]
        self.transcript.setMarkdown("\n\n---\n\n".join(message_markdown(m) for m in done))
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())
        streaming = self.conversation.answering
        self.live.setVisible(streaming is not None)
        if streaming is None:
            self.live.clear()

    def _on_added(self, index: int) -> None:
        msg = self.conversation.messages[index]
        if msg.state == STREAMING:
            self.live.setPlainText(msg.text)
            self.live.setPlaceholderText("FADA is answering…")
        self.render()

    def _on_changed(self, index: int) -> None:
        msg = self.conversation.messages[index]
        if msg.state == STREAMING:
            cursor = self.live.textCursor()
            cursor.movePosition(cursor.MoveOperation.End)
            cursor.insertText(msg.text[len(self.live.toPlainText()):])
            self.live.setTextCursor(cursor)
            self.live.ensureCursorVisible()
        else:
            self.render()

    def text(self) -> str:
        """Everything the pane shows as plain text (tests, screenshots)."""
        live = self.live.toPlainText() if self.live.isVisibleTo(self) else ""
        return self.transcript.toPlainText() + ("\n" + live if live else "")


class ChatKeeper:
    """The conversation of the open exam: loaded on exam change, each finished message kept with it."""

    def __init__(self, host: Any, conversation: Conversation, pane: ChatPane) -> None:
        self.host, self.conversation, self.pane = host, conversation, pane
        self._phase = ""  # the phase streaming now
        self.exam_changed()

    def exam_changed(self, *_: object) -> None:
        """Show the conversation kept with the exam now open (none without an exam)."""
        exam_id = self.host.exam_id()
        if exam_id is not None and exam_id == self.conversation.exam_id:
            return  # the same exam (edited): its conversation is already shown
        self.conversation.load([], exam_id)
        if exam_id is None:
            self.pane.set_note("Not kept: open or create an exam to keep the conversation with it.")
            return
        self.pane.set_note("Kept with the exam.")

        def loaded(messages: Any, eid: int = exam_id) -> None:
            if self.conversation.exam_id == eid and not self.conversation.messages:
                self.conversation.load(list(messages), eid)

        self.host.load_chat(exam_id, loaded, lambda err: self.pane.set_note(
            f"The conversation kept with the exam cannot be read: {error_text(err)}"))

    def keep(self, msg: ChatMessage | None) -> None:
        exam_id = self.conversation.exam_id
        if msg is None or exam_id is None:
            return
        if not self.host.record_chat(exam_id, msg, self._failed):
            self.pane.set_note("Not kept: the exam has no operator to sign the conversation.")

    def _failed(self, err: BaseException) -> None:
        self.pane.set_note(f"The conversation could not be kept with the exam: {error_text(err)}")

    # ------------------------------------------------------------------ one request
    def follow(self, handle: Any, run: Any, text: str) -> None:
        """Request ``text`` runs as ``run``'s job ``handle``: show it, then stream and keep the answer."""
        ref = run.target.frame_ref
        self.keep(self.conversation.ask(text, run.target.description, ref.key() if ref is not None else ""))
        self._phase = ""
        self.pane.request_taken()

        def kept() -> int:
            return len(run.result.phases) - run.first_phase if run.result is not None else 0

        handle.progress.connect(self.progress)
        handle.result.connect(lambda reply: self.answered(reply, run.analysis_id))
        handle.cancelled.connect(lambda: self.stopped(CANCELLED, kept=kept()))
        handle.error.connect(lambda err: self.stopped(FAILED, error_text(err)))

    def progress(self, p: Any) -> None:
        """A progress report of the request's job: the answer's text as it is generated."""
        chunk, phase = getattr(p.payload, "text", ""), getattr(p.payload, "phase", "")
        if not isinstance(chunk, str) or not chunk:
            return
        if phase != self._phase and self._phase:
            chunk = "\n" + chunk  # the next phase's answer on a line of its own
        self._phase = phase
        self.conversation.stream(chunk)

    def answered(self, reply: Any, analysis_id: str) -> None:
        self.keep(self.conversation.finish(str(reply.text), DONE, str(reply.task), analysis_id))

    def stopped(self, state: str, text: str = "", kept: int = 0) -> None:
        self.keep(self.conversation.finish(answer_text(state, text, kept), state))
