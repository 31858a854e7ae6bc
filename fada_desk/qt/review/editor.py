"""Annotation editing on the image view: show, select, drag, draw, accept/reject, undo.

:class:`AnnotationEditor` attaches to any view with a pyqtgraph ``viewbox``
and ``graphics`` view (the app's :class:`~fada_desk.qt.live_view.LiveView`).
It keeps one ROI per annotation of the shown frame and follows the document:
every change of the :class:`~fada_desk.core.annotations.AnnotationSet`
(an edit here, an undo, an edit in another panel) updates the ROIs; every
user gesture becomes a command from :mod:`fada_desk.core.commands` pushed
through the :class:`~fada_desk.qt.review.undo.UndoAdapter`. The ROIs never
*are* the state.

A drag maps onto pyqtgraph's ROI signals: ``sigRegionChangeStarted`` opens a
gesture (a token), each ``sigRegionChanged`` pushes a command carrying it
(the core stack merges them into one step), ``sigRegionChangeFinished``
closes the gesture and the step is persisted. So a whole drag is one undo.

Keys (on the view; also as actions for menus and toolbars): Del delete
(the selected polygon vertex if one is selected), A accept, R reject,
Ctrl+Shift+A accept everything pending on this frame, Ctrl+Z / Ctrl+Y undo /
redo, B / P / E / C box, polygon, ellipse, caliper tool, Esc cancel the tool
(or clear the selection), Enter / Backspace finish / shorten a polygon being drawn.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyqtgraph as pg
from PySide6.QtCore import QEvent, QObject, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QActionGroup, QCursor, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QMenu, QWidget

from fada_desk.core.annotations import (
    MEASURES,
    Annotation,
    AnnotationError,
    Box,
    Caliper,
    Change,
    Ellipse,
    FrameRef,
    Polygon,
    Provenance,
    ReviewStatus,
)
from fada_desk.core.commands import (
    AcceptAll,
    AddAnnotation,
    Command,
    DeleteAnnotations,
    DeleteVertex,
    EditEllipse,
    InsertVertex,
    MoveAnnotation,
    MoveVertex,
    Relabel,
    ResizeBox,
    SetMeasure,
    SetStatus,
)
from fada_desk.qt.review import style
from fada_desk.qt.review.items import CaliperItem, PolygonItem, make_item
from fada_desk.qt.review.tools import TOOLS, ToolLayer
from fada_desk.qt.review.undo import UndoAdapter, subscribe_while_alive

TOOL_KEYS = {"box": "B", "polygon": "P", "ellipse": "E", "caliper": "C"}
TOOL_TITLES = {"box": "Box", "polygon": "Polygon", "ellipse": "Ellipse", "caliper": "Caliper"}


def _anchor(geom: dict[str, Any]) -> tuple[float, float]:
    """A point that moves with the whole shape (to turn a body drag into dx, dy)."""
    if "x0" in geom:
        return (float(geom["x0"]), float(geom["y0"]))
    if "cx" in geom:
        return (float(geom["cx"]), float(geom["cy"]))
    if "p1" in geom:
        return (float(geom["p1"][0]), float(geom["p1"][1]))
    p = geom["points"][0]
    return (float(p[0]), float(p[1]))


class AnnotationEditor(QObject):
    """Edits the annotations of one frame on a pyqtgraph view through undoable commands."""

    selectionChanged = Signal(object)  # noqa: N815 - annotation id or None
    vertexSelected = Signal(object)  # noqa: N815 - vertex index or None
    toolChanged = Signal(str)  # noqa: N815 - "" when no tool
    frameChanged = Signal(object)  # noqa: N815 - the FrameRef shown (or None)
    created = Signal(str)  # id of an annotation just drawn
    message = Signal(str)  # a hint or an error for the status bar

    def __init__(self, view: Any, undo: UndoAdapter, shortcut_host: QWidget | None = None,
                 parent: QObject | None = None) -> None:
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
        self.context_menu: QMenu | None = None
        self._tool_preset: tuple[str | None, str] = (None, "")  # (measure, label)
        self._gesture: object | None = None
        self._gesture_item: str | None = None

        self.layer = ToolLayer(self._on_tool_done)
        self.viewbox.addItem(self.layer, ignoreBounds=True)

        self._host: QWidget = shortcut_host or view
        self._detached = False
        self._build_actions(self._host)
        subscribe_while_alive(self, self.doc.subscribe, self._on_change)
        self.graphics.scene().sigMouseClicked.connect(self._on_scene_click)
        self.graphics.installEventFilter(self)
        self.undo.changed.connect(self._update_actions)
        self._update_actions()

    # ------------------------------------------------------------------ model access
    @property
    def doc(self) -> Any:
        return self.undo.doc

    def annotations(self) -> list[Annotation]:
        """The annotations of the shown frame, in document order."""
        return [] if self.frame is None else self.doc.for_frame(self.frame)

    @property
    def selected(self) -> Annotation | None:
        if self.selected_id is None or self.selected_id not in self.doc:
            return None
        return self.doc.get(self.selected_id)

    # ------------------------------------------------------------------ actions
    def _build_actions(self, host: QWidget) -> None:
        def act(text: str, slot: Callable[[], Any], keys: list[QKeySequence | str], name: str) -> QAction:
            a = QAction(text, self)
            a.setObjectName(name)
            a.setShortcuts([QKeySequence(k) for k in keys])
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            a.setToolTip(f"{text} ({QKeySequence(keys[0]).toString(QKeySequence.SequenceFormat.NativeText)})")
            a.triggered.connect(lambda _c=False: slot())
            host.addAction(a)
            return a

        self.act_delete = act("Delete", self.delete_selected, ["Delete", "Backspace"], "reviewDelete")
        self.act_accept = act("Accept", self.accept_selected, ["A"], "reviewAccept")
        self.act_reject = act("Reject", self.reject_selected, ["R"], "reviewReject")
        self.act_accept_all = act("Accept all on this frame", self.accept_all, ["Ctrl+Shift+A"],
                                  "reviewAcceptAll")
        self.act_undo = self.undo.create_undo_action(self)
        self.act_redo = self.undo.create_redo_action(self)
        for a in (self.act_undo, self.act_redo):
            a.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            host.addAction(a)
        self.tool_group = QActionGroup(self)
        self.tool_group.setExclusionPolicy(QActionGroup.ExclusionPolicy.ExclusiveOptional)
        self.tool_actions: dict[str, QAction] = {}
        for tool in TOOLS:
            a = act(f"{TOOL_TITLES[tool]} tool", lambda t=tool: self._toggle_tool(t), [TOOL_KEYS[tool]],
                    f"reviewTool_{tool}")
            a.setCheckable(True)
            self.tool_group.addAction(a)
            self.tool_actions[tool] = a
        self.act_cancel = QAction("Cancel tool", self)  # Esc is handled by the key filter (see eventFilter)
        self.act_cancel.setObjectName("reviewCancelTool")
        self.act_cancel.triggered.connect(lambda _c=False: self.cancel_tool())

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
        self.graphics.removeEventFilter(self)
        for a in self.actions():
            self._host.removeAction(a)
        self._detached = True

    def actions(self) -> list[QAction]:
        return [self.act_accept, self.act_reject, self.act_accept_all, self.act_delete, self.act_undo,
                self.act_redo, *self.tool_actions.values(), self.act_cancel]

    def _update_actions(self) -> None:
        sel = self.selected
        for a in (self.act_accept, self.act_reject, self.act_delete):
            a.setEnabled(sel is not None)
        self.act_accept_all.setEnabled(self.frame is not None)
        for tool, a in self.tool_actions.items():
            a.setEnabled(self.frame is not None)
            a.setChecked(self.layer.tool == tool)
        self.act_cancel.setEnabled(self.layer.active)

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

    def _refresh_label(self, ann: Annotation) -> None:
        text = self.labels.get(ann.id)
        if text is None:
            return
        color, fill = style.label_colors(ann)
        text.setText(style.label_text(ann), color=color)
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
                if ann.frame == self.frame and ann_id not in self.items:
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
        if ev.isAccepted() or self.layer.active or ev.button() != Qt.MouseButton.LeftButton:
            return
        if self.selected_id is not None:
            self.select(None)

    def _item_clicked(self, roi: Any, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self.select(roi.ann_id)
            self.show_context_menu(ev.screenPos())
            return
        if roi.ann_id != self.selected_id or self.selected_vertex is not None:
            self.select(roi.ann_id)

    def _vertex_clicked(self, roi: PolygonItem, index: int, ev: Any) -> None:
        if ev.button() == Qt.MouseButton.RightButton:
            self.select(roi.ann_id, index)
            if roi.closed_shape:
                self.delete_vertex(roi.ann_id, index)
            return
        self.select(roi.ann_id, index)

    def show_context_menu(self, screen_pos: QPointF | None = None) -> QMenu | None:
        """Accept / reject / delete / measure-as menu for the selected annotation."""
        ann = self.selected
        if ann is None:
            return None
        if self.context_menu is not None:
            self.context_menu.close()
            self.context_menu.deleteLater()
        menu = QMenu(self.graphics)
        menu.setObjectName("reviewContextMenu")
        menu.addAction(self.act_accept)
        menu.addAction(self.act_reject)
        menu.addAction(self.act_delete)
        if ann.kind in ("caliper", "ellipse", "polygon", "keypoints"):
            sub = menu.addMenu("Measure as")
            none = sub.addAction("(not a measurement)")
            none.triggered.connect(lambda _c=False: self.set_measure_selected(None))
            for m in MEASURES:
                a = sub.addAction(m)
                a.setCheckable(True)
                a.setChecked(ann.measure == m)
                a.triggered.connect(lambda _c=False, m=m: self.set_measure_selected(m))
        self.context_menu = menu
        pos = QCursor.pos() if screen_pos is None else QPoint(int(screen_pos.x()), int(screen_pos.y()))
        menu.popup(pos)
        return menu

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
        geom = roi.geometry()
        gesture = self._gesture
        cmd: Callable[[], Command] | None = None
        if roi.drag_mode == "move":
            (x, y), (x0, y0) = _anchor(geom), _anchor(ann.geometry())
            dx, dy = self._clamp_delta(ann, x - x0, y - y0)
            if abs(dx) < 1e-9 and abs(dy) < 1e-9:
                roi.sync(ann)  # held at the image border
                return
            cmd = lambda: MoveAnnotation(self.doc, ann.id, dx, dy, gesture=gesture)  # noqa: E731
        elif isinstance(ann, Box):
            x0, y0 = self._clamp_point(geom["x0"], geom["y0"])
            x1, y1 = self._clamp_point(geom["x1"], geom["y1"])
            cmd = lambda: ResizeBox(self.doc, ann.id, x0, y0, x1, y1, gesture=gesture)  # noqa: E731
        elif isinstance(ann, Ellipse):
            cmd = lambda: EditEllipse(self.doc, ann.id, gesture=gesture, **geom)  # noqa: E731
        else:
            index = roi.moving_handle_index()
            pts = [tuple(p[:2]) for p in geom["points"]] if "points" in geom else [geom["p1"], geom["p2"]]
            if index is None:
                old = ann.control_points()
                changed = [i for i, (a, b) in enumerate(zip(pts, old))
                           if abs(a[0] - b[0]) + abs(a[1] - b[1]) > 1e-9]
                if len(changed) != 1 or len(pts) != len(old):
                    return
                index = changed[0]
            x, y = self._clamp_point(*pts[index])
            if self.selected_vertex != index:
                self.select(ann.id, index)
            cmd = lambda: MoveVertex(self.doc, ann.id, index, x, y, gesture=gesture)  # noqa: E731
        if not self.undo.run(cmd):
            roi.sync(self.doc.get(ann.id))

    def _clamp_point(self, x: float, y: float) -> tuple[float, float]:
        """Keep a dragged point on the image (measurements outside it mean nothing)."""
        if self.image_size is None:
            return (x, y)
        w, h = self.image_size
        return (min(max(x, 0.0), float(w)), min(max(y, 0.0), float(h)))

    def _clamp_delta(self, ann: Annotation, dx: float, dy: float) -> tuple[float, float]:
        """Limit a move so a shape that fits on the image stays on it."""
        if self.image_size is None:
            return (dx, dy)
        w, h = self.image_size
        x0, y0, x1, y1 = ann.bounds()
        if x1 - x0 <= w:
            dx = min(max(dx, -x0), w - x1)
        if y1 - y0 <= h:
            dy = min(max(dy, -y0), h - y1)
        return (dx, dy)

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

    def _insert_vertex(self, roi: PolygonItem, index: int, x: float, y: float) -> None:
        if self.undo.run(lambda: InsertVertex(self.doc, roi.ann_id, index, x, y)):
            self.select(roi.ann_id, index)

    # ------------------------------------------------------------------ commands
    def _need_selection(self) -> Annotation | None:
        ann = self.selected
        if ann is None:
            self.message.emit("Select an annotation first (click it).")
        return ann

    def accept_selected(self) -> bool:
        ann = self._need_selection()
        return ann is not None and self.undo.run(lambda: SetStatus(self.doc, [ann.id], ReviewStatus.ACCEPTED))

    def reject_selected(self) -> bool:
        ann = self._need_selection()
        return ann is not None and self.undo.run(lambda: SetStatus(self.doc, [ann.id], ReviewStatus.REJECTED))

    def accept_all(self) -> bool:
        """Accept every pending AI annotation and interpretation value of the shown frame."""
        if self.frame is None:
            return False
        frame = self.frame
        return self.undo.run(lambda: AcceptAll(self.doc, frame))

    def delete_selected(self) -> bool:
        """Delete the selected polygon vertex if one is selected, else the annotation."""
        ann = self._need_selection()
        if ann is None:
            return False
        if self.selected_vertex is not None and isinstance(ann, Polygon):
            return self.delete_vertex(ann.id, self.selected_vertex)
        return self.undo.run(lambda: DeleteAnnotations(self.doc, [ann.id]))

    def delete_vertex(self, ann_id: str, index: int) -> bool:
        ok = self.undo.run(lambda: DeleteVertex(self.doc, ann_id, index))
        if ok:
            self.select(ann_id, None)
        return ok

    def relabel_selected(self, label: str) -> bool:
        ann = self._need_selection()
        if ann is None or label.strip() == ann.label:
            return False
        return self.undo.run(lambda: Relabel(self.doc, ann.id, label))

    def set_measure_selected(self, measure: str | None) -> bool:
        ann = self._need_selection()
        if ann is None or ann.measure == measure:
            return False
        return self.undo.run(lambda: SetMeasure(self.doc, ann.id, measure))

    # ------------------------------------------------------------------ tools
    @property
    def tool(self) -> str:
        return self.layer.tool

    def set_tool(self, tool: str, measure: str | None = None, label: str = "") -> bool:
        """Start drawing a new ``tool`` shape ("" stops). ``measure`` tags what is drawn
        (e.g. caliper as BPD), ``label`` names it (default: the measure or :attr:`default_label`)."""
        if not tool:
            self.cancel_tool()
            return True
        if self.frame is None:
            self.message.emit("Show a captured frame to draw on it.")
            self._update_actions()
            return False
        if measure is not None and measure not in MEASURES:
            raise ValueError(f"unknown measurement {measure!r}")
        self._tool_preset = (measure, label)
        self.select(None)
        self.layer.start(tool)
        self.graphics.setCursor(Qt.CursorShape.CrossCursor)
        self.graphics.setFocus()
        self._update_actions()
        self.toolChanged.emit(tool)
        hint = {"box": "drag a rectangle", "ellipse": "drag the ellipse's bounding box",
                "caliper": "drag (or click) from one end to the other",
                "polygon": "click each point; double-click or Enter to close"}[tool]
        self.message.emit(f"{TOOL_TITLES[tool]}: {hint}. Esc cancels.")
        return True

    def _toggle_tool(self, tool: str) -> None:
        if self.layer.tool == tool:
            self.cancel_tool()
        else:
            self.set_tool(tool)

    def cancel_tool(self) -> None:
        was = self.layer.active
        self.layer.stop()
        self._tool_preset = (None, "")
        self.graphics.unsetCursor()
        self._update_actions()
        if was:
            self.toolChanged.emit("")

    def _on_tool_done(self, kind: str, geom: dict[str, Any]) -> None:
        if self.frame is None:
            return
        measure, label = self._tool_preset
        label = label or measure or self.default_label.strip()
        common = {"frame": self.frame, "label": label, "provenance": Provenance.MANUAL, "measure": measure}
        try:
            if kind == "box":
                ann: Annotation = Box(**common, **geom)
            elif kind == "ellipse":
                ann = Ellipse(**common, **geom)
            elif kind == "caliper":
                ann = Caliper(**common, p1=tuple(geom["p1"]), p2=tuple(geom["p2"]))
            else:
                ann = Polygon(**common, points=tuple(tuple(p) for p in geom["points"]))
        except AnnotationError as err:
            self.message.emit(str(err))
            return
        self.cancel_tool()
        if self.undo.run(lambda: AddAnnotation(self.doc, ann)):
            self.select(ann.id)
            self.created.emit(ann.id)

    # ------------------------------------------------------------------ keys
    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt API
        """Esc / Enter / Backspace while drawing, and Esc to clear the selection, take
        precedence over window shortcuts (e.g. the main window's Esc "back to live")."""
        et = event.type()
        if et not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        assert isinstance(event, QKeyEvent)
        key = event.key()
        if event.modifiers() not in (Qt.KeyboardModifier.NoModifier, Qt.KeyboardModifier.KeypadModifier):
            return False
        drawing_poly = self.layer.tool == "polygon"
        mine = (
            (key == Qt.Key.Key_Escape and (self.layer.active or self.selected_id is not None))
            or (key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and drawing_poly)
            or (key == Qt.Key.Key_Backspace and self.layer.active)
        )
        if not mine:
            return False
        if et == QEvent.Type.ShortcutOverride:
            event.accept()
            return True
        if key == Qt.Key.Key_Escape:
            if self.layer.active:
                self.cancel_tool()
                self.message.emit("Drawing cancelled.")
            else:
                self.select(None)
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if not self.layer.finish_polygon():
                self.message.emit("A polygon needs at least 3 points.")
        elif key == Qt.Key.Key_Backspace:
            self.layer.remove_last_point()
        return True

    # ------------------------------------------------------------------ helpers (tests, hosts)
    def item(self, ann_id: str) -> Any:
        return self.items[ann_id]

    def to_widget(self, x: float, y: float) -> QPoint:
        """Viewport (widget) coordinates of image pixel (x, y)."""
        scene = self.viewbox.mapViewToScene(QPointF(x, y))
        return self.graphics.mapFromScene(scene)
