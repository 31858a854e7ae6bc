"""What the AI panel needs from the window around it.

The panel never reaches into the main window. It asks an :class:`AIHost`:
which frame to analyse (:class:`~fada_desk.app.ai_results.AITarget`, or a
one-line reason why not), whether the view still shows it, and how to store a
result in the exam. :class:`MainWindowHost` answers for
:class:`~fada_desk.qt.main_window.MainWindow` (frozen live frame, paused file,
or the captured item under review); :class:`ViewHost` serves a bare
:class:`~fada_desk.qt.live_view.LiveView` (standalone use, tests).

Storing and reading back are :mod:`fada_desk.app.ai_results`
(``ReviewSession.import_analysis``: pending annotations + an interpretation
under review, the whole analysis in the audit trail). If the window has a
review session open on the exam (the review editor), the import runs on that
session on the GUI thread (its document is GUI-owned and the editor redraws
from it); otherwise a short-lived session does it on the store worker. The same
goes for the chat kept with the exam (:mod:`fada_desk.app.chat`). The AI runs on
the frame under review (:func:`~fada_desk.app.analysis_runs.frame_runs`) are read
from the dock's document, and a hidden run is hidden in its editor too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from fada_desk.app.ai_results import (
    AITarget,
    StoredAI,
    frame_sha256,
    import_into_session,
    import_into_store,
    stored_ai,
    stored_from_doc,
)
from fada_desk.app.analysis_runs import DuplicateChoice, RunSummary, frame_runs
from fada_desk.app.chat import ChatMessage, load_conversation, record_chat, record_chat_in_store
from fada_desk.core.review_types import FrameRef
from fada_desk.core.errors import FadaError

Done = Callable[[Any], None]
Failed = Callable[[BaseException], None]


class AIHost(Protocol):
    """The window side of the AI panel (all methods run on the GUI thread)."""

    view: Any  # LiveView: .viewbox for the overlay

    def current_target(self) -> AITarget:
        """The frame to analyse now; raises FadaError with what the user should do."""

    def shows(self, target: AITarget) -> bool:
        """True while the view still shows ``target``'s frame."""

    def editor_shows(self, frame: FrameRef) -> bool:
        """True when a review editor on the view draws the stored annotations of ``frame``."""

    def store_analysis(self, target: AITarget, analysis: Mapping[str, Any], analysis_id: str,
                       replace_reviewed: bool, done: Done, failed: Failed,
                       duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        """Store (part of) an analysis of a captured frame; False if the target is not in an exam."""

    def frame_runs(self, frame: FrameRef) -> list[RunSummary]:
        """The AI runs with items on ``frame`` (empty when the host cannot tell)."""

    def set_hidden_runs(self, ids: frozenset[str]) -> None:
        """The review editor does not draw the items of these runs."""

    def exam_id(self) -> int | None:
        """The open exam (where the chat is kept), None without one."""

    def record_chat(self, exam_id: int, msg: ChatMessage, failed: Failed) -> bool:
        """Keep a chat message with exam ``exam_id``; False if it cannot be kept."""

    def load_chat(self, exam_id: int, done: Done, failed: Failed) -> bool:
        """Read the conversation kept with exam ``exam_id`` (``done(list[ChatMessage])``)."""

    def load_stored(self, frame: FrameRef, done: Callable[[StoredAI], None],
                    failed: Callable[[BaseException], None]) -> bool:
        """Read the AI annotations / interpretation stored for ``frame``."""

    def match_capture(self, item: Any, sha256: str, done: Callable[[AITarget | None], None]) -> bool:
        """Check whether captured ``item`` holds exactly the pixels an analysis saw."""

    def status(self, text: str, ms: int = 5000) -> None: ...


# ---------------------------------------------------------------------------- hosts

class ViewHost:
    """A host for a bare LiveView: analyses what it shows; nothing is stored."""

    def __init__(self, view: Any, description: str = "Image", source: str = "") -> None:
        self.view = view
        self.description = description
        self.source = source
        self.messages: list[str] = []

    def current_target(self) -> AITarget:
        frame = self.view.frame
        if frame is None:
            raise FadaError("Open an image first.")
        return AITarget(frame, f"{self.description} {frame.width}×{frame.height}", self.source, frame.index)

    def shows(self, target: AITarget) -> bool:
        return self.view.frame is target.frame

    def editor_shows(self, frame: FrameRef) -> bool:
        return False

    def store_analysis(self, target: AITarget, analysis: Mapping[str, Any], analysis_id: str,
                       replace_reviewed: bool, done: Done, failed: Failed,
                       duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        return False

    def frame_runs(self, frame: FrameRef) -> list[RunSummary]:
        return []

    def set_hidden_runs(self, ids: frozenset[str]) -> None:
        pass

    def exam_id(self) -> int | None:
        return None

    def record_chat(self, exam_id: int, msg: ChatMessage, failed: Failed) -> bool:
        return False

    def load_chat(self, exam_id: int, done: Done, failed: Failed) -> bool:
        return False

    def load_stored(self, frame: FrameRef, done: Callable[[StoredAI], None],
                    failed: Callable[[BaseException], None]) -> bool:
        return False

    def match_capture(self, item: Any, sha256: str, done: Callable[[AITarget | None], None]) -> bool:
        return False

    def status(self, text: str, ms: int = 5000) -> None:
        self.messages.append(text)


class MainWindowHost:
    """The main window: its frozen/paused frame or the captured item under review, its exam store.

    Uses only the window's public API. The review dock (``window.review_dock``,
    :class:`~fada_desk.qt.review.dock.ReviewDock`) owns the one review session
    of the open exam: AI results are imported through it, and its editor draws
    them once stored. Without a dock session (no operator name) a short-lived
    session is used, and the AI overlay keeps drawing the result.
    """

    def __init__(self, window: Any) -> None:
        self.window = window
        self.view = window.view

    # -- frames ----------------------------------------------------------------------
    def current_target(self) -> AITarget:
        w = self.window
        p = w.active_pump()
        frame = w.shown_frame
        if p is None or frame is None:
            raise FadaError("Open an image, a video or a capture device first (File > Open).")
        single = not p.live and (p.frame_count or 0) <= 1
        if not (p.frozen or not p.playing or single):
            if p.live:
                raise FadaError("Freeze the image first (Space): the AI analyses a still frame.")
            raise FadaError("Pause the video first (Space): the AI analyses a still frame.")
        item = w.review_item
        if item is not None:
            idx = int(frame.index or 0)
            n = int(getattr(item, "n_frames", 1) or 1)
            where = f", frame {idx + 1}/{n}" if n > 1 else ""
            return AITarget(frame, f"Capture #{item.id}{where}", f"exam item #{item.id}", idx,
                            int(item.id), int(getattr(item, "exam_id", 0)) or None)
        what = "Frozen live frame" if p.live else ("Frame" if not single else "Image")
        idx = frame.index
        where = f" {idx + 1}/{p.frame_count}" if (idx is not None and not single and p.frame_count) else ""
        return AITarget(frame, f"{what}{where} {frame.width}×{frame.height}", self._uri(p), idx)

    @staticmethod
    def _uri(pump: Any) -> str:
        """The source for the analysis record: never a stream password (it goes to the audit trail)."""
        from fada_desk.sources.live import redact_uri

        return redact_uri(str(pump.info.uri or ""))

    def shows(self, target: AITarget) -> bool:
        shown = self.window.shown_frame
        if shown is None:
            return False
        if shown is target.frame:
            return True
        # a seekable file / stored clip shows a new Frame object for the same position
        p = self.window.active_pump()
        if (p is None or p.live or target.frame_index is None or shown.index != target.frame_index
                or shown.pixels.shape != target.frame.pixels.shape):
            return False
        item = self.window.review_item
        if target.item_id is not None:
            return item is not None and getattr(item, "id", None) == target.item_id
        return item is None and self._uri(p) == target.source

    # -- review integration ------------------------------------------------------------
    def _dock(self) -> Any:
        return getattr(self.window, "review_dock", None)

    def _session(self, exam_id: int | None) -> Any:
        """The review dock's session on ``exam_id`` (one session per exam: never open a second)."""
        dock = self._dock()
        session = getattr(dock, "session", None) if dock is not None else None
        if session is None or exam_id is None or getattr(session, "exam_id", None) != exam_id:
            return None
        return session

    def editor_shows(self, frame: FrameRef) -> bool:
        dock = self._dock()
        return (dock is not None and getattr(dock, "editor", None) is not None
                and getattr(dock, "frame", None) == frame)

    def _operator(self) -> str:
        exam = self.window.exam
        op = str(getattr(exam, "operator", "") or "")
        if not op:
            op = str(self.window.settings.value("exam/operator", "") or "")
        return op

    def store_analysis(self, target: AITarget, analysis: Mapping[str, Any], analysis_id: str,
                       replace_reviewed: bool, done: Done, failed: Failed,
                       duplicates: DuplicateChoice = DuplicateChoice.ASK) -> bool:
        frame = target.frame_ref
        exam = self.window.exam
        if frame is None or exam is None or getattr(exam, "id", None) != target.exam_id:
            return False
        session = self._session(target.exam_id)
        if session is not None:  # the review editor's own session: GUI thread, it redraws itself
            try:
                ids = import_into_session(session, frame, analysis, analysis_id, replace_reviewed, duplicates)
            except FadaError as err:
                failed(err)
            else:
                done(ids)
            return True
        exam_id, operator, doc = int(exam.id), self._operator(), dict(analysis)
        h = self.window.store_call(
            lambda store: import_into_store(store, exam_id, frame, doc, analysis_id, operator, replace_reviewed,
                                            duplicates), "store-ai-result")
        h.result.connect(done)
        h.error.connect(failed)
        return True

    # -- AI runs on the frame, the chat ---------------------------------------------------
    def frame_runs(self, frame: FrameRef) -> list[RunSummary]:
        exam = self.window.exam
        session = self._session(int(exam.id)) if exam is not None else None
        return frame_runs(session.doc, frame) if session is not None else []

    def set_hidden_runs(self, ids: frozenset[str]) -> None:
        editor = getattr(self._dock(), "editor", None)
        if editor is not None and getattr(editor, "hidden_runs", None) != ids:
            editor.set_hidden_runs(ids)

    def exam_id(self) -> int | None:
        exam = self.window.exam
        return int(exam.id) if exam is not None else None

    def record_chat(self, exam_id: int, msg: ChatMessage, failed: Failed) -> bool:
        session = self._session(exam_id)
        if session is not None:
            try:
                record_chat(session, msg)
            except FadaError as err:
                failed(err)
            return True
        exam = self.window.exam
        operator = self._operator() if exam is not None and int(exam.id) == exam_id else ""
        if not operator:
            return False
        h = self.window.store_call(lambda store: record_chat_in_store(store, exam_id, operator, msg), "keep-chat")
        h.error.connect(failed)
        return True

    def load_chat(self, exam_id: int, done: Done, failed: Failed) -> bool:
        h = self.window.store_call(lambda store: load_conversation(store, exam_id), "load-chat")
        h.result.connect(done)
        h.error.connect(failed)
        return True

    def load_stored(self, frame: FrameRef, done: Callable[[StoredAI], None],
                    failed: Callable[[BaseException], None]) -> bool:
        exam = self.window.exam
        if exam is None:
            return False
        exam_id = int(exam.id)
        session = self._session(exam_id)
        if session is not None:  # the dock's document: current, including unsaved edits
            done(stored_from_doc(session.doc, frame))
            return True
        h = self.window.store_call(lambda store: stored_ai(store, exam_id, frame), "load-ai-result")
        h.result.connect(done)
        h.error.connect(failed)
        return True

    def match_capture(self, item: Any, sha256: str, done: Callable[[AITarget | None], None]) -> bool:
        """In the store worker: does captured ``item`` hold the analysed pixels? (then the
        analysis of the frozen frame is stored with the capture)."""
        exam = self.window.exam
        if exam is None or getattr(item, "kind", "image") != "image":
            return False

        def fn(store: Any) -> AITarget | None:
            frame = store.load_frame(item.id, 0)
            if frame_sha256(frame) != sha256:
                return None
            return AITarget(frame, f"Capture #{item.id}", f"exam item #{item.id}", 0, int(item.id),
                            int(item.exam_id))

        h = self.window.store_call(fn, "match-ai-capture")
        h.result.connect(done)
        h.error.connect(lambda _e: done(None))
        return True

    def status(self, text: str, ms: int = 5000) -> None:
        self.window.statusBar().showMessage(text, ms)
