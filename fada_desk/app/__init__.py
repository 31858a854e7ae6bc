"""The application layer: Qt-free services shared by the GUI (``fada_desk.qt``) and the CLI.

Above export / storage / inference / sources / core, below qt and cli: the Qt
views subscribe to these models (psygnal signals) and run their jobs on worker
threads; the CLI drives the same jobs with :func:`fada_desk.core.cancel.drive`.

* :mod:`.model_service` — the one FADA model of the process (find, verify, lazy load, close).
* :mod:`.analysis` — an analysis run of a still frame: jobs, states, messages.
* :mod:`.analysis_phases` — the per-phase progress rows of the analysis shown.
* :mod:`.analysis_steps` — human in the loop: the next steps after Interpret.
* :mod:`.analysis_keeper` — storing a run's results with its capture in the exam.
* :mod:`.analysis_runs` — the AI runs on a frame: duplicates of earlier runs, replace (undoable), hide.
* :mod:`.chat` — chat requests about the frame, the conversation kept with the exam.
* :mod:`.ai_results` — AI targets, importing results for review, reading them back.
* :mod:`.session_state` — what a workstation window has open, shows and works on.
* :mod:`.review_session` — an exam open for review: document, undo stack, autosave, audit.
* :mod:`.annotation_edits` — what the review editor's drags and drawings do to the document.
* :mod:`.export` — export jobs (format, options, clinic header) for the GUI and the CLI.
* :mod:`.exam_edit` — editing an exam after it was created (audited).
"""
