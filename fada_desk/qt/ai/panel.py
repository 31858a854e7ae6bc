"""The AI panel: run FADA on the still frame, watch it stream, see and keep the results.

Two ways to run (``fada_desk.inference.pipeline``):

* **Run autonomous** — interpret, classify, map, detect, segment (+ keypoints
  on CRL/NT views) in one go;
* **Interpret** — human in the loop: interpret, classify and map first; the
  sonographer then ticks which steps (detect / segment / keypoints) and which
  structures to run, in the "Next step" tab, and runs them (as often as needed).

Everything slow runs on the panel's own :class:`~fada_desk.qt.workers.JobRunner`
(one worker thread: model check, lazy model load, phases); the GUI thread only
receives progress. Cancel stops a run within about a second (the backend polls
the :class:`~fada_desk.core.cancel.CancelToken` between tokens); phases that
finished before are kept, drawn and stored.

Results: each finished phase is drawn at once by the :class:`~.overlay.AIOverlay`
(read-only, FADA class colours). When the frame is a captured item of the
open exam, what finished is stored with
:meth:`~fada_desk.storage.review.ReviewSession.import_analysis` when a run
ends (pending AI annotations + interpretation + the full analysis in the audit
trail); a frozen live frame's result is stored when that frame is captured.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from PySide6.QtCore import QCoreApplication, QSize, Qt, Signal
from PySide6.QtGui import QColor, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QGroupBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from fada_desk.core.annotations import Annotation, FrameRef
from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import FadaError
from fada_desk.inference import constants as C
from fada_desk.inference.pipeline import CRL_KEYPOINT_CLASSES, NT_KEYPOINT_CLASSES, keypoint_classes_for
from fada_desk.inference.results import ERROR, SKIPPED, AnalysisResult, PhaseDone, PhaseResult, TokenChunk
from fada_desk.qt.ai import model_service as M
from fada_desk.qt.ai.host import AIHost, AITarget, NeedsConfirmation, StoredAI
from fada_desk.qt.ai.overlay import AIOverlay, annotations_for
from fada_desk.qt.ai.settings_dialog import AISettingsDialog, load_config, save_config
from fada_desk.qt.util import tracked_timer
from fada_desk.qt.workers import JobHandle, JobRunner, error_text

POLL_MS = 150

# panel states
IDLE, LOADING, RUNNING, CANCELLING, DONE, CANCELLED, FAILED = (
    "idle", "loading", "running", "cancelling", "done", "cancelled", "failed")
# phase row states
P_PENDING, P_RUNNING, P_DONE, P_SKIPPED, P_FAILED, P_CANCELLED, P_NOT_RUN = (
    "pending", "running", "done", "skipped", "failed", "cancelled", "not run")

PHASE_TITLES = {"interpret": "Interpret", "classify": "Classify", "detect": "Detect", "segment": "Segment",
                "keypoints": "Keypoints"}
ANNOTATING = ("detect", "segment", "keypoints")
ROW_COLORS = {P_RUNNING: "#1565c0", P_DONE: "#2e7d32", P_FAILED: "#c62828", P_CANCELLED: "#ef6c00",
              P_SKIPPED: "#757575", P_NOT_RUN: "#757575"}
STEP_CLASSES = tuple(c for c in C.ALL_CLASSES_SORTED if c not in C.KEYPOINT_CLASSES)


@dataclass
class _Run:
    """One analysis of one frame; human-in-the-loop steps continue the same session."""

    target: AITarget
    mode: str
    analysis_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    session: Any = None  # AnalysisSession, set by the worker before the first phase
    stored_upto: int = 0  # phases[:stored_upto] are in the exam (or being stored)
    stored: bool = False
    phase_anns: dict[str, list[Annotation]] = field(default_factory=dict)
    captured: list[Any] = field(default_factory=list)  # items captured while running
    first_phase: int = 0  # phases[first_phase:] belong to the job running now

    @property
    def result(self) -> AnalysisResult | None:
        return self.session.result if self.session is not None else None


def _swatch(cls: str) -> QPixmap:
    r, g, b = C.class_color(cls)
    pm = QPixmap(12, 12)
    pm.fill(QColor(r, g, b))
    return pm


class AIPanel(QWidget):
    """Model status, run/cancel, per-phase progress, streamed text, interpretation, next steps."""

    stateChanged = Signal(str)  # noqa: N815 - Qt naming
    resultReady = Signal(object)  # noqa: N815 - AnalysisResult (complete or what finished)
    storedInExam = Signal(object)  # noqa: N815 - list of stored annotation ids

    def __init__(self, host: AIHost, service: M.ModelService | None = None, settings: Any = None,
                 parent: QWidget | None = None, check: bool = True) -> None:
        super().__init__(parent)
        self.setObjectName("aiPanel")
        self.host = host
        self.settings = settings
        self.service = service if service is not None else M.shared_service()
        if service is None:
            _close_shared_on_quit()
        if settings is not None:
            self.service.configure(load_config(settings))
        self.runner = JobRunner(max_threads=1, parent=self)
        self.overlay = AIOverlay(host.view.viewbox)
        self.state = IDLE
        self.last_message = ""
        self._run: _Run | None = None
        self._job: JobHandle | None = None
        self._check_job: JobHandle | None = None
        self._rows: dict[str, QTreeWidgetItem] = {}
        self._started: dict[str, float] = {}
        self._stream_phase = ""
        self._overlay_target: AITarget | None = None
        self._overlay_stored_frame: FrameRef | None = None
        self._displayed: object = None  # the _Run or the FrameRef of a stored result shown
        self._confirm: QMessageBox | None = None
        self.settings_dialog: AISettingsDialog | None = None
        self._closed = False
        self._build_ui()
        self._timer = tracked_timer(self, POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._timer.start()
        self._refresh_model()
        if check:
            self.check_model()
        self._poll()

    # ------------------------------------------------------------------ UI
    def _build_ui(self) -> None:
        model_box = QGroupBox("Model")
        self.model_label = QLabel("")
        self.model_label.setObjectName("aiModelStatus")
        self.model_label.setWordWrap(True)
        self.model_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.device_label = QLabel("")
        self.device_label.setObjectName("aiDevice")
        self.device_label.setWordWrap(True)
        self.settings_button = QPushButton("Settings…")
        self.settings_button.setObjectName("aiSettings")
        self.settings_button.clicked.connect(self.open_settings)
        self.recheck_button = QPushButton("Check again")
        self.recheck_button.setObjectName("aiRecheck")
        self.recheck_button.clicked.connect(lambda: self.check_model())
        mrow = QHBoxLayout()
        mrow.addWidget(self.device_label, 1)
        mrow.addWidget(self.recheck_button)
        mrow.addWidget(self.settings_button)
        ml = QVBoxLayout(model_box)
        ml.addWidget(self.model_label)
        ml.addLayout(mrow)

        self.target_label = QLabel("")
        self.target_label.setObjectName("aiTarget")
        self.target_label.setWordWrap(True)
        self.autonomous_button = QPushButton("Run autonomous")
        self.autonomous_button.setObjectName("aiRunAutonomous")
        self.autonomous_button.setToolTip("Interpret, classify, then detect and segment what the view shows")
        self.autonomous_button.clicked.connect(lambda: self.run_autonomous())
        self.interpret_button = QPushButton("Interpret")
        self.interpret_button.setObjectName("aiInterpret")
        self.interpret_button.setToolTip("Interpret and classify first; then choose what to detect / segment")
        self.interpret_button.clicked.connect(lambda: self.run_interpret())
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setObjectName("aiCancel")
        self.cancel_button.clicked.connect(self.cancel)
        brow = QHBoxLayout()
        for b in (self.autonomous_button, self.interpret_button, self.cancel_button):
            brow.addWidget(b)

        self.progress = QProgressBar()
        self.progress.setObjectName("aiProgress")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.progress.setTextVisible(False)
        self.state_label = QLabel("")
        self.state_label.setObjectName("aiState")
        self.state_label.setWordWrap(True)

        self.phases = QTreeWidget()
        self.phases.setObjectName("aiPhases")
        self.phases.setHeaderLabels(["Phase", "State", "Time"])
        self.phases.setRootIsDecorated(False)
        self.phases.setUniformRowHeights(True)
        self.phases.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.phases.setMaximumHeight(150)
        self.stream = QPlainTextEdit()
        self.stream.setObjectName("aiStream")
        self.stream.setReadOnly(True)
        self.stream.setPlaceholderText("The model's answer appears here as it is generated.")
        self.stream.setMaximumBlockCount(5000)
        run_tab = QWidget()
        rl = QVBoxLayout(run_tab)
        rl.setContentsMargins(2, 2, 2, 2)
        rl.addWidget(self.phases)
        rl.addWidget(self.stream, 1)

        self.classification_label = QLabel("Classification: –")
        self.classification_label.setObjectName("aiClassification")
        self.mapping_label = QLabel("Mapped classes: –")
        self.mapping_label.setObjectName("aiMapping")
        self.mapping_label.setWordWrap(True)
        self.interp_table = QTableWidget(len(C.INTERPRETATION_FIELDS), 2)
        self.interp_table.setObjectName("aiInterpretation")
        self.interp_table.setHorizontalHeaderLabels(["Field", "AI interpretation"])
        self.interp_table.verticalHeader().setVisible(False)
        self.interp_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.interp_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.interp_table.setWordWrap(True)
        for row, (title, _key) in enumerate(C.INTERPRETATION_FIELDS):
            self.interp_table.setItem(row, 0, QTableWidgetItem(title))
            self.interp_table.setItem(row, 1, QTableWidgetItem("–"))
        self.interp_note = QLabel("AI output: review it before use (Review panel).")
        self.interp_note.setObjectName("aiInterpretationNote")
        self.interp_note.setWordWrap(True)
        interp_tab = QWidget()
        il = QVBoxLayout(interp_tab)
        il.setContentsMargins(2, 2, 2, 2)
        il.addWidget(self.classification_label)
        il.addWidget(self.mapping_label)
        il.addWidget(self.interp_table, 1)
        il.addWidget(self.interp_note)

        self.step_detect = QCheckBox("Detect (boxes)")
        self.step_detect.setObjectName("aiStepDetect")
        self.step_segment = QCheckBox("Segment (outlines)")
        self.step_segment.setObjectName("aiStepSegment")
        self.step_keypoints = QCheckBox("Keypoints")
        self.step_keypoints.setObjectName("aiStepKeypoints")
        self.keypoint_classes = QComboBox()
        self.keypoint_classes.setObjectName("aiKeypointClasses")
        self.keypoint_classes.addItem("CRL end points + scale bar", CRL_KEYPOINT_CLASSES)
        self.keypoint_classes.addItem("NT calipers + scale bar", NT_KEYPOINT_CLASSES)
        self.class_table = QTableWidget(len(STEP_CLASSES), 3)
        self.class_table.setObjectName("aiClasses")
        self.class_table.setHorizontalHeaderLabels(["Structure", "Detect", "Segment"])
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self._fill_class_table(None)
        self.run_selected_button = QPushButton("Run selected steps")
        self.run_selected_button.setObjectName("aiRunSelected")
        self.run_selected_button.clicked.connect(lambda: self.run_selected())
        steps_tab = QWidget()
        sl = QVBoxLayout(steps_tab)
        sl.setContentsMargins(2, 2, 2, 2)
        hint = QLabel("After Interpret: tick the steps and the structures, then run them.")
        hint.setWordWrap(True)
        sl.addWidget(hint)
        srow = QHBoxLayout()
        for w in (self.step_detect, self.step_segment):
            srow.addWidget(w)
        sl.addLayout(srow)
        krow = QHBoxLayout()
        krow.addWidget(self.step_keypoints)
        krow.addWidget(self.keypoint_classes, 1)
        sl.addLayout(krow)
        sl.addWidget(self.class_table, 1)
        sl.addWidget(self.run_selected_button)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("aiTabs")
        self.tabs.addTab(run_tab, "Progress")
        self.tabs.addTab(interp_tab, "Interpretation")
        self.tabs.addTab(steps_tab, "Next step")

        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(model_box)
        lay.addWidget(self.target_label)
        lay.addLayout(brow)
        lay.addWidget(self.progress)
        lay.addWidget(self.state_label)
        lay.addWidget(self.tabs, 1)
        self._update_buttons()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt API
        return QSize(320, 640)  # a side panel: leave the width to the image

    def _fill_class_table(self, mapping: Any) -> None:
        det = {c.strip() for c in (mapping.det_classes if mapping else "").split(",") if c.strip()}
        seg = {c.strip() for c in ((mapping.seg_classes or "") if mapping else "").split(",") if c.strip()}
        ordered = sorted(STEP_CLASSES, key=lambda c: (c not in det and c not in seg, c.lower()))
        self.class_table.setRowCount(len(ordered))
        for row, cls in enumerate(ordered):
            name = QTableWidgetItem(cls)
            name.setIcon(_swatch(cls))
            name.setFlags(Qt.ItemFlag.ItemIsEnabled)
            self.class_table.setItem(row, 0, name)
            for col, chosen in ((1, cls in det), (2, cls in seg)):
                item = QTableWidgetItem("")
                item.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsUserCheckable)
                item.setCheckState(Qt.CheckState.Checked if chosen else Qt.CheckState.Unchecked)
                self.class_table.setItem(row, col, item)
        self.step_detect.setChecked(bool(det))
        self.step_segment.setChecked(bool(seg))
        kp = keypoint_classes_for(mapping.det_classes) if mapping else None
        self.step_keypoints.setChecked(kp is not None)
        self.keypoint_classes.setCurrentIndex(1 if kp == NT_KEYPOINT_CLASSES else 0)

    # ------------------------------------------------------------------ state
    @property
    def running(self) -> bool:
        return self._job is not None

    @property
    def result(self) -> AnalysisResult | None:
        """The current analysis (what finished so far)."""
        return self._run.result if self._run is not None else None

    def _set_state(self, state: str, text: str = "", error: bool = False) -> None:
        self.state = state
        if text:
            self.last_message = text
        self.state_label.setText(text)
        self.state_label.setStyleSheet("color: #c62828;" if error else "")
        self._update_buttons()
        self.stateChanged.emit(state)

    def _message(self, text: str, error: bool = False) -> None:
        self.last_message = text
        self.state_label.setText(text)
        self.state_label.setStyleSheet("color: #c62828;" if error else "")
        self.host.status(text)

    def _update_buttons(self) -> None:
        busy = self._job is not None
        model_bad = self.service.state in (M.MISSING, M.INVALID)
        self.autonomous_button.setEnabled(not busy and not model_bad)
        self.interpret_button.setEnabled(not busy and not model_bad)
        session = self._run.session if self._run is not None else None
        can_step = (not busy and session is not None and session.result.phase("interpret") is not None)
        self.run_selected_button.setEnabled(can_step)
        self.cancel_button.setEnabled(busy and self.state != CANCELLING)
        self.settings_button.setEnabled(not busy)
        self.recheck_button.setEnabled(not busy and self.service.state not in (M.LOADED, M.LOADING))

    def _refresh_model(self) -> None:
        svc = self.service
        self.model_label.setText(svc.message)
        bad = svc.state in (M.MISSING, M.INVALID, M.FAILED)
        self.model_label.setStyleSheet("color: #c62828;" if bad else "")
        self.device_label.setText(svc.device_text())
        self._update_buttons()

    # ------------------------------------------------------------------ model
    def check_model(self) -> JobHandle | None:
        """Locate and verify the model files in the worker (no load)."""
        if self._check_job is not None or self._closed:
            return self._check_job
        h = self.runner.submit(self.service.check, "ai-check-model")
        self._check_job = h
        h.finished.connect(self._check_finished)
        self._refresh_model()
        return h

    def _check_finished(self) -> None:
        self._check_job = None
        self._refresh_model()

    def open_settings(self) -> AISettingsDialog | None:
        if self.running:
            return None
        dlg = AISettingsDialog(self.service.config, self)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        dlg.accepted.connect(lambda: self.apply_config(dlg.config()))
        dlg.open()
        self.settings_dialog = dlg
        return dlg

    def apply_config(self, config: M.ModelConfig) -> JobHandle | None:
        """Use other model files / device options: closes a loaded model, then checks again.

        Freeing a loaded model (gigabytes, maybe GPU memory) is not for the GUI thread: it
        runs on the AI worker, before any run queued after it. None when nothing changes.
        """
        if self.running or self._closed:
            return None
        if self.settings is not None:
            save_config(self.settings, config)
        if config == self.service.config:
            return None
        if self._run is not None:
            self._run.session = None  # its pipeline belongs to the model being closed
        service = self.service
        h = self.runner.submit(lambda _token: service.configure(config), "ai-configure", cancellable=False)
        h.result.connect(self._configured)
        h.error.connect(self._configure_failed)
        self._refresh_model()
        return h

    def _configured(self, changed: object) -> None:
        if changed and not self._closed:
            self.check_model()
        self._refresh_model()

    def _configure_failed(self, err: object) -> None:
        text = error_text(err) if isinstance(err, BaseException) else "unknown error"
        self._message(f"Cannot switch the model: {text}", error=True)
        self._refresh_model()

    # ------------------------------------------------------------------ runs
    def run_autonomous(self) -> JobHandle | None:
        return self._start("autonomous")

    def run_interpret(self) -> JobHandle | None:
        return self._start("interpret")

    def _target(self) -> AITarget | None:
        try:
            return self.host.current_target()
        except FadaError as err:
            self._message(str(err), error=True)
            return None

    def _start(self, mode: str) -> JobHandle | None:
        if self._closed:
            return None
        if self.running:
            self._message("The AI is already running (Cancel stops it).")
            return None
        if self.service.state in (M.MISSING, M.INVALID):
            self._refresh_model()
            self._set_state(FAILED, self.service.message, error=True)
            return None
        target = self._target()
        if target is None:
            return None
        run = _Run(target, mode)
        self._run = run
        self._reset_outputs()
        self._displayed = run
        plan = ["interpret", "classify"] + (["detect", "segment"] if mode == "autonomous" else [])
        self._plan_rows(plan, reset=True)
        service = self.service

        def job(token: CancelToken) -> Any:
            pipeline = yield from service.ensure_loaded(token)
            session = pipeline.start(target.frame, source=target.source, frame_index=target.frame_index,
                                     mode=mode)
            run.session = session
            if mode == "autonomous":
                return (yield from session.run_autonomous(token))
            return (yield from session.run_interpret_first(token))

        return self._submit(job, run, "ai-" + mode)

    def selected_steps(self) -> list[tuple[str, str]]:
        """(phase, classes) the "Next step" tab asks for, in run order. Raises FadaError if incomplete."""
        steps: list[tuple[str, str]] = []
        for phase, box, col in (("detect", self.step_detect, 1), ("segment", self.step_segment, 2)):
            if not box.isChecked():
                continue
            classes = [self.class_table.item(r, 0).text() for r in range(self.class_table.rowCount())
                       if self.class_table.item(r, col).checkState() == Qt.CheckState.Checked]
            if not classes:
                raise FadaError(f"Tick at least one structure to {phase} (column '{PHASE_TITLES[phase]}').")
            steps.append((phase, ", ".join(classes)))
        if self.step_keypoints.isChecked():
            steps.append(("keypoints", str(self.keypoint_classes.currentData())))
        if not steps:
            raise FadaError("Tick a step to run: Detect, Segment or Keypoints.")
        return steps

    def set_step_classes(self, phase: str, classes: list[str]) -> None:
        """Tick exactly ``classes`` for ``phase`` ("detect" / "segment") and tick the step."""
        col = 1 if phase == "detect" else 2
        wanted = set(classes)
        for r in range(self.class_table.rowCount()):
            cls = self.class_table.item(r, 0).text()
            self.class_table.item(r, col).setCheckState(
                Qt.CheckState.Checked if cls in wanted else Qt.CheckState.Unchecked)
        (self.step_detect if phase == "detect" else self.step_segment).setChecked(bool(wanted))

    def run_selected(self) -> JobHandle | None:
        """Human in the loop: run the ticked steps on the interpreted frame."""
        if self._closed or self.running:
            return None
        run = self._run
        session = run.session if run is not None else None
        if run is None or session is None or session.result.phase("interpret") is None:
            self._message("Run Interpret on the frame first.", error=True)
            return None
        if not self.host.shows(run.target):
            self._message("The image changed since Interpret: run Interpret on this frame.", error=True)
            return None
        try:
            steps = self.selected_steps()
        except FadaError as err:
            self._message(str(err), error=True)
            return None
        self._plan_rows([p for p, _ in steps], reset=False)
        self.tabs.setCurrentIndex(0)
        service = self.service

        def job(token: CancelToken) -> Any:
            yield from service.ensure_loaded(token)
            for phase, classes in steps:
                if phase == "detect":
                    yield from session.detect(classes, token)
                elif phase == "segment":
                    yield from session.segment(classes, token)
                else:
                    yield from session.keypoints(classes, token)
            return session.result

        return self._submit(job, run, "ai-steps")

    def _submit(self, job: Any, run: _Run, name: str) -> JobHandle:
        run.first_phase = len(run.result.phases) if run.result is not None else 0
        self._set_state(LOADING if not self.service.loaded else RUNNING,
                        "Loading the model…" if not self.service.loaded else "Running…")
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        h = self.runner.submit(job, name)
        self._job = h
        h.progress.connect(lambda p, r=run: self._on_progress(r, p))
        h.result.connect(lambda res, r=run: self._on_result(r, res))
        h.cancelled.connect(lambda r=run: self._on_cancelled(r))
        h.error.connect(lambda err, r=run: self._on_error(r, err))
        h.finished.connect(self._on_finished)
        self._update_buttons()
        return h

    def cancel(self) -> None:
        """Stop the running analysis (finished phases are kept)."""
        if self._job is None:
            return
        self._job.cancel()
        self._set_state(CANCELLING, "Cancelling…")

    # ------------------------------------------------------------------ progress
    def _reset_outputs(self) -> None:
        self.overlay.clear()
        self._overlay_target = None
        self._overlay_stored_frame = None
        self.stream.clear()
        self._stream_phase = ""
        self.phases.clear()
        self._rows.clear()
        self._started.clear()
        self.classification_label.setText("Classification: –")
        self.mapping_label.setText("Mapped classes: –")
        for row in range(self.interp_table.rowCount()):
            self.interp_table.item(row, 1).setText("–")
            self.interp_table.item(row, 1).setToolTip("")
        self.interp_note.setText("AI output: review it before use (Review panel).")

    def _row(self, phase: str) -> QTreeWidgetItem:
        row = self._rows.get(phase)
        if row is None:
            row = QTreeWidgetItem([PHASE_TITLES.get(phase, phase), P_PENDING, ""])
            self.phases.addTopLevelItem(row)
            self._rows[phase] = row
        return row

    def _plan_rows(self, phases: list[str], reset: bool) -> None:
        if reset:
            self.phases.clear()
            self._rows.clear()
        for phase in phases:
            self._set_row(phase, P_PENDING, "")

    def _set_row(self, phase: str, state: str, time_text: str | None = None, tip: str = "") -> None:
        row = self._row(phase)
        row.setText(1, state)
        if time_text is not None:
            row.setText(2, time_text)
        row.setToolTip(1, tip)
        color = ROW_COLORS.get(state)
        row.setForeground(1, QColor(color) if color else self.palette().text().color())

    def phase_state(self, phase: str) -> str:
        """The state shown for ``phase`` ("" if it has no row)."""
        row = self._rows.get(phase)
        return row.text(1) if row is not None else ""

    def phase_rows(self) -> list[tuple[str, str, str]]:
        """(phase, state, time) for every row, in order (tests, screenshots)."""
        out = []
        for i in range(self.phases.topLevelItemCount()):
            it = self.phases.topLevelItem(i)
            phase = next((k for k, v in self._rows.items() if v is it), it.text(0))
            out.append((phase, it.text(1), it.text(2)))
        return out

    def _on_progress(self, run: _Run, p: Progress) -> None:
        if run is not self._run:
            return
        payload = p.payload
        if isinstance(payload, TokenChunk):
            if self.state in (LOADING, IDLE):
                self._set_state(RUNNING, "Running…")
                self._refresh_model()
            if self.phase_state(payload.phase) != P_RUNNING:
                self._started[payload.phase] = time.monotonic()
                self._set_row(payload.phase, P_RUNNING, "")
            if payload.text:
                self._append_stream(payload.phase, payload.text)
            elif p.message == "loading the model":
                self._set_state(LOADING, "Loading the model…")
        elif isinstance(payload, PhaseDone):
            self._phase_done(run, payload.result)
        else:
            self.state_label.setText(p.message)
            self._refresh_model()
        if p.fraction is not None:
            self.progress.setRange(0, 1000)
            self.progress.setValue(int(round(1000 * p.fraction)))
        self._show_mapping(run)

    def _append_stream(self, phase: str, text: str) -> None:
        cursor = self.stream.textCursor()
        cursor.movePosition(cursor.MoveOperation.End)
        if phase != self._stream_phase:
            head = f"── {PHASE_TITLES.get(phase, phase)} ──\n"
            cursor.insertText(("\n" if self._stream_phase else "") + head)
            self._stream_phase = phase
        cursor.insertText(text)
        self.stream.setTextCursor(cursor)
        self.stream.ensureCursorVisible()

    def stream_text(self) -> str:
        return self.stream.toPlainText()

    def _phase_done(self, run: _Run, res: PhaseResult) -> None:
        secs = "cached" if res.cached else f"{res.seconds:.1f} s"
        if res.status == ERROR:
            self._set_row(res.phase, P_FAILED, secs, res.error)
        elif res.status == SKIPPED:
            self._set_row(res.phase, P_SKIPPED, "", res.error)
        else:
            tip = "; ".join([*res.parse_errors, *res.notes])
            self._set_row(res.phase, P_DONE + (" (warnings)" if res.parse_errors else ""), secs, tip)
        if res.phase == "interpret":
            self._show_interpretation(res.interpretation, res.cleaned_text or res.raw_text, res.parse_ok)
        elif res.phase == "classify":
            self.classification_label.setText(f"Classification: {res.label or 'Unknown'}")
        elif res.phase in ANNOTATING and res.status not in (ERROR, SKIPPED):
            try:
                anns = annotations_for({"phases": [res.to_dict()]}, analysis_id=run.analysis_id)
            except FadaError as err:
                self._message(f"Cannot draw the {res.phase} result: {err}", error=True)
                anns = []
            run.phase_anns[res.phase] = anns
            self.overlay.set_annotations([a for ph in ANNOTATING for a in run.phase_anns.get(ph, [])])
            self._overlay_target = run.target
            self._overlay_stored_frame = None
            self._update_overlay_visibility()

    def _show_interpretation(self, interp: dict[str, Any] | None, raw: str, parsed: bool) -> None:
        from fada_desk.inference.parsing import format_interpretation

        if interp is None:
            for row in range(self.interp_table.rowCount()):
                self.interp_table.item(row, 1).setText("–")
            self.interp_note.setText("The interpretation could not be parsed; the raw answer is in the "
                                     "Progress tab.")
            return
        for row, (_title, text) in enumerate(format_interpretation(interp)):
            item = self.interp_table.item(row, 1)
            item.setText(text)
            item.setToolTip(text)
        self.interp_table.resizeRowsToContents()
        self.interp_note.setText("AI output: review it before use (Review panel)."
                                 + ("" if parsed else " Some fields could not be read."))

    def interpretation_values(self) -> dict[str, str]:
        """Field title -> text shown (tests)."""
        return {self.interp_table.item(r, 0).text(): self.interp_table.item(r, 1).text()
                for r in range(self.interp_table.rowCount())}

    def _show_mapping(self, run: _Run) -> None:
        result = run.result
        mapping = result.mapping if result is not None else None
        if mapping is None:
            return
        text = (f"Mapped classes: detect {mapping.det_classes or '–'}; segment {mapping.seg_classes or '–'} "
                f"(tier {mapping.tier}, priority {mapping.priority})")
        if self.mapping_label.text() != text:
            self.mapping_label.setText(text)
            self._fill_class_table(mapping)

    # ------------------------------------------------------------------ outcomes
    def _finish_rows(self, state: str) -> None:
        for phase, row in self._rows.items():
            if row.text(1) == P_RUNNING:
                started = self._started.get(phase)
                secs = f"{time.monotonic() - started:.1f} s" if started else ""
                self._set_row(phase, state, secs)
            elif row.text(1) == P_PENDING:
                self._set_row(phase, P_NOT_RUN, "")

    def _on_result(self, run: _Run, res: AnalysisResult) -> None:
        self._finish_rows(P_NOT_RUN)
        self.progress.setRange(0, 1000)
        self.progress.setValue(1000)
        self._show_mapping(run)
        errors = res.errors
        total = sum(p.seconds for p in res.phases[run.first_phase:])
        if errors:
            self._set_state(DONE, "Finished with errors: " + "; ".join(errors), error=True)
        else:
            self._set_state(DONE, f"Done in {total:.1f} s. AI output is pending review.")
        if run.mode == "interpret" and res.phase("detect") is None:
            self.tabs.setCurrentIndex(2)
        self._after_run(run)
        self.resultReady.emit(res)

    def _on_cancelled(self, run: _Run) -> None:
        self._finish_rows(P_CANCELLED)
        kept = len(run.result.phases) if run.result is not None else 0
        self._set_state(CANCELLED, f"Cancelled; {kept} finished phase(s) kept." if kept else "Cancelled.")
        self._after_run(run)
        if run.result is not None and run.result.phases:
            self.resultReady.emit(run.result)

    def _on_error(self, run: _Run, err: BaseException) -> None:
        self._finish_rows(P_FAILED)
        self._refresh_model()
        self._set_state(FAILED, error_text(err), error=True)
        self.host.status(f"AI: {error_text(err)}", 10000)
        self._after_run(run)

    def _on_finished(self) -> None:
        self._job = None
        self._refresh_model()
        self._update_buttons()

    def _after_run(self, run: _Run) -> None:
        if self._closed:
            return
        self._job = None
        self._store_increment(run)
        captured, run.captured = run.captured, []
        for item in captured:
            self.item_captured(item)

    # ------------------------------------------------------------------ storing
    def _store_increment(self, run: _Run, replace_reviewed: bool = False) -> bool:
        """Store the phases that finished since the last store (captured frames only)."""
        result = run.result
        if result is None or run.target.frame_ref is None:
            return False
        start = run.stored_upto
        new = result.phases[start:]
        if not new:
            return False
        doc = result.to_dict()
        doc["phases"] = doc["phases"][start:]
        if not any(p.phase in ("interpret", "classify") for p in new):
            doc["mapping"] = None  # a later step adds annotations; the interpretation stays as reviewed
            doc["classification"] = None
        run.stored_upto = len(result.phases)
        return self._store(run, doc, start, replace_reviewed)

    def _store(self, run: _Run, doc: dict[str, Any], start: int, replace_reviewed: bool) -> bool:
        def done(ids: Any) -> None:
            run.stored = True
            n = len(ids) if isinstance(ids, list) else 0
            text = (f"AI result stored with capture #{run.target.item_id}"
                    + (f": {n} annotation(s) pending review." if n else "."))
            self.host.status(text)
            if not self._closed:
                self.state_label.setText(self.state_label.text() + " Stored in the exam.")
                self._update_overlay_visibility()
            self.storedInExam.emit(ids)

        def failed(err: BaseException) -> None:
            if isinstance(err, NeedsConfirmation) and not self._closed:
                self._ask_replace(run, doc, start, str(err))
                return
            run.stored_upto = min(run.stored_upto, start)  # stored again with the next result
            self._message(f"The AI result was not stored: {error_text(err)}", error=True)

        try:
            ok = self.host.store_analysis(run.target, doc, run.analysis_id, replace_reviewed, done, failed)
        except RuntimeError:  # the window's store worker already shut down (closing)
            run.stored_upto = min(run.stored_upto, start)
            return False
        if not ok:
            run.stored_upto = min(run.stored_upto, start)
        return ok

    def _ask_replace(self, run: _Run, doc: dict[str, Any], start: int, text: str) -> None:
        box = QMessageBox(QMessageBox.Icon.Question, "Replace the reviewed interpretation?", text,
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setObjectName("aiReplaceQuestion")
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)

        def answered(button: Any) -> None:
            if box.standardButton(button) == QMessageBox.StandardButton.Yes:
                self._store(run, doc, start, True)
            else:
                self._message("The new AI interpretation was not stored (the reviewed one is kept).")

        box.buttonClicked.connect(answered)
        box.open()
        self._confirm = box

    def item_captured(self, item: Any) -> None:
        """A frame was captured into the exam: if it is the analysed frame, store the analysis with it."""
        run = self._run
        if self._closed or run is None or run.target.item_id is not None or run.result is None:
            return
        if self.running:
            run.captured.append(item)  # decided when the run ends
            return
        sha = run.result.image.get("sha256", "")

        def matched(target: AITarget | None) -> None:
            if target is None or run.target.item_id is not None:
                return
            run.target = replace(target, frame=run.target.frame, description=target.description)
            self._overlay_target = run.target if self._overlay_target is not None else None
            run.stored_upto = 0
            self._store_increment(run)

        self.host.match_capture(item, sha, matched)

    # ------------------------------------------------------------------ overlay & stored results
    def _update_overlay_visibility(self) -> None:
        target = self._overlay_target
        if target is None:
            self.overlay.set_visible(False)
            return
        visible = self.host.shows(target)
        ref = target.frame_ref
        stored = self._overlay_stored_frame is not None or (self._run is not None and self._run.stored
                                                             and self._run.target is target)
        if visible and ref is not None and stored and self.host.editor_shows(ref):
            visible = False  # the review editor draws the same annotations, editable
        self.overlay.set_visible(visible)

    def _poll(self) -> None:
        if self._closed:
            return
        self._update_overlay_visibility()
        for phase, started in self._started.items():
            row = self._rows.get(phase)
            if row is not None and row.text(1) == P_RUNNING:
                row.setText(2, f"{time.monotonic() - started:.0f} s")
        if self.model_label.text() != self.service.message:  # e.g. another window loaded the model
            self._refresh_model()
        try:
            target: AITarget | None = self.host.current_target()
            self.target_label.setText(f"Analyses: {target.description}" if target else "")
        except FadaError as err:
            target = None
            self.target_label.setText(str(err))
        self._maybe_show_stored(target)

    def _maybe_show_stored(self, target: AITarget | None) -> None:
        """Show what belongs to the frame on screen: the current run's result when its frame is
        back, else (reviewing a capture) the AI result stored with it, read once per frame."""
        if self.running:
            return
        run = self._run
        if run is not None and self.host.shows(run.target):
            if self._displayed is not run:
                self._display_run(run)
            return
        ref = target.frame_ref if target is not None else None
        if ref is None:
            if isinstance(self._displayed, FrameRef):
                self._displayed = None  # read again when the capture is shown again (it may be edited)
            return
        if ref == self._displayed:
            return
        self._displayed = ref
        self.host.load_stored(ref, lambda stored, t=target: self._show_stored(t, stored),
                              lambda err: self._message(f"Cannot read the stored AI result: {error_text(err)}",
                                                        error=True))

    def _display_run(self, run: _Run) -> None:
        """Show a run's results again (its frame is back on screen)."""
        self._reset_outputs()
        self._displayed = run
        result = run.result
        if result is None:
            return
        for phase in result.phases:
            self._append_stream(phase.phase, phase.raw_text)
            self._phase_done(run, phase)
        self._show_mapping(run)
        self._overlay_target = run.target
        self._update_overlay_visibility()

    def _show_stored(self, target: AITarget, stored: StoredAI) -> None:
        if self._closed or self.running or self._displayed != stored.frame:
            return
        self._reset_outputs()
        self._displayed = stored.frame
        if not stored.annotations and stored.interpretation is None:
            self._set_state(IDLE, "")
            return
        self.overlay.set_annotations(stored.annotations)
        self._overlay_target = target
        self._overlay_stored_frame = stored.frame
        interp = stored.interpretation
        if interp is not None:
            fields = {k: v.value for k, v in interp.values.items()}
            self._show_interpretation({k: fields.get(k) if fields.get(k) is not None else "N/A"
                                       for k in C.INTERPRETATION_KEYS}, interp.raw_text, interp.parse_success)
            label = fields.get("classification")
            self.classification_label.setText(f"Classification: {label or 'Unknown'}")
            self.mapping_label.setText(
                f"Mapped classes: detect {fields.get('det_classes') or '–'}; "
                f"segment {fields.get('seg_classes') or '–'} (tier {interp.mapping_tier or '–'})")
        pending = sum(1 for a in stored.annotations if a.status.value == "pending")
        self._set_state(IDLE, f"Stored AI result of capture #{stored.frame.item_id}: "
                              f"{len(stored.annotations)} annotation(s), {pending} pending review.")
        self._update_overlay_visibility()

    # ------------------------------------------------------------------ shutdown
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop the poll timer, cancel a run (finished phases are stored), wait for the worker."""
        if self._closed:
            return
        self._timer.stop()
        if self._job is not None:
            self._job.cancel()
        self.runner.shutdown(timeout=timeout, cancel=True)
        run = self._run
        if run is not None:
            self._store_increment(run)  # the window's store worker is still running
        self._closed = True
        if self._confirm is not None:
            try:
                self._confirm.close()
            except RuntimeError:
                pass


_QUIT_HOOKED = False


def _close_shared_on_quit() -> None:
    """Free the process's model when the application quits (once)."""
    global _QUIT_HOOKED
    app = QCoreApplication.instance()
    if _QUIT_HOOKED or app is None:
        return
    app.aboutToQuit.connect(M.reset_shared_service)
    _QUIT_HOOKED = True
