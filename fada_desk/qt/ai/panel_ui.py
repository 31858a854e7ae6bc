"""The AI panel's widgets and their layout (the panel wires them to its behaviour).

:func:`build_widgets` creates the views of :class:`~fada_desk.qt.ai.panel.AIPanel`
and sets them on it under the names others look for (tests, screenshots): the
model box, the run controls, the runs on the capture, and the tabs Progress
(phases + streamed text), Chat, Interpretation and Next step.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtWidgets import QTabWidget, QVBoxLayout

from fada_desk.qt.ai.chat_pane import ChatPane
from fada_desk.qt.ai.model_box import ModelBox
from fada_desk.qt.ai.result_views import InterpretationView, StepsView
from fada_desk.qt.ai.run_views import PhaseList, RunControls, StreamView, run_tab
from fada_desk.qt.ai.runs_bar import RunsBar


def build_widgets(panel: Any) -> None:
    """Create ``panel``'s views and lay them out (``panel`` has its runner, model and hidden runs)."""
    p = panel
    p.model_box = mb = ModelBox(p.service, p.runner, p.settings)
    p.controls = rc = RunControls()
    p.phase_list, p.stream = PhaseList(p.model.phases), StreamView()
    p.results, p.steps = res, st = InterpretationView(), StepsView()
    p.runs_bar, p.chat = RunsBar(p.hidden), ChatPane(p.conversation)
    p.model_label, p.device_label = mb.model_label, mb.device_label
    p.target_label, p.state_label = rc.target_label, rc.state_label
    p.autonomous_button, p.interpret_button = rc.autonomous_button, rc.interpret_button
    p.cancel_button = rc.cancel_button
    p.classification_label, p.mapping_label, p.interp_note = (
        res.classification_label, res.mapping_label, res.note)
    p.step_detect, p.step_segment = st.step_detect, st.step_segment
    p.step_keypoints = st.step_keypoints
    p.run_selected_button = st.run_selected_button
    p.tabs = tabs = QTabWidget()
    tabs.setObjectName("aiTabs")
    tabs.addTab(run_tab(p.phase_list, p.stream), "Progress")
    tabs.addTab(p.chat, "Chat")
    tabs.addTab(res, "Interpretation")
    tabs.addTab(st, "Next step")
    lay = QVBoxLayout(p)
    lay.setContentsMargins(4, 4, 4, 4)
    lay.addWidget(mb)
    lay.addWidget(rc)
    lay.addWidget(p.runs_bar)
    lay.addWidget(tabs, 1)
