"""Annotation model: what the AI proposed and what the sonographer kept, edited or drew.

Every annotation is an immutable value (frozen dataclass). An edit produces a new
value; :class:`AnnotationSet` swaps it in and tells its observers. Immutability is
what makes undo trivial and safe: a command keeps the *before* and *after*
values, nothing else.

Coordinates are image pixels of the captured frame, (x, y), x right, y down,
floating point (sub-pixel clicks are kept). Measurements in mm come from
:mod:`fada_desk.core.biometry` with the frame's calibration.

Provenance rules (enforced here, not by the GUI):

* ``ai``: exactly as the model produced it (``analysis_id`` names the run);
* ``ai-edited``: a human changed geometry or label; the model's original
  geometry and label are kept in ``ai_original`` forever;
* ``manual``: drawn by a human.

Review status (``pending``/``accepted``/``rejected``) is separate: accepting or
rejecting does not change provenance. AI output starts ``pending``; manual
annotations start ``accepted`` (a human drew them on purpose).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from typing import Any, ClassVar, TypeVar

from fada_desk.core.errors import FadaError

Point = tuple[float, float]
A = TypeVar("A", bound="Annotation")


class AnnotationError(FadaError):
    """An annotation or an edit is invalid (unknown id, too few vertices, bad number...)."""


class Provenance(str, Enum):
    AI = "ai"
    AI_EDITED = "ai-edited"
    MANUAL = "manual"


class ReviewStatus(str, Enum):
    PENDING = "pending"
    ACCEPTED = "accepted"
    REJECTED = "rejected"


#: Biometry parameters an annotation can carry (see fada_desk.core.biometry).
MEASURES = ("BPD", "OFD", "HC", "AC", "FL", "CRL", "NT")


def new_id() -> str:
    """A globally unique, URL-safe annotation id (stable across export/import)."""
    return uuid.uuid4().hex


def _num(value: Any, what: str) -> float:
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(f):
        raise AnnotationError(f"{what} must be a finite number, got {value!r}.")
    return f


def _point(p: Any, what: str) -> Point:
    if not isinstance(p, (tuple, list)) or len(p) < 2:
        raise AnnotationError(f"{what} must be an (x, y) pair, got {p!r}.")
    return (_num(p[0], f"{what} x"), _num(p[1], f"{what} y"))


@dataclass(frozen=True, order=True)
class FrameRef:
    """The frame an annotation belongs to: a captured item and a frame inside it."""

    item_id: int
    frame_index: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.item_id, bool) or not isinstance(self.item_id, int):
            raise AnnotationError(f"item id must be an integer, got {self.item_id!r}.")
        if (
            isinstance(self.frame_index, bool)
            or not isinstance(self.frame_index, int)
            or self.frame_index < 0
        ):
            raise AnnotationError(f"frame index must be an integer >= 0, got {self.frame_index!r}.")

    def to_dict(self) -> dict[str, int]:
        return {"item_id": self.item_id, "frame_index": self.frame_index}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> FrameRef:
        return cls(int(d["item_id"]), int(d.get("frame_index", 0)))

    def key(self) -> str:
        return f"{self.item_id}:{self.frame_index}"


@dataclass(frozen=True, kw_only=True)
class Annotation:
    """Common part of every annotation. Subclasses add geometry fields.

    ``status=None`` at construction picks the default for the provenance
    (pending for AI output, accepted otherwise).
    """

    kind: ClassVar[str] = ""
    geometry_fields: ClassVar[tuple[str, ...]] = ()

    frame: FrameRef
    label: str = ""
    id: str = field(default_factory=new_id)
    provenance: Provenance = Provenance.MANUAL
    status: ReviewStatus = None  # type: ignore[assignment]  # resolved in __post_init__
    analysis_id: str | None = None
    measure: str | None = None
    ai_original: dict[str, Any] | None = None
    note: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.frame, FrameRef):
            raise AnnotationError(
                "An annotation needs the frame (captured item + frame index) it belongs to."
            )
        if not isinstance(self.id, str) or not self.id:
            raise AnnotationError("An annotation id must be a non-empty string.")
        if not isinstance(self.label, str):
            raise AnnotationError(f"A label must be text, got {self.label!r}.")
        object.__setattr__(self, "label", self.label.strip())
        try:
            object.__setattr__(self, "provenance", Provenance(self.provenance))
        except ValueError:
            raise AnnotationError(f"Unknown provenance {self.provenance!r}.") from None
        status = self.status
        if status is None:
            status = ReviewStatus.PENDING if self.provenance is Provenance.AI else ReviewStatus.ACCEPTED
        try:
            object.__setattr__(self, "status", ReviewStatus(status))
        except ValueError:
            raise AnnotationError(f"Unknown review status {status!r}.") from None
        if self.measure is not None and self.measure not in MEASURES:
            raise AnnotationError(f"Unknown measurement {self.measure!r} (known: {', '.join(MEASURES)}).")
        if self.provenance is Provenance.AI_EDITED and self.ai_original is None:
            raise AnnotationError("An AI-edited annotation must keep the AI original.")
        self._validate_geometry()

    # -- geometry, implemented by subclasses ---------------------------------
    def _validate_geometry(self) -> None:
        raise NotImplementedError

    def geometry(self) -> dict[str, Any]:
        """The geometry as plain JSON data (lists, floats)."""
        raise NotImplementedError

    def control_points(self) -> list[Point]:
        """Points that define the shape (used for calibration-region checks and hit tests)."""
        raise NotImplementedError

    def translated(self: A, dx: float, dy: float) -> A:
        raise NotImplementedError

    def bounds(self) -> tuple[float, float, float, float]:
        """(x0, y0, x1, y1) bounding box in pixels."""
        pts = self.control_points()
        xs = [p[0] for p in pts]
        ys = [p[1] for p in pts]
        return (min(xs), min(ys), max(xs), max(ys))

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    # -- editing ----------------------------------------------------------------
    def with_geometry(self: A, geom: Mapping[str, Any]) -> A:
        """A copy with new geometry (JSON form), as an *edit* (see :meth:`edited`)."""
        return self.edited(**self._geometry_kwargs(geom))

    def edited(self: A, **changes: Any) -> A:
        """A copy with ``changes`` applied as a human edit.

        Editing geometry or label of an ``ai`` annotation flips it to
        ``ai-edited`` and records the model's original (first edit only).
        Changing only status/note/measure is not a content edit.
        """
        content = set(self.geometry_fields) | {"label"}
        touches_content = any(k in content and changes[k] != getattr(self, k) for k in changes)
        if touches_content and self.provenance is Provenance.AI:
            changes.setdefault("provenance", Provenance.AI_EDITED)
            changes.setdefault("ai_original", self.original_snapshot())
        out = replace(self, **changes)
        if (
            touches_content
            and out.provenance is Provenance.AI_EDITED
            and out.original_snapshot() == out.ai_original
        ):
            # edited back to exactly what the model produced: it is AI output again
            out = replace(out, provenance=Provenance.AI, ai_original=None)
        return out

    def original_snapshot(self) -> dict[str, Any]:
        """What the AI produced: label + geometry (kept when a human edits it)."""
        return {"label": self.label, "geometry": self.geometry()}

    # -- (de)serialisation ------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "frame": self.frame.to_dict(),
            "label": self.label,
            "provenance": self.provenance.value,
            "status": self.status.value,
            "analysis_id": self.analysis_id,
            "measure": self.measure,
            "note": self.note,
            "geometry": self.geometry(),
            "ai_original": self.ai_original,
        }

    @staticmethod
    def from_dict(d: Mapping[str, Any]) -> Annotation:
        """Inverse of :meth:`to_dict`; raises AnnotationError on malformed input."""
        try:
            kind = d["kind"]
            cls = ANNOTATION_KINDS[kind]
        except KeyError:
            raise AnnotationError(f"Unknown annotation kind {d.get('kind')!r}.") from None
        try:
            geom = cls._geometry_kwargs(d["geometry"])
            return cls(
                id=str(d["id"]),
                frame=FrameRef.from_dict(d["frame"]),
                label=str(d.get("label", "")),
                provenance=Provenance(d.get("provenance", "manual")),
                status=ReviewStatus(d["status"]) if d.get("status") else None,  # type: ignore[arg-type]
                analysis_id=d.get("analysis_id"),
                measure=d.get("measure"),
                note=str(d.get("note", "")),
                ai_original=d.get("ai_original"),
                **geom,
            )
        except AnnotationError:
            raise
        except (KeyError, TypeError, ValueError) as err:
            raise AnnotationError(f"Malformed {kind} annotation: {err}.") from None


@dataclass(frozen=True, kw_only=True)
class Box(Annotation):
    """Axis-aligned box (FADA ``bbox_2d``), normalised so x0 <= x1 and y0 <= y1."""

    kind: ClassVar[str] = "box"
    geometry_fields: ClassVar[tuple[str, ...]] = ("x0", "y0", "x1", "y1")
    x0: float
    y0: float
    x1: float
    y1: float

    def _validate_geometry(self) -> None:
        x0, y0, x1, y1 = (_num(getattr(self, k), f"box {k}") for k in self.geometry_fields)
        object.__setattr__(self, "x0", min(x0, x1))
        object.__setattr__(self, "x1", max(x0, x1))
        object.__setattr__(self, "y0", min(y0, y1))
        object.__setattr__(self, "y1", max(y0, y1))

    def geometry(self) -> dict[str, Any]:
        return {"x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        if isinstance(geom, (list, tuple)):
            if len(geom) != 4:
                raise AnnotationError(f"A box needs 4 numbers [x0, y0, x1, y1], got {geom!r}.")
            geom = dict(zip(cls.geometry_fields, geom))
        return {k: _num(geom[k], f"box {k}") for k in cls.geometry_fields}

    def control_points(self) -> list[Point]:
        return [(self.x0, self.y0), (self.x1, self.y0), (self.x1, self.y1), (self.x0, self.y1)]

    def translated(self, dx: float, dy: float) -> Box:
        return self.edited(x0=self.x0 + dx, y0=self.y0 + dy, x1=self.x1 + dx, y1=self.y1 + dy)

    @property
    def width(self) -> float:
        return self.x1 - self.x0

    @property
    def height(self) -> float:
        return self.y1 - self.y0


def _points(value: Any, what: str, minimum: int) -> tuple[Point, ...]:
    if not isinstance(value, (list, tuple)):
        raise AnnotationError(f"{what} must be a list of (x, y) points.")
    pts = tuple(_point(p, f"{what} point {i}") for i, p in enumerate(value))
    if len(pts) < minimum:
        raise AnnotationError(f"{what} needs at least {minimum} points, got {len(pts)}.")
    return pts


@dataclass(frozen=True, kw_only=True)
class Polygon(Annotation):
    """Closed polygon (FADA segmentation ``mask``), at least 3 vertices."""

    kind: ClassVar[str] = "polygon"
    geometry_fields: ClassVar[tuple[str, ...]] = ("points",)
    points: tuple[Point, ...]

    def _validate_geometry(self) -> None:
        object.__setattr__(self, "points", _points(self.points, "A polygon", 3))

    def geometry(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self.points]}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"points": _points(geom["points"], "A polygon", 3)}

    def control_points(self) -> list[Point]:
        return list(self.points)

    def translated(self, dx: float, dy: float) -> Polygon:
        return self.edited(points=tuple((x + dx, y + dy) for x, y in self.points))

    def area(self) -> float:
        """Shoelace area in px² (orientation independent)."""
        s = 0.0
        pts = self.points
        for i, (x0, y0) in enumerate(pts):
            x1, y1 = pts[(i + 1) % len(pts)]
            s += x0 * y1 - x1 * y0
        return abs(s) / 2.0


@dataclass(frozen=True)
class Keypoint:
    """One landmark; ``visibility`` follows FADA/COCO (0 absent, 1 occluded, 2 visible)."""

    x: float
    y: float
    visibility: int = 2
    name: str = ""


def _keypoints(value: Any) -> tuple[Keypoint, ...]:
    if not isinstance(value, (list, tuple)) or not value:
        raise AnnotationError("Keypoints need at least one point.")
    out = []
    for i, p in enumerate(value):
        if isinstance(p, Keypoint):
            p = [p.x, p.y, p.visibility, p.name]
        elif isinstance(p, Mapping):
            p = [p.get("x"), p.get("y"), p.get("visibility", 2), p.get("name", "")]
        if not isinstance(p, (list, tuple)) or len(p) < 2:
            raise AnnotationError(f"Keypoint {i} must be [x, y] or [x, y, visibility], got {p!r}.")
        vis = p[2] if len(p) > 2 else 2
        try:
            vis_i = int(vis)
        except (TypeError, ValueError):
            raise AnnotationError(f"Keypoint {i} visibility must be 0, 1 or 2, got {vis!r}.") from None
        if vis_i not in (0, 1, 2):
            raise AnnotationError(f"Keypoint {i} visibility must be 0, 1 or 2, got {vis!r}.")
        name = str(p[3]) if len(p) > 3 and p[3] is not None else ""
        out.append(Keypoint(_num(p[0], f"keypoint {i} x"), _num(p[1], f"keypoint {i} y"), vis_i, name))
    return tuple(out)


@dataclass(frozen=True, kw_only=True)
class Keypoints(Annotation):
    """An ordered set of landmarks (FADA ``keypoints`` triplets, e.g. CRL/NT end points)."""

    kind: ClassVar[str] = "keypoints"
    geometry_fields: ClassVar[tuple[str, ...]] = ("points",)
    points: tuple[Keypoint, ...]

    def _validate_geometry(self) -> None:
        object.__setattr__(self, "points", _keypoints(self.points))

    def geometry(self) -> dict[str, Any]:
        return {"points": [[k.x, k.y, k.visibility, k.name] for k in self.points]}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"points": _keypoints(geom["points"])}

    def control_points(self) -> list[Point]:
        return [(k.x, k.y) for k in self.points]

    def translated(self, dx: float, dy: float) -> Keypoints:
        return self.edited(points=tuple(replace(k, x=k.x + dx, y=k.y + dy) for k in self.points))


@dataclass(frozen=True, kw_only=True)
class Ellipse(Annotation):
    """Ellipse by centre, semi-axes (px) and rotation in degrees from the +x axis
    towards +y (clockwise on screen since y points down, as in OpenCV and Qt).
    ``rx`` lies along the rotated x axis. Used for HC and AC."""

    kind: ClassVar[str] = "ellipse"
    geometry_fields: ClassVar[tuple[str, ...]] = ("cx", "cy", "rx", "ry", "angle_deg")
    cx: float
    cy: float
    rx: float
    ry: float
    angle_deg: float = 0.0

    def _validate_geometry(self) -> None:
        for k in self.geometry_fields:
            object.__setattr__(self, k, _num(getattr(self, k), f"ellipse {k}"))
        if self.rx <= 0 or self.ry <= 0:
            raise AnnotationError("Ellipse semi-axes must be positive.")
        # keep the angle in (-180, 180] so equal shapes compare equal
        a = math.remainder(self.angle_deg, 360.0)
        object.__setattr__(self, "angle_deg", 180.0 if a == -180.0 else a)

    def geometry(self) -> dict[str, Any]:
        return {"cx": self.cx, "cy": self.cy, "rx": self.rx, "ry": self.ry, "angle_deg": self.angle_deg}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: _num(geom[k], f"ellipse {k}") for k in ("cx", "cy", "rx", "ry")}
        out["angle_deg"] = _num(geom.get("angle_deg", 0.0), "ellipse angle")
        return out

    def sample(self, n: int = 72) -> list[Point]:
        """``n`` points on the outline (pixel coordinates)."""
        t = math.radians(self.angle_deg)
        c, s = math.cos(t), math.sin(t)
        out = []
        for i in range(n):
            u = 2 * math.pi * i / n
            ex, ey = self.rx * math.cos(u), self.ry * math.sin(u)
            out.append((self.cx + c * ex - s * ey, self.cy + s * ex + c * ey))
        return out

    def control_points(self) -> list[Point]:
        return self.sample(16)

    def translated(self, dx: float, dy: float) -> Ellipse:
        return self.edited(cx=self.cx + dx, cy=self.cy + dy)


@dataclass(frozen=True, kw_only=True)
class Caliper(Annotation):
    """A two-point distance (BPD, OFD, FL, CRL, NT ...)."""

    kind: ClassVar[str] = "caliper"
    geometry_fields: ClassVar[tuple[str, ...]] = ("p1", "p2")
    p1: Point
    p2: Point

    def _validate_geometry(self) -> None:
        object.__setattr__(self, "p1", _point(self.p1, "caliper p1"))
        object.__setattr__(self, "p2", _point(self.p2, "caliper p2"))

    def geometry(self) -> dict[str, Any]:
        return {"p1": list(self.p1), "p2": list(self.p2)}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"p1": _point(geom["p1"], "caliper p1"), "p2": _point(geom["p2"], "caliper p2")}

    def control_points(self) -> list[Point]:
        return [self.p1, self.p2]

    def translated(self, dx: float, dy: float) -> Caliper:
        return self.edited(p1=(self.p1[0] + dx, self.p1[1] + dy), p2=(self.p2[0] + dx, self.p2[1] + dy))

    @property
    def length_px(self) -> float:
        return math.dist(self.p1, self.p2)


ANNOTATION_KINDS: dict[str, type[Annotation]] = {
    c.kind: c for c in (Box, Polygon, Keypoints, Ellipse, Caliper)
}

#: Kinds whose vertices can be moved one at a time (the index addresses ``vertices()``).
VERTEX_KINDS = ("polygon", "keypoints", "caliper")


def vertices(ann: Annotation) -> list[Point]:
    """Individually editable vertices of a polygon, keypoint set or caliper."""
    if isinstance(ann, (Polygon, Keypoints, Caliper)):
        return ann.control_points()
    raise AnnotationError(f"A {ann.kind} has no individually editable vertices.")


def with_vertex(ann: A, index: int, x: float, y: float) -> A:
    """Copy of ``ann`` with vertex ``index`` moved to (x, y) (as an edit)."""
    n = len(vertices(ann))
    if not 0 <= index < n:
        raise AnnotationError(f"Vertex {index} does not exist (the {ann.kind} has {n}).")
    x, y = _num(x, "x"), _num(y, "y")
    if isinstance(ann, Polygon):
        pts = list(ann.points)
        pts[index] = (x, y)
        return ann.edited(points=tuple(pts))  # type: ignore[return-value]
    if isinstance(ann, Keypoints):
        kps = list(ann.points)
        kps[index] = replace(kps[index], x=x, y=y)
        return ann.edited(points=tuple(kps))  # type: ignore[return-value]
    assert isinstance(ann, Caliper)
    return ann.edited(**{"p1" if index == 0 else "p2": (x, y)})  # type: ignore[return-value]


# ---------------------------------------------------------------------------
# Document model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What changed in an :class:`AnnotationSet`.

    ``kind``: ``added`` / ``removed`` / ``updated`` (annotation ids in ``ids``),
    ``interpretation`` (``frames`` names the frame), ``reset`` (everything).
    """

    kind: str
    ids: tuple[str, ...] = ()
    frames: tuple[FrameRef, ...] = ()


Observer = Callable[[Change], None]


class AnnotationSet:
    """The single source of truth for one exam's review: annotations + interpretations.

    Pure Python, no Qt. User edits go through :mod:`fada_desk.core.commands`
    (undoable); the low-level mutators below are what commands call and they
    notify every observer after each change. Not thread-safe: own it from one
    thread (the GUI thread) and hand copies (``to_dict``) to workers.
    """

    def __init__(self, annotations: Iterable[Annotation] = (), interpretations: Iterable[Any] = ()) -> None:
        self._items: dict[str, Annotation] = {}
        self._interp: dict[FrameRef, Any] = {}
        self._observers: list[Observer] = []
        #: Optional check of every frame that gets content (e.g. "the item belongs to this exam");
        #: raises to refuse the change before anything is modified.
        self.frame_validator: Callable[[FrameRef], None] | None = None
        for a in annotations:
            self._check_new(a)
            self._items[a.id] = a
        for it in interpretations:
            self._interp[it.frame] = it

    # -- observers ----------------------------------------------------------------
    def subscribe(self, observer: Observer) -> Callable[[], None]:
        """Call ``observer(change)`` after every change; returns an unsubscribe function."""
        self._observers.append(observer)

        def unsubscribe() -> None:
            if observer in self._observers:
                self._observers.remove(observer)

        return unsubscribe

    def _notify(self, change: Change) -> None:
        first_error: BaseException | None = None
        for obs in list(self._observers):
            try:
                obs(change)
            except Exception as err:  # one broken view must not starve the others
                first_error = first_error or err
        if first_error is not None:
            raise first_error

    # -- queries ------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Annotation]:
        return iter(list(self._items.values()))

    def __contains__(self, ann_id: object) -> bool:
        return ann_id in self._items

    def get(self, ann_id: str) -> Annotation:
        try:
            return self._items[ann_id]
        except KeyError:
            raise AnnotationError(f"No annotation with id {ann_id!r}.") from None

    def index_of(self, ann_id: str) -> int:
        for i, k in enumerate(self._items):
            if k == ann_id:
                return i
        raise AnnotationError(f"No annotation with id {ann_id!r}.")

    def for_frame(
        self, frame: FrameRef, *, statuses: Sequence[ReviewStatus] | None = None
    ) -> list[Annotation]:
        return [
            a for a in self._items.values() if a.frame == frame and (statuses is None or a.status in statuses)
        ]

    def frames(self) -> list[FrameRef]:
        """Every frame with annotations or an interpretation, sorted."""
        return sorted({a.frame for a in self._items.values()} | set(self._interp))

    def interpretation(self, frame: FrameRef) -> Any:
        """The :class:`~fada_desk.core.interpretation.Interpretation` of a frame, or None."""
        return self._interp.get(frame)

    def interpretations(self) -> list[Any]:
        return [self._interp[f] for f in sorted(self._interp)]

    def pending(self, frame: FrameRef | None = None) -> list[Annotation]:
        return [
            a
            for a in self._items.values()
            if a.status is ReviewStatus.PENDING and (frame is None or a.frame == frame)
        ]

    # -- low-level mutators (used by commands; each notifies) --------------------------
    def _check_new(self, ann: Annotation) -> None:
        if not isinstance(ann, Annotation):
            raise AnnotationError(f"Not an annotation: {ann!r}.")
        if ann.id in self._items:
            raise AnnotationError(f"An annotation with id {ann.id!r} already exists.")

    def insert(self, ann: Annotation, index: int | None = None) -> None:
        self.insert_many([ann], [index] if index is not None else None)

    def insert_many(self, anns: Sequence[Annotation], indices: Sequence[int] | None = None) -> None:
        """Insert annotations; ``indices`` (ascending final positions) restore a deleted order."""
        for a in anns:
            self._check_new(a)
        if len({a.id for a in anns}) != len(anns):
            raise AnnotationError("Duplicate annotation ids in one insert.")
        if self.frame_validator is not None:
            for f in sorted({a.frame for a in anns}):
                self.frame_validator(f)
        items = list(self._items.items())
        if indices is None:
            items.extend((a.id, a) for a in anns)
        else:
            for a, i in sorted(zip(anns, indices), key=lambda t: t[1]):
                items.insert(min(max(i, 0), len(items)), (a.id, a))
        self._items = dict(items)
        self._notify(Change("added", tuple(a.id for a in anns), tuple(sorted({a.frame for a in anns}))))

    def remove_many(self, ids: Sequence[str]) -> list[tuple[int, Annotation]]:
        """Remove annotations; returns (index, annotation) pairs to re-insert on undo."""
        for i in ids:
            self.get(i)
        removed = [(self.index_of(i), self._items[i]) for i in ids]
        for i in ids:
            del self._items[i]
        removed.sort(key=lambda t: t[0])
        self._notify(Change("removed", tuple(ids), tuple(sorted({a.frame for _, a in removed}))))
        return removed

    def replace_many(self, anns: Sequence[Annotation]) -> None:
        """Swap in new versions of existing annotations (same ids, order kept)."""
        for a in anns:
            old = self.get(a.id)
            if old.frame != a.frame:
                raise AnnotationError("An annotation cannot move to another frame.")
        for a in anns:
            self._items[a.id] = a
        if anns:
            self._notify(Change("updated", tuple(a.id for a in anns), tuple(sorted({a.frame for a in anns}))))

    def set_interpretation(self, frame: FrameRef, interpretation: Any) -> None:
        """Set (or with None, remove) the interpretation of ``frame``."""
        if interpretation is None:
            self._interp.pop(frame, None)
        else:
            if interpretation.frame != frame:
                raise AnnotationError("Interpretation frame mismatch.")
            if self.frame_validator is not None and frame not in self._interp:
                self.frame_validator(frame)
            self._interp[frame] = interpretation
        self._notify(Change("interpretation", (), (frame,)))

    def reset(self, annotations: Iterable[Annotation] = (), interpretations: Iterable[Any] = ()) -> None:
        """Replace the whole content (load from the store)."""
        fresh = AnnotationSet(annotations, interpretations)
        self._items, self._interp = fresh._items, fresh._interp
        self._notify(Change("reset"))

    # -- (de)serialisation -----------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "annotations": [a.to_dict() for a in self._items.values()],
            "interpretations": [it.to_dict() for it in self.interpretations()],
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AnnotationSet:
        from fada_desk.core.interpretation import Interpretation

        return cls(
            [Annotation.from_dict(a) for a in d.get("annotations", [])],
            [Interpretation.from_dict(i) for i in d.get("interpretations", [])],
        )


def annotation_fields() -> list[str]:
    """Names of the common fields (for schema documentation and tests)."""
    return [f.name for f in fields(Annotation)]
