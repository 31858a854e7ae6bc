"""The AI side of the GUI: run FADA on the still frame, show and keep the results.

Thin Qt views over :mod:`fada_desk.app` (the process model in
:mod:`~fada_desk.app.model_service`, the run model in :mod:`~fada_desk.app.analysis`,
storing results in :mod:`~fada_desk.app.analysis_keeper` / :mod:`~fada_desk.app.ai_results`):

* :mod:`.panel` — :class:`~.panel.AIPanel`: composes the views below and runs the jobs.
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
