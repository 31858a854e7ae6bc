"""The AI side of the GUI: run FADA on the still frame, show and keep the results.

* :mod:`.model_service` — :class:`~.model_service.ModelService`: the one model
  of the process (find, verify, lazy load with progress, close on exit).
* :mod:`.panel` — :class:`~.panel.AIPanel`: status, Run autonomous /
  Interpret / Cancel, per-phase progress, streamed text, interpretation,
  human-in-the-loop next steps.
* :mod:`.overlay` — :class:`~.overlay.AIOverlay`: results on the image view
  (FADA palette, review styles).
* :mod:`.host` — what the panel asks the window (:class:`~.host.AIHost`), and
  storing results in the exam through ``ReviewSession.import_analysis``.
* :mod:`.dock` — :class:`~.dock.AIDock`: the panel in the main window + AI menu.
* :mod:`.settings_dialog` — model folder, GPU layers, threads.
"""
