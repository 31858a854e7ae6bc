"""Human in the loop: which steps to run after Interpret, and on which structures.

After the interpret phase the pipeline maps the view to the classes worth
detecting and segmenting (a :class:`~fada_desk.inference.fada.mapper.ClassMapping`).
:func:`step_defaults` turns that mapping into the choices offered first (the
mapped structures ticked and listed first, keypoints on a CRL / NT view with
the matching keypoint classes); the sonographer changes them, and
:func:`choose_steps` checks the final choice and returns the (phase, classes)
steps to run, in run order. Nothing here touches Qt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from fada_desk.app.analysis_phases import phase_title
from fada_desk.core.errors import FadaError
from fada_desk.core.vocabulary import ALL_CLASSES_SORTED, KEYPOINT_CLASSES
from fada_desk.inference.fada.mapper import (
    CRL_KEYPOINT_CLASSES,
    NT_KEYPOINT_CLASSES,
    keypoint_classes_for,
)

#: Structures that can be detected / segmented (keypoint classes have their own step).
STEP_CLASSES: tuple[str, ...] = tuple(c for c in ALL_CLASSES_SORTED if c not in KEYPOINT_CLASSES)
#: (title, classes) of the keypoint step's choices.
KEYPOINT_CHOICES: tuple[tuple[str, str], ...] = (
    ("CRL end points + scale bar", CRL_KEYPOINT_CLASSES),
    ("NT calipers + scale bar", NT_KEYPOINT_CLASSES),
)


def _classes(text: str | None) -> frozenset[str]:
    return frozenset(c.strip() for c in (text or "").split(",") if c.strip())


@dataclass(frozen=True)
class StepDefaults:
    """The choices offered first for a mapping (or none yet)."""

    classes: tuple[str, ...]  # STEP_CLASSES, the mapped ones first
    detect: frozenset[str]
    segment: frozenset[str]
    keypoints: bool  # the view calls for keypoints
    keypoint_choice: int  # index into KEYPOINT_CHOICES


def step_defaults(mapping: Any) -> StepDefaults:
    """What to tick first for ``mapping`` (a ClassMapping, or None before Interpret)."""
    det = _classes(mapping.det_classes if mapping else "")
    seg = _classes(mapping.seg_classes if mapping else "")
    ordered = tuple(sorted(STEP_CLASSES, key=lambda c: (c not in det and c not in seg, c.lower())))
    kp = keypoint_classes_for(mapping.det_classes) if mapping else None
    return StepDefaults(ordered, det, seg, kp is not None, 1 if kp == NT_KEYPOINT_CLASSES else 0)


def choose_steps(detect: Sequence[str] | None = None, segment: Sequence[str] | None = None,
                 keypoints: str | None = None) -> list[tuple[str, str]]:
    """(phase, classes) to run, in run order. ``None``: the step is not ticked; a sequence:
    the structures ticked for it; ``keypoints``: the keypoint classes when ticked.

    Raises FadaError with what to do when a ticked step has no structure or nothing is ticked.
    """
    steps: list[tuple[str, str]] = []
    for phase, classes in (("detect", detect), ("segment", segment)):
        if classes is None:
            continue
        if not classes:
            raise FadaError(f"Tick at least one structure to {phase} (column '{phase_title(phase)}').")
        steps.append((phase, ", ".join(classes)))
    if keypoints is not None:
        steps.append(("keypoints", str(keypoints)))
    if not steps:
        raise FadaError("Tick a step to run: Detect, Segment or Keypoints.")
    return steps


def class_list_text(classes: Any) -> str:
    """A FADA class string ("B, CRL, H") spelled out for people ("Brain (B), ..."); "–" when empty."""
    from fada_desk.core.vocabulary import class_title

    names = [class_title(c.strip()) for c in str(classes or "").split(",") if c.strip()]
    return ", ".join(names) or "–"


def mapping_text(mapping: Any) -> str:
    """The mapping line of the AI panel for a run's ClassMapping."""
    return (f"Mapped classes: detect {class_list_text(mapping.det_classes)}; "
            f"segment {class_list_text(mapping.seg_classes)} (tier {mapping.tier}, priority {mapping.priority})")


def stored_mapping_text(values: Mapping[str, Any], tier: str | None) -> str:
    """The mapping line for an interpretation stored in the exam (its reviewed values)."""
    return (f"Mapped classes: detect {class_list_text(values.get('det_classes'))}; "
            f"segment {class_list_text(values.get('seg_classes'))} (tier {tier or '–'})")
