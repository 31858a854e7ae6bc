"""Immutable records returned by the exam store.

They are snapshots: changing the store never changes a record you hold; ask
the store again. ``id`` fields are the store's internal integer keys;
``Patient.patient_id`` is the hospital MRN the user typed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from fada_desk.core.calibration import Calibration
from fada_desk.core.dating import Dating, derive_dating

SEXES = ("", "F", "M", "O")  # DICOM (0010,0040) plus unknown


class ItemKind(str, Enum):
    """What a captured item is (``str`` values: they compare equal to the stored text)."""

    IMAGE = "image"
    CLIP = "clip"

    def __str__(self) -> str:
        return self.value


class ExamStatus(str, Enum):
    OPEN = "open"
    COMPLETED = "completed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


EXAM_STATUSES = tuple(s.value for s in ExamStatus)


@dataclass(frozen=True)
class Patient:
    id: int
    patient_id: str
    name: str = ""
    dob: dt.date | None = None
    sex: str = ""
    damage: tuple[str, ...] = ()  # why stored values could not be read (see Exam.damage)

    @property
    def display_name(self) -> str:
        """``FAMILY, Given`` for a DICOM person name, the free text otherwise."""
        if "^" not in self.name:
            return self.name
        parts = [p.strip() for p in self.name.split("^")]
        family, given = parts[0], " ".join(p for p in parts[1:3] if p)
        return f"{family}, {given}" if family and given else (family or given)


@dataclass(frozen=True)
class Exam:
    id: int
    uid: str
    patient: Patient
    created_at: dt.datetime  # aware, UTC
    exam_date: dt.date  # local calendar date at the scanner; GA refers to it
    lmp: dt.date | None = None  # as given
    edd: dt.date | None = None  # as given
    operator: str = ""
    referring: str = ""
    notes: str = ""
    status: ExamStatus = ExamStatus.OPEN
    # Why this exam is damaged: unreadable values of its row, its patient's row, or item rows
    # that were left out (empty = healthy). A damaged exam is shown and exported as far as
    # readable; its own row is never rewritten.
    damage: tuple[str, ...] = ()

    @property
    def damaged(self) -> bool:
        return bool(self.damage)

    @property
    def patient_id(self) -> str:
        return self.patient.patient_id

    @property
    def dating(self) -> Dating | None:
        """LMP, EDD (given or derived) and GA at the exam date; None if neither given."""
        return derive_dating(self.lmp, self.edd, self.exam_date)

    @property
    def ga_days(self) -> int | None:
        d = self.dating
        return d.ga_days if d else None

    @property
    def ga_label(self) -> str:
        """``23w4d`` at the exam date, or "" when undated."""
        d = self.dating
        return d.ga_label if d else ""


@dataclass(frozen=True)
class ExamSummary:
    """One row of the exam list."""

    exam: Exam
    n_items: int

    @property
    def id(self) -> int:
        return self.exam.id

    @property
    def uid(self) -> str:
        return self.exam.uid

    @property
    def patient(self) -> Patient:
        return self.exam.patient

    @property
    def patient_id(self) -> str:
        return self.exam.patient.patient_id

    @property
    def patient_name(self) -> str:
        return self.exam.patient.name

    @property
    def created_at(self) -> dt.datetime:
        return self.exam.created_at

    @property
    def exam_date(self) -> dt.date:
        return self.exam.exam_date

    @property
    def operator(self) -> str:
        return self.exam.operator

    @property
    def ga_label(self) -> str:
        return self.exam.ga_label

    @property
    def status(self) -> str:
        return self.exam.status

    @property
    def damage(self) -> tuple[str, ...]:
        """Why the exam is damaged (empty = healthy), see :attr:`Exam.damage`."""
        return self.exam.damage

    @property
    def damaged(self) -> bool:
        return self.exam.damaged


@dataclass(frozen=True)
class CapturedItem:
    """A still image or a clip saved in an exam.

    ``media_path`` is relative to the store's media root ('/' separated);
    ``sha256`` is the hash of that file's bytes. ``frame_index`` and
    ``timestamp`` describe the (first) frame in its source.
    ``calibration_version`` is 0 when the item was never calibrated.
    """

    id: int
    exam_id: int
    kind: ItemKind
    created_at: dt.datetime
    width: int
    height: int
    channels: int
    n_frames: int
    sha256: str
    media_path: str
    size_bytes: int
    source_uri: str = ""
    frame_index: int | None = None
    timestamp: float | None = None
    fps: float | None = None
    calibration: Calibration | None = None
    calibration_version: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    deleted_at: dt.datetime | None = None

    @property
    def is_clip(self) -> bool:
        return self.kind is ItemKind.CLIP

    @property
    def is_color(self) -> bool:
        return self.channels == 3

    @property
    def deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def duration_s(self) -> float | None:
        if self.fps and self.n_frames > 1:
            return self.n_frames / self.fps
        return None


@dataclass(frozen=True)
class CalibrationRecord:
    """One version of an item's calibration (None = calibration removed)."""

    item_id: int
    version: int
    calibration: Calibration | None
    source: str
    created_at: dt.datetime
