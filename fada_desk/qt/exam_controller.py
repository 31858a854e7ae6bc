"""The exam side of the workstation: new / open exam, captures into it, the thumbnail strip.

Every exam-store call runs as a job on one serial runner (:meth:`ExamController.store_call`),
so writes happen in the order the sonographer made them and the GUI thread
never waits for the disk; the store is opened on first use. A capture without
an open exam asks for one first and is stored once it exists. Clicking a
thumbnail loads the item's frames in the store worker and hands them to the
acquisition controller, which reviews them in their own pump.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, Signal
from PySide6.QtWidgets import QLabel, QMainWindow

from fada_desk.app.session_state import SessionState
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import FadaError, error_text
from fada_desk.core.frame import Frame
from fada_desk.qt.acquisition import AcquisitionController
from fada_desk.qt.cine_controller import FILE_MODE, CineController, slider_mode
from fada_desk.qt.exam_dialogs import ExamBrowserDialog, ExamRequest, NewExamDialog
from fada_desk.qt.review.dock import ReviewDock
from fada_desk.qt.thumbnails import ThumbnailStrip, make_thumbnail
from fada_desk.qt.util import open_dialog
from fada_desk.qt.workers import JobHandle, JobRunner

log = logging.getLogger(__name__)


class ExamController(QObject):
    """Owns the exam store, the thumbnail strip (``thumbs``) and the exam label (``exam_label``)."""

    examEdited = Signal(object)  # the updated Exam, after Exam ▸ Edit exam was saved

    def __init__(self, window: QMainWindow, state: SessionState, settings: QSettings,
                 acquisition: AcquisitionController, cine: CineController, review_dock: ReviewDock,
                 show_error: Callable[[str, str], Any], store_path: Path | None = None) -> None:
        super().__init__(window)
        self._window = window
        self._state = state
        self._settings = settings
        self._acquisition = acquisition
        self._cine = cine
        self._review_dock = review_dock
        self._show_error = show_error
        self._store_path = store_path
        self._store: Any = None
        self._store_lock = threading.Lock()
        self.store_jobs = JobRunner(max_threads=1, parent=self)
        self.exam_dialog: NewExamDialog | None = None
        self.exam_browser: ExamBrowserDialog | None = None
        self.thumbs = ThumbnailStrip()
        self.thumbs.itemChosen.connect(self.show_item)
        self.exam_label = QLabel("No exam")
        self.exam_label.setObjectName("examLabel")

    # ------------------------------------------------------------------ exam store
    def _ensure_store(self) -> Any:
        with self._store_lock:
            if self._store is None:
                from fada_desk.storage import ExamStore

                self._store = ExamStore.open(self._store_path)
            return self._store

    def store_call(self, fn: Callable[[Any], Any], name: str) -> JobHandle:
        """Run ``fn(store)`` on the serial store runner (opens the store on first use)."""
        def job(token: CancelToken) -> Any:
            return fn(self._ensure_store())

        return self.store_jobs.submit(job, name)

    def finish_jobs(self) -> None:
        """Wait for the pending store jobs: saves must complete, no capture is lost."""
        if not self.store_jobs.shutdown(timeout=30.0, cancel=False):
            log.error("exam store jobs did not finish within 30 s")

    def close_store(self) -> None:
        with self._store_lock:
            if self._store is not None:
                try:
                    self._store.close()
                except Exception:  # noqa: BLE001 - closing must not stop the window closing
                    log.exception("error closing the exam store")
                self._store = None

    # ------------------------------------------------------------------ exams
    def new_exam(self, then: Callable[[Any], None] | None = None) -> NewExamDialog:
        """Ask for a patient and dating; ``then(exam)`` runs once the exam exists."""
        dlg = NewExamDialog(self._window, operator=str(self._settings.value("exam/operator", "")))

        def accepted() -> None:
            req = dlg.request()
            if req is not None:
                self._settings.setValue("exam/operator", req.operator)
                self.create_exam(req, then)

        def rejected() -> None:
            if then is not None:
                self._window.statusBar().showMessage("Not saved: no exam is open.", 6000)

        self.exam_dialog = open_dialog(dlg, accepted, rejected)
        return dlg

    def edit_exam(self) -> NewExamDialog | None:
        """Exam ▸ Edit exam: patient, operator, LMP/EDD, referring, notes of the open exam (audited)."""
        exam = self._state.exam
        if exam is None:
            self._window.statusBar().showMessage("Open an exam first.", 6000)
            return None
        dlg = NewExamDialog(self._window, exam=exam)

        def accepted() -> None:
            req = dlg.request()
            if req is not None:
                self._settings.setValue("exam/operator", req.operator)
                self.save_exam_edit(exam, req)

        self.exam_dialog = open_dialog(dlg, accepted, None)
        return dlg

    def save_exam_edit(self, exam: Any, req: ExamRequest) -> JobHandle:
        """Apply the edit in the store worker, then reopen the exam (its review session takes the
        new operator as reviewer)."""
        from fada_desk.app.exam_edit import ExamChanges, edit_exam

        changes = ExamChanges(name=req.name, dob=req.dob, sex=req.sex, operator=req.operator, lmp=req.lmp,
                              edd=req.edd, referring=req.referring, notes=req.notes)
        h = self.store_call(lambda store: edit_exam(store, exam.id, changes, by=req.operator), "edit-exam")

        def done(updated: Any) -> None:
            if self._state.exam is not None and self._state.exam.id == updated.id:
                self.open_exam(updated.id)
            self.examEdited.emit(updated)

        h.result.connect(done)
        h.error.connect(lambda e: self._show_error("Cannot change the exam", error_text(e)))
        return h

    def create_exam(self, req: ExamRequest, then: Callable[[Any], None] | None = None) -> JobHandle:
        fallback = self._review_dock.operator_fallback

        def fn(store: Any) -> Any:
            store.upsert_patient(req.patient_id, name=req.name, dob=req.dob, sex=req.sex)
            exam = store.create_exam(req.patient_id, lmp=req.lmp, edd=req.edd, operator=req.operator,
                                     referring=req.referring, notes=req.notes)
            return exam, ReviewDock.open_session(store, exam, ReviewDock.reviewer(exam, fallback))

        h = self.store_call(fn, "create-exam")

        def done(res: tuple[Any, Any]) -> None:
            exam, review = res
            self._set_exam(exam, [], review)
            if then is not None:
                then(exam)

        h.result.connect(done)
        h.error.connect(lambda e: self._show_error("Cannot create the exam", error_text(e)))
        return h

    def _set_exam(self, exam: Any, items: list[tuple[Any, Any]], review: Any = None) -> None:
        """Show ``exam``; ``review`` is its review session (or the error opening it), opened in
        the store worker: reading the review document is not for the GUI thread."""
        if self._state.closing:
            if review is not None and not isinstance(review, BaseException):
                review.close()  # nothing edited yet: writes nothing
            return
        self._acquisition.leave_review()
        self._state.exam = exam
        self._review_dock.set_exam(self._store, exam, session=review)
        self.thumbs.clear()
        for item, thumb in items:
            self.thumbs.add(item, thumb)
        pid = getattr(exam, "patient_id", None)
        if pid is None:
            patient = getattr(exam, "patient", None)
            pid = getattr(patient, "patient_id", "")
        label = f"Exam #{getattr(exam, 'id', '?')} · {pid}" if exam is not None else "No exam"
        self.exam_label.setText(label)
        self._state.refresh()
        self._state.exam_changed.emit(exam)

    def open_exam_browser(self) -> ExamBrowserDialog:
        dlg = ExamBrowserDialog(self._search_exams, self._window)

        def accepted() -> None:
            exam_id = dlg.selected_exam_id()
            if exam_id is not None:
                self.open_exam(exam_id)

        self.exam_browser = open_dialog(dlg, accepted)
        return dlg

    def _search_exams(self, text: str, callback: Callable[[list[Any]], None]) -> None:
        h = self.store_call(lambda store: store.list_exams(text), "list-exams")
        h.result.connect(callback)
        h.error.connect(lambda e: self._show_error("Cannot search exams", error_text(e)))

    def open_exam(self, exam_id: int) -> JobHandle:
        """Load an exam, its items, their thumbnails and its review document in the store worker."""
        fallback = self._review_dock.operator_fallback

        def fn(store: Any) -> Any:
            exam = store.get_exam(exam_id)
            out = []
            for item in store.list_items(exam_id):
                try:
                    thumb = make_thumbnail(store.load_frame(item.id, 0).pixels)
                except FadaError as err:  # a damaged item must not hide the others
                    log.warning("thumbnail of item %s: %s", item.id, err)
                    thumb = None
                out.append((item, thumb))
            return exam, out, ReviewDock.open_session(store, exam, ReviewDock.reviewer(exam, fallback))

        h = self.store_call(fn, "open-exam")
        h.result.connect(lambda res: self._set_exam(*res))
        h.error.connect(lambda e: self._show_error("Cannot open the exam", error_text(e)))
        return h

    def _with_exam(self, action: Callable[[Any], None]) -> None:
        if self._state.exam is not None:
            action(self._state.exam)
        else:
            self._window.statusBar().showMessage("Create the exam to store this capture in.", 6000)
            self.new_exam(then=action)

    # ------------------------------------------------------------------ capture
    def capture_still(self) -> bool:
        """Store the frame on screen (frozen or live) in the current exam. False if nothing to store."""
        st = self._state
        frame = st.shown
        p = st.active_pump()
        if frame is None:
            self._window.statusBar().showMessage("Nothing to capture.", 4000)
            return False
        cal = st.active_calibration()
        manual = cal.manual if cal is not None else None
        to_store = replace(frame, calibration=cal) if manual is None else frame
        meta = st.capture_meta(frame, p)
        uri = st.source_uri

        def save(exam: Any) -> None:
            def fn(store: Any) -> Any:
                item = store.add_image(exam.id, to_store, source_uri=uri, meta=meta)
                if manual is not None:
                    item = store.set_calibration(item.id, cal)
                return item, make_thumbnail(to_store.pixels)

            h = self.store_call(fn, "capture-image")
            h.result.connect(lambda res: self._item_saved(*res))
            h.error.connect(lambda e: self._show_error("The image was not saved", error_text(e)))

        self._with_exam(save)
        return True

    def save_clip(self) -> bool:
        """Store the marked cine range (or the file range for seekable sources) as a clip."""
        st = self._state
        p = st.active_pump()
        if p is None:
            self._window.statusBar().showMessage("Nothing to save.", 4000)
            return False
        lo, hi = self._cine.clip_range()
        uri = st.source_uri
        cal = st.active_calibration()
        manual = cal.manual if cal is not None else None
        meta = st.capture_meta(st.shown, p)
        meta["range"] = [lo, hi]
        if slider_mode(p) == FILE_MODE:
            fps = p.fps
            frames: list[Frame] | None = None
        else:
            try:
                frames = p.cine.export(lo, hi + 1)
            except ValueError:
                self._window.statusBar().showMessage("The cine buffer is empty.", 4000)
                return False
            fps = p.cine.fps() or p.fps

        def save(exam: Any) -> None:
            def job(token: CancelToken) -> Any:
                clip = frames
                if clip is None:
                    yield Progress("Reading frames…")
                    clip = p.read_frames(lo, hi + 1, token)
                yield Progress(f"Saving {len(clip)} frames…")
                if manual is None and cal is not None:
                    clip = [f if f.calibration is not None else replace(f, calibration=cal) for f in clip]
                store = self._ensure_store()
                item = yield from store.add_clip_job(exam.id, clip, fps, source_uri=uri, meta=meta,
                                                     token=token)
                if manual is not None:
                    item = store.set_calibration(item.id, cal)
                return item, make_thumbnail(clip[0].pixels)

            h = self.store_jobs.submit(job, "save-clip")
            h.progress.connect(lambda pr: self._window.statusBar().showMessage(pr.message))
            h.result.connect(lambda res: self._item_saved(*res))
            h.error.connect(lambda e: self._show_error("The clip was not saved", error_text(e)))

        self._with_exam(save)
        return True

    def _item_saved(self, item: Any, thumb: Any) -> None:
        self.thumbs.add(item, thumb)
        kind = getattr(item, "kind", "item")
        self._window.statusBar().showMessage(f"Saved {kind} #{getattr(item, 'id', '?')} in the exam.", 5000)
        self._state.item_saved.emit(item)

    # ------------------------------------------------------------------ review stored items
    def show_item(self, item: Any) -> JobHandle:
        """Load a stored image / clip in the store worker, then review it in the view."""
        def fn(store: Any) -> Any:
            if getattr(item, "kind", "image") == "clip":
                frames = list(store.iter_clip(item.id))
            else:
                frames = [store.load_frame(item.id, 0)]
            return frames

        h = self.store_call(fn, "load-item")
        h.result.connect(lambda frames: self._acquisition.enter_review(item, frames))
        h.error.connect(lambda e: self._show_error("Cannot show the capture", error_text(e)))
        return h
