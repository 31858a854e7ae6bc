"""The AI panel on a LiveView with a scripted backend: runs, overlays, cancel, model status, steps."""

from __future__ import annotations

from typing import Any

import pytest
from app.fakes import BRAIN, GatedBackend, corpus, dark_frame, fake_service
from helpers_ai import class_pixels
from inference.fakes import FakeBackend
from PySide6.QtCore import QTimer
from PySide6.QtCore import Qt

from fada_desk.inference.fada import constants as C
from fada_desk.inference.fada.results import AnalysisResult
from fada_desk.app import model_service as M
from fada_desk.app.model_service import ModelState
from fada_desk.app.analysis import RunState
from fada_desk.qt.ai.model_box import close_shared_on_quit

pytestmark = pytest.mark.gui

FIELDS = [title for title, _ in C.INTERPRETATION_FIELDS]


def test_autonomous_run_shows_phases_text_interpretation_and_draws_in_palette(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    backend = FakeBackend(answers=dict(BRAIN))
    panel, view, _host = make_panel(backend)
    wait_for(lambda: "scripted model: ready" in panel.model_label.text())
    before = view.grab_image()
    assert class_pixels(before, "Brain") == 0 and class_pixels(before, "CSP") == 0

    with qtbot.waitSignal(panel.resultReady, timeout=20000) as got:
        qtbot.mouseClick(panel.autonomous_button, Qt.MouseButton.LeftButton)
    result: AnalysisResult = got.args[0]
    assert backend.phases() == ["interpret", "classify", "detect", "segment"]
    assert panel.state == RunState.DONE and "pending review" in panel.state_label.text()
    rows = panel.phase_rows()
    assert [(r[0], r[1]) for r in rows] == [("interpret", "done"), ("classify", "done"), ("detect", "done"),
                                            ("segment", "done")]
    assert all(r[2].endswith(" s") for r in rows)
    # streamed text: every phase's answer, under a header per phase
    text = panel.stream_text()
    assert "── Interpret ──" in text and "── Segment ──" in text
    assert '"label": "CSP"' in text and BRAIN["classify"].strip()[:20] in text
    # the 8 fields, the view label and the mapping with its tier
    values = panel.interpretation_values()
    assert list(values) == FIELDS and all(v not in ("", "–") for v in values.values())
    assert values["Imaging Plane"] == str(result.interpretation["imaging_plane"])
    assert panel.classification_label.text() == "Classification: BPD_PLANE"
    assert "tier cls_specific_BPD_PLANE" in panel.mapping_label.text()
    assert "detect Brain (whole structure), Cavum Septum Pellucidum (CSP), Lateral Ventricle (LV)" in panel.mapping_label.text()
    assert panel.model_label.text() == "scripted model: loaded"
    assert "Device: CPU, 2 threads, n_gpu_layers=0" in panel.device_label.text()
    # overlays: 3 boxes + 1 polygon, in the FADA class colours, on the image
    assert sorted(panel.overlay.labels()) == ["Brain", "Brain", "CSP", "LV"]
    assert panel.overlay.visible
    qtbot.wait(50)
    after = view.grab_image()
    for cls in ("Brain", "CSP", "LV"):
        assert class_pixels(after, cls) > 40, cls
    # no exam behind a bare view: nothing stored, nothing lost (the result stays in the panel)
    assert panel.result is result


def test_overlay_hides_when_the_frame_changes_and_returns_with_it(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    panel, view, _host = make_panel()
    first = view.frame
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_autonomous()
    assert panel.overlay.visible
    view.show_frame(dark_frame(400, 300))  # a new frame (unfrozen / scrubbed)
    wait_for(lambda: not panel.overlay.visible)
    assert class_pixels(view.grab_image(), "CSP") == 0
    view.show_frame(first)
    wait_for(lambda: panel.overlay.visible)


def test_cancel_mid_stream_keeps_finished_phases_and_the_panel_usable(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    backend = GatedBackend(answers=dict(BRAIN), chunk=3, hold_phase="classify")
    panel, _view, _host = make_panel(backend)
    panel.run_autonomous()
    wait_for(backend.streaming.is_set)  # interpret finished, classify holds mid-answer
    wait_for(lambda: panel.phase_state("classify") == "running")
    assert panel.running and panel.cancel_button.isEnabled()
    with qtbot.waitSignal(panel.stateChanged, timeout=10000,
                          check_params_cb=lambda s: s == RunState.CANCELLED):
        qtbot.mouseClick(panel.cancel_button, Qt.MouseButton.LeftButton)
    assert panel.phase_rows()[:4] == [("interpret", "done", panel.phase_rows()[0][2]),
                                      ("classify", "cancelled", panel.phase_rows()[1][2]),
                                      ("detect", "not run", ""), ("segment", "not run", "")]
    assert "1 finished phase(s) kept" in panel.state_label.text()
    assert panel.result is not None and [p.phase for p in panel.result.phases] == ["interpret"]
    assert panel.interpretation_values()["Imaging Plane"] not in ("", "–")
    assert not panel.running and panel.autonomous_button.isEnabled() and not panel.cancel_button.isEnabled()
    # the model stays loaded; a new run works
    backend.gate.set()
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_autonomous()
    assert panel.state == RunState.DONE and backend.load_calls == 1


def test_gui_stays_responsive_while_the_model_streams(qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    backend = GatedBackend(answers=dict(BRAIN))
    panel, _view, _host = make_panel(backend)
    ticks: list[int] = []
    timer = QTimer()
    timer.setInterval(10)
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start()
    try:
        panel.run_autonomous()
        wait_for(backend.streaming.is_set)  # the worker holds the model mid-answer
        seen = len(ticks)
        wait_for(lambda: len(ticks) >= seen + 5)  # the event loop keeps running
        assert panel.running
        bar = panel.tabs.tabBar()  # the user can click meanwhile: switch tab, tick a box
        steps = panel.tabs.indexOf(panel.steps)  # the "Next step" tab
        qtbot.mouseClick(bar, Qt.MouseButton.LeftButton, pos=bar.tabRect(steps).center())
        assert panel.tabs.currentIndex() == steps
        was = panel.step_segment.isChecked()
        qtbot.mouseClick(panel.step_segment, Qt.MouseButton.LeftButton)
        assert panel.step_segment.isChecked() != was
        assert panel.running and panel.phase_state("interpret") == "running"
        assert panel.stream_text()  # text arrived before the answer was complete
    finally:
        timer.stop()
    backend.gate.set()
    wait_for(lambda: panel.state == RunState.DONE)


def test_missing_model_gives_a_clear_message(qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    panel, _view, _host = make_panel(service=M.ModelService())  # the isolated user dir has no model
    wait_for(lambda: "fada-desk models install" in panel.model_label.text())
    assert panel.service.state == ModelState.MISSING
    text = panel.model_label.text()
    assert "No FADA model is installed" in text and "fada-desk models install PATH" in text
    assert not panel.autonomous_button.isEnabled() and not panel.interpret_button.isEnabled()
    assert panel.run_autonomous() is None
    assert panel.state == RunState.FAILED and "fada-desk models install" in panel.state_label.text()


def test_damaged_model_folder_is_reported_and_settings_switch_folders(
        qtbot: Any, make_panel: Any, wait_for: Any, tmp_path: Any) -> None:
    bad = tmp_path / "model"
    bad.mkdir()
    (bad / "model.gguf").write_bytes(b"not a gguf file at all")
    panel, _view, _host = make_panel(service=M.ModelService(M.ModelConfig(str(bad))))
    wait_for(lambda: "fada-desk models install" in panel.model_label.text())
    assert panel.service.state == ModelState.INVALID
    assert "model.gguf" in panel.model_label.text() and "fada-desk models install" in panel.model_label.text()
    dlg = panel.open_settings()
    assert dlg is not None and dlg.folder.text() == str(bad)
    dlg.folder.setText(str(tmp_path / "nowhere"))
    dlg.gpu_auto.setChecked(False)
    dlg.gpu_layers.setValue(0)
    dlg.accept()
    wait_for(lambda: "not found" in panel.model_label.text())
    assert panel.service.state == ModelState.MISSING
    assert panel.service.config == M.ModelConfig(str(tmp_path / "nowhere"), 0, None)
    assert "not found" in panel.model_label.text()
    assert "CPU only" in panel.device_label.text()


def test_a_model_that_fails_to_load_fails_the_run_with_its_message(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    from fada_desk.core.errors import ModelError

    class Broken(FakeBackend):
        def load(self, progress: Any = None) -> None:
            raise ModelError("llama.cpp could not load model.gguf (out of memory)")

    panel, _view, _host = make_panel(Broken())
    with qtbot.waitSignal(panel.stateChanged, timeout=10000, check_params_cb=lambda s: s == RunState.FAILED):
        panel.run_autonomous()
    assert "out of memory" in panel.state_label.text()
    assert panel.service.state == ModelState.FAILED and "could not be loaded" in panel.model_label.text()
    assert [r[1] for r in panel.phase_rows()] == ["not run"] * 4  # it failed before any phase
    assert not panel.running and panel.autonomous_button.isEnabled()


def test_human_in_the_loop_interpret_then_chosen_steps(qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    backend = FakeBackend(answers=dict(BRAIN))
    panel, view, _host = make_panel(backend)
    assert not panel.run_selected_button.isEnabled()
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        qtbot.mouseClick(panel.interpret_button, Qt.MouseButton.LeftButton)
    assert backend.phases() == ["interpret", "classify"]
    assert [(r[0], r[1]) for r in panel.phase_rows()] == [("interpret", "done"), ("classify", "done")]
    assert panel.tabs.currentWidget() is panel.steps and panel.run_selected_button.isEnabled()
    assert not panel.overlay.labels()
    # the mapping pre-ticks its classes: detect Brain, CSP, LV; segment Brain
    assert panel.selected_steps() == [("detect", "Brain, CSP, LV"), ("segment", "Brain")]
    # the sonographer keeps only the brain box, no segmentation
    panel.set_step_classes("detect", ["Brain"])
    qtbot.mouseClick(panel.step_segment, Qt.MouseButton.LeftButton)
    assert panel.selected_steps() == [("detect", "Brain")]
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        qtbot.mouseClick(panel.run_selected_button, Qt.MouseButton.LeftButton)
    assert backend.phases()[-1] == "detect"
    assert backend.requests[-1].prompt == C.build_detect_prompt("Brain")
    assert panel.phase_state("detect") == "done" and panel.phase_state("segment") == ""
    assert sorted(panel.overlay.labels()) == ["Brain", "CSP", "LV"]  # what the (scripted) model answered
    # then keypoints for a CRL view, as a second step on the same session
    panel.step_detect.setChecked(False)
    panel.step_keypoints.setChecked(True)
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_selected()
    assert backend.requests[-1].prompt == C.build_keypoint_prompt("CRL_KP, ScaleBarKpoints")
    assert "CRL_KP" in panel.overlay.labels() and "Brain" in panel.overlay.labels()
    assert [p.phase for p in panel.result.phases] == ["interpret", "classify", "detect", "keypoints"]
    qtbot.wait(50)
    assert class_pixels(view.grab_image(), "CRL_KP") > 10
    # nothing ticked: a clear message, no run
    panel.step_keypoints.setChecked(False)
    assert panel.run_selected() is None and "Tick a step" in panel.state_label.text()


def test_steps_refuse_when_the_image_changed(qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    panel, view, _host = make_panel()
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_interpret()
    view.show_frame(dark_frame(320, 240))
    assert panel.run_selected() is None
    assert "image changed" in panel.state_label.text()


def test_unparseable_interpretation_is_shown_raw_not_crashing(qtbot: Any, make_panel: Any) -> None:
    answers = dict(BRAIN, interpret=corpus("13_interpret_no_json.txt"))
    panel, _view, _host = make_panel(FakeBackend(answers=answers))
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_interpret()
    assert panel.phase_state("interpret").startswith("done")
    assert "could not be parsed" in panel.interp_note.text()
    assert panel.stream_text().strip()


def test_the_process_model_is_closed_when_the_application_quits(qtbot: Any) -> None:
    from PySide6.QtWidgets import QApplication

    from fada_desk.core.cancel import CancelToken
    from fada_desk.core.cancel import drive

    backend = FakeBackend(answers=dict(BRAIN))
    M._SHARED = fake_service(backend)
    close_shared_on_quit()  # what every panel on the shared service does (once)
    drive(M.shared_service().ensure_loaded(CancelToken()))
    assert backend.loaded
    QApplication.instance().aboutToQuit.emit()
    assert backend.closed and not backend.loaded


def test_lazy_load_shows_progress_and_cancel_while_loading_loads_only_once(
        qtbot: Any, make_panel: Any, wait_for: Any) -> None:
    import threading
    from dataclasses import dataclass, field

    from fada_desk.core.cancel import Progress

    @dataclass
    class SlowLoad(FakeBackend):
        gate: threading.Event = field(default_factory=threading.Event)
        entered: threading.Event = field(default_factory=threading.Event)

        def load(self, progress: Any = None) -> None:
            self.entered.set()
            if progress is not None:
                progress(Progress("Loading language model", 0.3))
            self.gate.wait(30)
            super().load()

    backend = SlowLoad(answers=dict(BRAIN))
    panel, _view, _host = make_panel(backend)
    panel.run_autonomous()
    wait_for(backend.entered.is_set)
    wait_for(lambda: "Loading language model" in panel.model_label.text())
    assert panel.state == RunState.LOADING and panel.model_label.text().startswith("Loading scripted model…")
    panel.cancel()
    wait_for(lambda: panel.state == RunState.CANCELLED)
    assert not backend.loaded  # the cancel did not wait for the load
    assert panel.phase_rows()[0][1] == "not run"
    backend.gate.set()  # the load itself finishes in the background...
    wait_for(lambda: panel.service.state == ModelState.LOADED)
    with qtbot.waitSignal(panel.resultReady, timeout=20000):
        panel.run_autonomous()  # ...and the next run uses it
    assert backend.load_calls == 1 and panel.state == RunState.DONE


def test_switching_model_settings_frees_the_loaded_model_in_the_worker(
        qtbot: Any, make_panel: Any, wait_for: Any, tmp_path: Any) -> None:
    import threading

    from fada_desk.core.cancel import CancelToken
    from fada_desk.core.cancel import drive

    closed_on: list[threading.Thread] = []

    class Recording(FakeBackend):
        def close(self) -> None:
            closed_on.append(threading.current_thread())
            super().close()

    backend = Recording(answers=dict(BRAIN))
    panel, _view, _host = make_panel(backend)
    wait_for(lambda: panel.model_box.check_job is None)
    drive(panel.service.ensure_loaded(CancelToken()))
    assert backend.loaded
    config = M.ModelConfig(str(tmp_path / "other"), 0, None)
    h = panel.apply_config(config)
    assert h is not None
    wait_for(lambda: h.outcome == "result" and panel.model_box.check_job is None)
    assert backend.closed and closed_on and closed_on[0] is not threading.main_thread()
    assert panel.service.config == config
    assert panel.apply_config(config) is None  # nothing changes: no job
