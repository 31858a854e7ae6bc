"""The AI side of the GUI: run FADA on the still frame, show and keep the results.

Thin Qt views over :mod:`fada_desk.app` (the process model in
:mod:`~fada_desk.app.model_service`, the run model in :mod:`~fada_desk.app.analysis`,
storing results in :mod:`~fada_desk.app.analysis_keeper` / :mod:`~fada_desk.app.ai_results`,
runs on a frame in :mod:`~fada_desk.app.analysis_runs`, the chat in :mod:`~fada_desk.app.chat`):

* :mod:`.panel` — :class:`~.panel.AIPanel`: composes the views below and runs the jobs
  (its widgets and layout: :mod:`.panel_ui`).
* :mod:`.chat_pane` — the chat: typed requests on the frame, streamed answers, kept with the exam.
* :mod:`.questions` — asked before storing: duplicates of earlier runs (replace / keep both /
  cancel), replacing a reviewed interpretation.
* :mod:`.runs_bar` — the AI runs on the capture under review, each shown or hidden.
* :mod:`.model_box` — model status, "Check again", settings (the model jobs).
* :mod:`.run_views` — run buttons and state line, per-phase progress, streamed text.
* :mod:`.result_views` — the interpretation, the human-in-the-loop next steps.
* :mod:`.result_display` — which result is shown for the frame on screen.
* :mod:`.overlay` — :class:`~.overlay.AIOverlay`: results on the image view
  (FADA palette, review styles).
* :mod:`.host` — what the panel asks the window (:class:`~.host.AIHost`).
* :mod:`.dock` — :class:`~.dock.AIDock`: the panel in the main window + AI menu.
* :mod:`.settings_dialog` — model folder, GPU layers, threads.
"""
