"""Annotation editing on the image view: show, select, drag, draw, accept/reject, undo.

:class:`AnnotationEditor` attaches to any view with a pyqtgraph ``viewbox``
and ``graphics`` view (the app's :class:`~fada_desk.qt.live_view.LiveView`).
It keeps one ROI per annotation of the shown frame and follows the document:
every change of the :class:`~fada_desk.core.review_doc.AnnotationSet`
(an edit here, an undo, an edit in another panel) updates the ROIs; every
user gesture becomes a command from :mod:`fada_desk.core.commands` pushed
through the :class:`~fada_desk.qt.review.undo.UndoAdapter` (the commands of the
review actions live in :mod:`fada_desk.qt.review.editor_commands`). The ROIs never
*are* the state.

A drag maps onto pyqtgraph's ROI signals: ``sigRegionChangeStarted`` opens a
gesture (a token), each ``sigRegionChanged`` pushes a command carrying it
(the core stack merges them into one step), ``sigRegionChangeFinished``
closes the gesture and the step is persisted. So a whole drag is one undo.

Keys (the actions of :class:`~fada_desk.qt.review.editor_actions.ReviewActions`,
window shortcuts): Del delete (the selected polygon vertex or keypoint if one is
selected), A accept, R reject, Ctrl+Shift+A accept everything pending on this
frame, Ctrl+Z / Ctrl+Y undo / redo, B / P / E / C box, polygon, ellipse, caliper
tool; on the view: Esc cancel the tool (or clear the selection), Enter / Backspace
finish / shorten a polygon being drawn.

Points: double-click a polygon's edge to insert a vertex; double-click on or near a
selected keypoint set to add a landmark there (where it lengthens the line least),
or "Add point here" in its context menu; right-click a vertex / landmark (or select
it and press Del) to remove it. Each is one undoable command.
"""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from pyqtgraph.graphicsItems.ROI import Handle
from PySide6.QtCore import QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction
from PySide6.QtWidgets import QMenu, QWidget

from fada_desk.app.annotation_edits import drag_step
from fada_desk.core.annotations import Annotation, Keypoints
from fada_desk.core.review_doc import Change
from fada_desk.core.review_types import FrameRef
from fada_desk.qt.review import style
from fada_desk.qt.review.editor_actions import EditorKeys, ReviewActions, context_menu
from fada_desk.qt.review.editor_commands import EditorCommands
from fada_desk.qt.review.editor_tools import EditorTools
from fada_desk.qt.review.items import CaliperItem, PolygonItem, make_item
from fada_desk.qt.review.tools import ToolLayer
from fada_desk.qt.review.undo import UndoAdapter, subscribe_while_alive


class AnnotationEditor(EditorTools, EditorCommands, QObject):
    """Edits the annotations of one frame on a pyqtgraph view through undoable commands."""

    selectionChanged = Signal(object)  # noqa: N815 - annotation id or None
    vertexSelected = Signal(object)  # noqa: N815 - vertex index or None
    toolChanged = Signal(str)  # noqa: N815 - "" when no tool
    frameChanged = Signal(object)  # noqa: N815 - the FrameRef shown (or None)
    created = Signal(str)  # id of an annotation just drawn
    message = Signal(str)  # a hint or an error for the status bar

    def __init__(self, view: Any, undo: UndoAdapter, shortcut_host: QWidget | None = None,
                 parent: QObject | None = None, actions: ReviewActions | None = None) -> None:
        """``actions``: the window's review actions to bind (the main window keeps one set for
        every exam); without, the editor makes its own on ``shortcut_host`` (default: the view)."""
        super().__init__(parent)
        self.view = view
        self.viewbox: pg.ViewBox = view.viewbox
        self.graphics: pg.GraphicsView = view.graphics
        self.undo = undo
        self.frame: FrameRef | None = None
        self.image_size: tuple[int, int] | None = None
        self.items: dict[str, Any] = {}
        self.labels: dict[str, pg.TextItem] = {}
        self.selected_id: str | None = None
        self.selected_vertex: int | None = None
        #: label given to shapes drawn without a preset (the annotation panel's label box sets it)
        self.default_label = ""
        #: AI runs (analysis ids) neither drawn nor listed: the AI panel's run toggles (view state)
        self.hidden_runs: frozenset[str] = frozenset()
        #: the measurement an annotation's label shows on the image ("HC 197.2 mm", None for none);
        #: the measurement panel, which knows the calibration, provides it
        self.measurement_text: Any = lambda _ann: None
        self.context_menu: QMenu | None = None
        self._tool_preset: tuple[str | None, str] = (None, "")  # (measure, label)
        self._gesture: object | None = None
        self._gesture_item: str | None = None
        self._cleared_by_click: str | None = None  # what the first click of a double-click deselected

        self.layer = ToolLayer(self._on_tool_done)
        self.viewbox.addItem(self.layer, ignoreBounds=True)

        self._detached = False
        self._own_actions = actions is None
        ra = self.review_actions = actions if actions is not None else ReviewActions(shortcut_host or view, self)
        self.act_accept, self.act_reject, self.act_accept_all = ra.accept, ra.reject, ra.accept_all
        self.act_delete, self.act_undo, self.act_redo, self.act_cancel = ra.delete, ra.undo, ra.redo, ra.cancel
        self.tool_actions, self.tool_group = ra.tools, ra.tool_group
        ra.bind(self)
        subscribe_while_alive(self, self.doc.subscribe, self._on_change)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_click)
        self.keys = EditorKeys(self)
        self.graphics.installEventFilter(self.keys)
        self.undo.changed.connect(self._update_actions)
        self._update_actions()

    # ------------------------------------------------------------------ model access
    @property
    def doc(self) -> Any:
        return self.undo.doc

    def annotations(self) -> list[Annotation]:
        """The annotations of the shown frame, in document order (not those of hidden AI runs)."""
        return [] if self.frame is None else [a for a in self.doc.for_frame(self.frame) if self._shown(a)]

    def _shown(self, ann: Annotation) -> bool:
        return not (ann.analysis_id and ann.analysis_id in self.hidden_runs)

    def set_hidden_runs(self, ids: frozenset[str]) -> None:
        """Neither draw nor list the items of these AI runs (the others are shown again)."""
        self.hidden_runs = frozenset(ids)
        self._rebuild()
        self._update_actions()
        self.frameChanged.emit(self.frame)  # the review panels list what is shown

    @property
    def selected(self) -> Annotation | None:
        if self.selected_id is None or self.selected_id not in self.doc:
            return None
        return self.doc.get(self.selected_id)

    # ------------------------------------------------------------------ actions
    def detach(self) -> None:
        """Take everything off the view (ROIs, drawing layer, key filter, shortcuts); the view
        lives on (e.g. the main window's, when another exam is opened)."""
        if self._detached:
            return
        self.cancel_tool()
        for ann_id in list(self.items):
            self._remove_item(ann_id)
        self.frame = None
        self.viewbox.removeItem(self.layer)
        try:
            self.graphics.scene().sigMouseClicked.disconnect(self._on_scene_click)
        except (RuntimeError, TypeError):  # already gone with the scene
            pass
        self.graphics.removeEventFilter(self.keys)
        if self.review_actions.editor is self:
            self.review_actions.bind(None)
        if self._own_actions:
            self.review_actions.remove_from_host()
        self._detached = True

    def actions(self) -> list[QAction]:
        return self.review_actions.actions()

    def _update_actions(self) -> None:
        if self.review_actions.editor is self:
            self.review_actions.update()

    # ------------------------------------------------------------------ frame
    def set_frame(self, frame: FrameRef | None, size: tuple[int, int] | None = None) -> None:
        """Show the annotations of ``frame``; ``size`` = (width, height) of its image."""
        self.cancel_tool()
        self.frame = frame
        self.image_size = size
        self.layer.image_rect = QRectF(0, 0, size[0], size[1]) if size else None
        self._rebuild()
        self._update_actions()
        self.frameChanged.emit(frame)

    def _rebuild(self) -> None:
        for ann_id in list(self.items):
            self._remove_item(ann_id)
        keep = self.selected_id
        self.selected_id = None
        self.selected_vertex = None
        for ann in self.annotations():
            self._add_item(ann)
        if keep is not None and keep in self.items:
            self.select(keep)
        elif keep is not None:
            self.selectionChanged.emit(None)

    def _add_item(self, ann: Annotation) -> None:
        roi = make_item(ann)
        roi.apply_style(ann, False)
        roi.sigRegionChangeStarted.connect(self._drag_started)
        roi.sigRegionChanged.connect(self._drag_changed)
        roi.sigRegionChangeFinished.connect(self._drag_finished)
        roi.sigClicked.connect(self._item_clicked)
        if isinstance(roi, PolygonItem):
            roi.on_insert = self._insert_vertex
            roi.on_vertex_clicked = self._vertex_clicked
        self.viewbox.addItem(roi, ignoreBounds=True)
        self.items[ann.id] = roi
        text = pg.TextItem("", anchor=(0, 1))
        text.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
        text.setAcceptHoverEvents(False)
        text.setZValue(30)
        self.viewbox.addItem(text, ignoreBounds=True)
        self.labels[ann.id] = text
        self._refresh_label(ann)

    def _remove_item(self, ann_id: str) -> None:
        roi = self.items.pop(ann_id, None)
        if roi is not None:
            self.viewbox.removeItem(roi)
        text = self.labels.pop(ann_id, None)
        if text is not None:
            self.viewbox.removeItem(text)

    def refresh_labels(self) -> None:
        """Redraw every label (a calibration change changes the measurements they show)."""
        for ann_id in list(self.labels):
            if ann_id in self.doc:
                self._refresh_label(self.doc.get(ann_id))

    def _refresh_label(self, ann: Annotation) -> None:
        text = self.labels.get(ann.id)
        if text is None:
            return
        color, fill = style.label_colors(ann)
        text.setText(style.label_text(ann, self.measurement_text(ann)), color=color)
        text.fill = fill
        x0, y0, _, _ = ann.bounds()
        text.setPos(x0, y0)
        text.update()

    # ------------------------------------------------------------------ document -> view
    def _on_change(self, change: Change) -> None:
        if change.kind == "interpretation" or self._detached:
            return
        if change.kind == "reset":
            self._rebuild()
        elif change.kind == "removed":
            for ann_id in change.ids:
                self._remove_item(ann_id)
            if self.selected_id in change.ids:
                self.select(None)
        elif change.kind == "added":
            for ann_id in change.ids:
                ann = self.doc.get(ann_id)
                if ann.frame == self.frame and ann_id not in self.items and self._shown(ann):
                    self._add_item(ann)
        elif change.kind == "updated":
            for ann_id in change.ids:
                roi = self.items.get(ann_id)
                if roi is None:
                    continue
                ann = self.doc.get(ann_id)
                roi.sync(ann)
                roi.apply_style(ann, ann_id == self.selected_id)
                self._refresh_label(ann)
            if self.selected_vertex is not None:
                self._highlight_vertex()
        self._update_actions()

    # ------------------------------------------------------------------ selection
    def select(self, ann_id: str | None, vertex: int | None = None) -> None:
        """Select an annotation (and optionally one of its vertices); None clears."""
        if ann_id is not None and ann_id not in self.items:
            ann_id = None
        old = self.selected_id
        if old is not None and old != ann_id and old in self.items and old in self.doc:
            self.items[old].apply_style(self.doc.get(old), False)
        self.selected_id = ann_id
        self.selected_vertex = vertex if ann_id is not None else None
        if ann_id is not None:
            self.items[ann_id].apply_style(self.doc.get(ann_id), True)
            self._highlight_vertex()
        if old != ann_id:
            self.selectionChanged.emit(ann_id)
        self.vertexSelected.emit(self.selected_vertex)
        self._update_actions()

    def _highlight_vertex(self) -> None:
        roi = self.items.get(self.selected_id or "")
        if roi is None:
            return
        handles = roi.getHandles()
        if self.selected_vertex is not None and self.selected_vertex >= len(handles):
            self.selected_vertex = None
        for i, h in enumerate(handles):
            if isinstance(roi, (PolygonItem, CaliperItem)) and i == self.selected_vertex:
                pen = pg.mkPen((255, 255, 255), width=3)
                pen.setCosmetic(True)
                h.pen = pen
                h.currentPen = pen
                h.update()

    def _on_scene_click(self, ev: Any) -> None:
        if self.layer.active:
            return
        if ev.button() == Qt.MouseButton.RightButton and not ev.isAccepted():
            roi = ev.currentItem.parentItem() if ev.currentItem is not None else None
            if roi is not None and roi in self.items.values():  # the outline of an open line
                self._item_clicked(roi, ev)
            return
        if ev.button() != Qt.MouseButton.LeftButton:
            return
        if ev.double():
            self._double_clicked(ev)
            return
        self._cleared_by_click = None if ev.isAccepted() else self.selected_id
        if not ev.isAccepted() and self.selected_id is not None:
            self.select(None)

    def _double_clicked(self, ev: Any) -> None:
        """On or near a keypoint set (selected by the first click, or deselected by it when the
        click was beside it): add a landmark there. Not on a point itself."""
        if ev.isAccepted() and isinstance(ev.currentItem, Handle):
            return
        ann_id = self.selected_id if ev.isAccepted() else self._cleared_by_click
        self._cleared_by_click = None
        if ann_id is None or ann_id not in self.items or not isinstance(self.doc.get(ann_id), Keypoints):
            return
        p = self.viewbox.mapSceneToView(ev.scenePos())
        self.add_keypoint(ann_id, float(p.x()), float(p.y()))

    def _item_clicked(self, roi: Any, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self.select(roi.ann_id)
            p = self.viewbox.mapSceneToView(ev.scenePos())
            self.show_context_menu(ev.screenPos(), (float(p.x()), float(p.y())))
            return
        if roi.ann_id != self.selected_id or self.selected_vertex is not None:
            self.select(roi.ann_id)

    def _vertex_clicked(self, roi: PolygonItem, index: int, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self.select(roi.ann_id, index)
            self.delete_vertex(roi.ann_id, index)
            return
        self.select(roi.ann_id, index)

    def show_context_menu(self, screen_pos: QPointF | None = None,
                          image_pos: tuple[float, float] | None = None) -> QMenu | None:
        """Accept / reject / delete / measure-as (/ add point here) menu for the selected annotation."""
        return context_menu(self, screen_pos, image_pos)

    # ------------------------------------------------------------------ drags -> commands
    def _drag_started(self, roi: Any) -> None:
        if roi.syncing:
            return
        self._gesture = self.undo.begin_gesture()
        self._gesture_item = roi.ann_id
        if self.selected_id != roi.ann_id:
            vertex = roi.moving_handle_index() if isinstance(roi, PolygonItem) else None
            self.select(roi.ann_id, vertex)

    def _drag_changed(self, roi: Any) -> None:
        if roi.syncing or self._gesture is None or roi.ann_id != self._gesture_item:
            return
        if roi.ann_id not in self.doc:
            return
        ann = self.doc.get(roi.ann_id)
        moving = roi.drag_mode == "move"
        step = drag_step(self.doc, ann, roi.geometry(), moving, None if moving else roi.moving_handle_index(),
                         self.image_size, self._gesture)
        if step.held:
            roi.sync(ann)  # held at the image border
            return
        if step.command is None:
            return
        if step.vertex is not None and self.selected_vertex != step.vertex:
            self.select(ann.id, step.vertex)
        if not self.undo.run(step.command):
            roi.sync(self.doc.get(ann.id))

    def _drag_finished(self, roi: Any) -> None:
        if roi.syncing:
            return
        roi.drag_mode = None
        if self._gesture is None or roi.ann_id != self._gesture_item:
            return
        self._gesture = None
        self._gesture_item = None
        self.undo.end_gesture()
        if roi.ann_id in self.doc and roi.ann_id in self.items:
            ann = self.doc.get(roi.ann_id)
            roi.sync(ann)
            self._refresh_label(ann)

    # ------------------------------------------------------------------ helpers (tests, hosts)
    def item(self, ann_id: str) -> Any:
        return self.items[ann_id]

    def to_widget(self, x: float, y: float) -> QPoint:
        """Viewport (widget) coordinates of image pixel (x, y)."""
        scene = self.viewbox.mapViewToScene(QPointF(x, y))
        return self.graphics.mapFromScene(scene)
