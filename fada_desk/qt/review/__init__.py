"""Review, edit and measure: the Qt side of the review model.

State lives in the pure models (:mod:`fada_desk.core.annotations`,
:mod:`fada_desk.core.commands`, :mod:`fada_desk.app.review_session`); these
widgets show it and write back only through undoable commands (what a gesture
on the image means: :mod:`fada_desk.app.annotation_edits`).

* :mod:`.undo` — :class:`~.undo.UndoAdapter` (signals/actions over the core
  stack), :class:`~.undo.LocalReview` (in-memory target).
* :mod:`.editor` — :class:`~.editor.AnnotationEditor`: ROIs on a pyqtgraph
  view, selection, drags, drawing tools; :mod:`.editor_actions` its actions,
  keys and context menu.
* :mod:`.annotation_panel`, :mod:`.interpretation_editor`,
  :mod:`.measurement_panel` — the side panel tabs.
* :mod:`.export_dialog` — export in a worker with progress and cancel (jobs from
  :class:`fada_desk.app.export.ExamExport`, shared with the CLI).
* :mod:`.workspace` — :class:`~.workspace.ReviewPanel` (tabs for a dock) and
  :class:`~.workspace.ReviewWorkspace` (complete standalone screen).
* :mod:`.dock` — :class:`~.dock.ReviewDock`: review inside the main window.
"""
