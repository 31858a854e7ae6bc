"""Physical calibration of a frame (mm per pixel).

Two origins:

* DICOM *Sequence of Ultrasound Regions* (0018,6011): each region has its own
  pixel spacing, valid only inside its bounding box and only when its physical
  units are cm (code 3). A B-mode image with a Doppler strip has two regions with
  different spacings; a point outside every calibrated region has no spacing.
* Manual: the sonographer clicks two points on the scanner's depth scale and
  types the known distance; the spacing applies to the whole frame (isotropic).

All coordinates are (x, y) in image pixels, x to the right, y down.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from fada_desk.core.errors import CalibrationError

# DICOM PS3.3 C.8.5.5.1.2 Physical Units X/Y Direction codes
UNIT_NONE, UNIT_PERCENT, UNIT_DB, UNIT_CM, UNIT_SECONDS, UNIT_HERTZ = 0, 1, 2, 3, 4, 5
UNIT_NAMES = {0: "none", 1: "percent", 2: "dB", 3: "cm", 4: "seconds", 5: "hertz", 6: "dB/seconds",
              7: "cm/sec", 8: "cm2", 9: "cm2/sec", 10: "cm3", 11: "cm3/sec", 12: "degrees"}


@dataclass(frozen=True)
class Region:
    """One ultrasound region: an axis-aligned box with its own spacing.

    ``x0, y0, x1, y1`` are inclusive pixel bounds (Region Location Min/Max).
    ``delta_x``/``delta_y`` are Physical Delta X/Y in the region's units
    (cm for units 3). ``spatial_format``/``data_type`` keep the DICOM codes
    (1 = 2D, 2 = M-mode, 3 = spectral, 4 = wave form; data type 1 = tissue ...).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    delta_x: float
    delta_y: float
    units_x: int = UNIT_CM
    units_y: int = UNIT_CM
    spatial_format: int = 1
    data_type: int = 1

    def contains(self, x: float, y: float) -> bool:
        return self.x0 <= x <= self.x1 + 1 and self.y0 <= y <= self.y1 + 1

    @property
    def is_spatial_cm(self) -> bool:
        # Physical Delta X/Y may be negative (it carries the axis direction); its magnitude is the spacing.
        return (self.units_x == UNIT_CM and self.units_y == UNIT_CM
                and math.isfinite(self.delta_x) and math.isfinite(self.delta_y)
                and self.delta_x != 0 and self.delta_y != 0)

    @property
    def mm_per_px(self) -> tuple[float, float]:
        """(x, y) mm per pixel; only meaningful when :attr:`is_spatial_cm`."""
        return (abs(self.delta_x) * 10.0, abs(self.delta_y) * 10.0)

    def to_dict(self) -> dict[str, Any]:
        return {"x0": self.x0, "y0": self.y0, "x1": self.x1, "y1": self.y1,
                "delta_x": self.delta_x, "delta_y": self.delta_y,
                "units_x": self.units_x, "units_y": self.units_y,
                "spatial_format": self.spatial_format, "data_type": self.data_type}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Region:
        return cls(**{k: d[k] for k in ("x0", "y0", "x1", "y1", "delta_x", "delta_y")},
                   units_x=d.get("units_x", UNIT_CM), units_y=d.get("units_y", UNIT_CM),
                   spatial_format=d.get("spatial_format", 1), data_type=d.get("data_type", 1))


@dataclass(frozen=True)
class ManualCalibration:
    """Two points on the depth scale and the known distance between them."""

    p1: tuple[float, float]
    p2: tuple[float, float]
    distance_mm: float

    def __post_init__(self) -> None:
        if not (self.distance_mm > 0 and math.isfinite(self.distance_mm)):
            raise CalibrationError("Calibration distance must be a positive number of millimetres.")
        if self.pixel_length < 2.0:
            raise CalibrationError("Calibration points are too close together (need at least 2 pixels).")

    @property
    def pixel_length(self) -> float:
        return math.dist(self.p1, self.p2)

    @property
    def mm_per_px(self) -> float:
        return self.distance_mm / self.pixel_length

    def to_dict(self) -> dict[str, Any]:
        return {"p1": list(self.p1), "p2": list(self.p2), "distance_mm": self.distance_mm}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ManualCalibration:
        return cls(tuple(d["p1"]), tuple(d["p2"]), float(d["distance_mm"]))  # type: ignore[arg-type]


@dataclass(frozen=True)
class Calibration:
    """Calibration of one frame: DICOM regions and/or a manual calibration.

    A manual calibration, when present, wins: the user set it on purpose.
    """

    regions: tuple[Region, ...] = ()
    manual: ManualCalibration | None = None
    source: str = field(default="")  # "dicom", "manual"

    @property
    def is_calibrated(self) -> bool:
        return self.manual is not None or any(r.is_spatial_cm for r in self.regions)

    def region_at(self, x: float, y: float) -> Region | None:
        """The calibrated (cm) region containing the point, or None."""
        for r in self.regions:
            if r.is_spatial_cm and r.contains(x, y):
                return r
        return None

    def mm_per_px_at(self, x: float, y: float) -> tuple[float, float] | None:
        if self.manual is not None:
            s = self.manual.mm_per_px
            return (s, s)
        r = self.region_at(x, y)
        return r.mm_per_px if r is not None else None

    def distance_mm(self, p1: tuple[float, float], p2: tuple[float, float]) -> float:
        """Physical distance between two points; both must lie in one calibrated region."""
        sx, sy = self._common_spacing([p1, p2])
        return math.hypot((p2[0] - p1[0]) * sx, (p2[1] - p1[1]) * sy)

    def spacing_for(self, points: list[tuple[float, float]]) -> tuple[float, float]:
        """(mm/px x, mm/px y) valid for all points, or raise CalibrationError."""
        return self._common_spacing(points)

    def _common_spacing(self, points: list[tuple[float, float]]) -> tuple[float, float]:
        if self.manual is not None:
            s = self.manual.mm_per_px
            return (s, s)
        if not self.is_calibrated:
            raise CalibrationError("This frame is not calibrated: calibrate it on the depth scale first.")
        regions = {self.region_at(x, y) for x, y in points}
        if None in regions:
            raise CalibrationError("A measurement point lies outside every calibrated (cm) region.")
        if len(regions) > 1:
            raise CalibrationError("Measurement points span different ultrasound regions.")
        (region,) = regions
        assert region is not None
        return region.mm_per_px

    def with_manual(self, manual: ManualCalibration | None) -> Calibration:
        return Calibration(self.regions, manual, "manual" if manual else self.source)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "regions": [r.to_dict() for r in self.regions],
                "manual": self.manual.to_dict() if self.manual else None}

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Calibration | None:
        if not d:
            return None
        manual = ManualCalibration.from_dict(d["manual"]) if d.get("manual") else None
        return cls(tuple(Region.from_dict(r) for r in d.get("regions", [])), manual, d.get("source", ""))
