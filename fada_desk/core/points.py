"""Pixel points of annotations and their validation.

Coordinates are image pixels (x, y), x right, y down, floating point. Every
check raises :class:`~fada_desk.core.review_types.AnnotationError` with a
message naming the offending value (``what``), so a malformed file or an
impossible edit is explained, never silently coerced.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fada_desk.core.review_types import AnnotationError

Point = tuple[float, float]


def finite_number(value: Any, what: str) -> float:
    """``value`` as a finite float."""
    try:
        f = float(value)
    except (TypeError, ValueError):
        raise AnnotationError(f"{what} must be a number, got {value!r}.") from None
    if not math.isfinite(f):
        raise AnnotationError(f"{what} must be a finite number, got {value!r}.")
    return f


def xy_point(p: Any, what: str) -> Point:
    """An (x, y) pair (extra items, e.g. a visibility, are ignored)."""
    if not isinstance(p, (tuple, list)) or len(p) < 2:
        raise AnnotationError(f"{what} must be an (x, y) pair, got {p!r}.")
    return (finite_number(p[0], f"{what} x"), finite_number(p[1], f"{what} y"))


def xy_points(value: Any, what: str, minimum: int) -> tuple[Point, ...]:
    """A list of at least ``minimum`` (x, y) pairs."""
    if not isinstance(value, (list, tuple)):
        raise AnnotationError(f"{what} must be a list of (x, y) points.")
    pts = tuple(xy_point(p, f"{what} point {i}") for i, p in enumerate(value))
    if len(pts) < minimum:
        raise AnnotationError(f"{what} needs at least {minimum} points, got {len(pts)}.")
    return pts


@dataclass(frozen=True)
class Keypoint:
    """One landmark; ``visibility`` follows FADA/COCO (0 absent, 1 occluded, 2 visible)."""

    x: float
    y: float
    visibility: int = 2
    name: str = ""


def keypoints(value: Any) -> tuple[Keypoint, ...]:
    """Landmarks from :class:`Keypoint` objects, ``{"x", "y", "visibility", "name"}`` mappings
    or ``[x, y, visibility?, name?]`` lists (FADA triplets)."""
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
        x, y = finite_number(p[0], f"keypoint {i} x"), finite_number(p[1], f"keypoint {i} y")
        out.append(Keypoint(x, y, vis_i, name))
    return tuple(out)
