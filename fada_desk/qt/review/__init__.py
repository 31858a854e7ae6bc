"""Review, edit and measure: the Qt side of the review model.

State lives in the pure models (:mod:`fada_desk.core.annotations`,
:mod:`fada_desk.core.commands`, :mod:`fada_desk.storage.review`); these
widgets show it and write back only through undoable commands.

* :mod:`.undo` — :class:`~.undo.UndoAdapter` (signals/actions over the core
  stack), :class:`~.undo.LocalReview` (in-memory target).
* :mod:`.editor` — :class:`~.editor.AnnotationEditor`: ROIs on a pyqtgraph
  view, selection, drags, drawing tools, shortcuts.
* :mod:`.annotation_panel`, :mod:`.interpretation_editor`,
  :mod:`.measurement_panel` — the side panel tabs.
* :mod:`.export_dialog` — export in a worker with progress and cancel.
* :mod:`.workspace` — :class:`~.workspace.ReviewPanel` (tabs for a dock) and
  :class:`~.workspace.ReviewWorkspace` (complete standalone screen).
"""
