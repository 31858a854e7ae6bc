"""Annotation model: what the AI proposed and what the sonographer kept, edited or drew.

Every annotation is an immutable value (frozen dataclass). An edit produces a new
value; the review document (:class:`~fada_desk.core.review_doc.AnnotationSet`)
swaps it in and tells its subscribers. Immutability is what makes undo trivial
and safe: a command keeps the *before* and *after* values, nothing else.

Coordinates are image pixels of the captured frame, (x, y), x right, y down,
floating point (sub-pixel clicks are kept). Measurements in mm come from
:mod:`fada_desk.core.biometry` with the frame's calibration.

Provenance and review status follow :mod:`fada_desk.core.review_types`; for an
annotation, ``ai-edited`` means a human changed its geometry or label, and the
model's original geometry and label are kept in ``ai_original`` forever.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, ClassVar, TypeVar

from fada_desk.core.points import Keypoint, Point, finite_number, keypoints, xy_point, xy_points
from fada_desk.core.review_types import AnnotationError, FrameRef, Provenance, ReviewStatus

A = TypeVar("A", bound="Annotation")


#: Biometry parameters an annotation can carry (see fada_desk.core.biometry).
MEASURES = ("BPD", "OFD", "HC", "AC", "FL", "CRL", "NT")


def new_id() -> str:
    """A globally unique, URL-safe annotation id (stable across export/import)."""
    return uuid.uuid4().hex


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
        Changing only status/note/measure is not a content edit. (That an edit
        of a pending AI annotation is also its review is the edit commands' rule:
        :func:`fada_desk.core.annotation_commands.reviewed_by_edit`.)
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
                provenance=Provenance(d.get("provenance", Provenance.MANUAL)),
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
        x0, y0, x1, y1 = (finite_number(getattr(self, k), f"box {k}") for k in self.geometry_fields)
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
        return {k: finite_number(geom[k], f"box {k}") for k in cls.geometry_fields}

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


@dataclass(frozen=True, kw_only=True)
class Polygon(Annotation):
    """Closed polygon (FADA segmentation ``mask``), at least 3 vertices."""

    kind: ClassVar[str] = "polygon"
    geometry_fields: ClassVar[tuple[str, ...]] = ("points",)
    points: tuple[Point, ...]

    def _validate_geometry(self) -> None:
        object.__setattr__(self, "points", xy_points(self.points, "A polygon", 3))

    def geometry(self) -> dict[str, Any]:
        return {"points": [list(p) for p in self.points]}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"points": xy_points(geom["points"], "A polygon", 3)}

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


@dataclass(frozen=True, kw_only=True)
class Keypoints(Annotation):
    """An ordered set of landmarks (FADA ``keypoints`` triplets, e.g. CRL/NT end points)."""

    kind: ClassVar[str] = "keypoints"
    geometry_fields: ClassVar[tuple[str, ...]] = ("points",)
    points: tuple[Keypoint, ...]

    def _validate_geometry(self) -> None:
        object.__setattr__(self, "points", keypoints(self.points))

    def geometry(self) -> dict[str, Any]:
        return {"points": [[k.x, k.y, k.visibility, k.name] for k in self.points]}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"points": keypoints(geom["points"])}

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
            object.__setattr__(self, k, finite_number(getattr(self, k), f"ellipse {k}"))
        if self.rx <= 0 or self.ry <= 0:
            raise AnnotationError("Ellipse semi-axes must be positive.")
        # keep the angle in (-180, 180] so equal shapes compare equal
        a = math.remainder(self.angle_deg, 360.0)
        object.__setattr__(self, "angle_deg", 180.0 if a == -180.0 else a)

    def geometry(self) -> dict[str, Any]:
        return {"cx": self.cx, "cy": self.cy, "rx": self.rx, "ry": self.ry, "angle_deg": self.angle_deg}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        out = {k: finite_number(geom[k], f"ellipse {k}") for k in ("cx", "cy", "rx", "ry")}
        out["angle_deg"] = finite_number(geom.get("angle_deg", 0.0), "ellipse angle")
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
        object.__setattr__(self, "p1", xy_point(self.p1, "caliper p1"))
        object.__setattr__(self, "p2", xy_point(self.p2, "caliper p2"))

    def geometry(self) -> dict[str, Any]:
        return {"p1": list(self.p1), "p2": list(self.p2)}

    @classmethod
    def _geometry_kwargs(cls, geom: Mapping[str, Any]) -> dict[str, Any]:
        return {"p1": xy_point(geom["p1"], "caliper p1"), "p2": xy_point(geom["p2"], "caliper p2")}

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


def annotation_fields() -> list[str]:
    """Names of the common fields (for schema documentation and tests)."""
    return [f.name for f in fields(Annotation)]
