"""Enhanced multi-frame objects: attributes held in functional groups (PS3.3 C.7.6.16).

Enhanced US Volume and the other enhanced IODs keep per-frame attributes in
the Per-frame Functional Groups Sequence (one item per frame) and those common
to all frames in the Shared Functional Groups Sequence - Pixel Spacing in the
Pixel Measures macro, window in Frame VOI LUT, rescale in Pixel Value
Transformation. :class:`FunctionalGroups` finds the item a frame's value is
in (its own group first, then the shared one); :func:`calibrations` turns the
Pixel Measures into one calibration per frame.
"""

from __future__ import annotations

from fada_desk.core.calibration import Calibration
from fada_desk.sources import dicom_meta
from fada_desk.sources._dicom_attrs import Attrs


class FunctionalGroups:
    """The shared and per-frame functional groups of an enhanced object (empty for other objects)."""

    def __init__(self, attrs: Attrs, n_frames: int) -> None:
        shared = attrs.items("SharedFunctionalGroupsSequence")
        self.shared: Attrs | None = shared[0] if shared else None
        self.per_frame: list[Attrs] = attrs.items("PerFrameFunctionalGroupsSequence")
        if self.per_frame and len(self.per_frame) != n_frames:
            attrs.notes.append(
                f"Per-frame Functional Groups Sequence has {len(self.per_frame)} items for {n_frames} frames"
            )

    @property
    def present(self) -> bool:
        return self.shared is not None or bool(self.per_frame)

    def macro(self, frame: int, seq_kw: str, kw: str) -> Attrs | None:
        """The functional group item of macro ``seq_kw`` holding ``kw`` for ``frame`` (own, else shared)."""
        holders = []
        if frame < len(self.per_frame):
            holders.append(self.per_frame[frame])
        if self.shared is not None:
            holders.append(self.shared)
        for group in holders:
            for item in group.items(seq_kw)[:1]:
                if item.has(kw):
                    return item
        return None


def calibrations(
    groups: FunctionalGroups, n_frames: int, width: int, height: int
) -> tuple[list[Calibration | None], str]:
    """One calibration per frame from the Pixel Measures macro ([] when there is none)."""
    if not groups.present:
        return [], ""
    out: list[Calibration | None] = []
    seen: dict[tuple[float, float], Calibration] = {}
    for i in range(n_frames):
        item = groups.macro(i, "PixelMeasuresSequence", "PixelSpacing")
        spacing = item.numbers("PixelSpacing", strict=False) if item is not None else None
        key = (spacing[0], spacing[1]) if spacing and len(spacing) == 2 else None
        if key is None:
            out.append(None)
            continue
        if key not in seen:
            cal = dicom_meta.spacing_calibration(list(key), width, height)
            if cal is None:
                out.append(None)
                continue
            seen[key] = cal
        out.append(seen[key])
    if not any(c is not None for c in out):
        return [], ""
    return out, "PixelMeasuresSequence"
