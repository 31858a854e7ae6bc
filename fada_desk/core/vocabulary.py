"""The FADA vocabulary: class names, palette, interpretation fields, coordinate scale.

These are facts the FADA model was trained on, reproduced exactly from the public
FADA repository (github.com/mahmoodphd/FADA, ``webapp/constants.py``,
``webapp/inference.py``, ``webapp/output_parser.py``). They live in core, the
ground layer, because every layer speaks this vocabulary: the pipeline prompts
with it, review and export name and colour annotations with it, the GUI lists it.
Prompts, mapping tables and decoding settings stay with the pipeline in
``fada_desk.inference.fada.constants``. Values are pinned by
``tests/inference/fada/test_constants.py`` against independently pasted upstream text.
"""

from __future__ import annotations

import zlib
from types import MappingProxyType
from typing import Final

KEYPOINT_CLASSES: Final[frozenset[str]] = frozenset({"CRL_KP", "NTKpoints", "ScaleBarKpoints"})

COORD_SCALE: Final[int] = 1000             # model coordinates are normalised to [0, 1000)

# The 8 interpretation fields, in prompt order, with upstream's display titles.
INTERPRETATION_FIELDS: Final[tuple[tuple[str, str], ...]] = (
    ("Anatomical Structures", "anatomical_structures"),
    ("Fetal Orientation", "fetal_orientation"),
    ("Imaging Plane", "imaging_plane"),
    ("Biometric Measurements", "biometric_measurements"),
    ("Gestational Age", "gestational_age"),
    ("Image Quality", "image_quality"),
    ("Normality Assessment", "normality_assessment"),
    ("Clinical Recommendations", "clinical_recommendations"),
)
INTERPRETATION_KEYS: Final[tuple[str, ...]] = tuple(k for _, k in INTERPRETATION_FIELDS)

# ---------------------------------------------------------------------------
# Color palette for annotation rendering
# ---------------------------------------------------------------------------

RAW_PALETTE: Final[tuple[str, ...]] = (
    "#E6194B", "#3CB44B", "#FFE119", "#4363D8", "#F58231",
    "#911EB4", "#42D4F4", "#F032E6", "#BFEF45", "#FABED4",
    "#469990", "#DCBEFF", "#9A6324", "#FFFAC8", "#800000",
    "#AAFFC3", "#808000", "#FFD8B1", "#000075", "#A9A9A9",
)

ALL_CLASSES_SORTED: Final[tuple[str, ...]] = tuple(sorted({
    "AB", "B", "Brain", "C", "CRL", "CRL_KP", "CSP", "DP", "G", "H", "LV",
    "MDS", "MLS", "MX", "NB", "NT", "NTAPS", "NTKpoints", "RBP",
    "ScaleBar", "ScaleBarKpoints",
    "abdomen", "arm", "artery", "cardiac",
    "fetal_head", "head", "legs", "liver",
    "nasal_bone", "nasal_skin", "nasal_tip",
    "pubic_symphysis", "stomach", "thorax", "vein",
}))

CLASS_COLORS: Final = MappingProxyType({
    cls_name: RAW_PALETTE[i % len(RAW_PALETTE)]
    for i, cls_name in enumerate(ALL_CLASSES_SORTED)
})


def class_color(label: str) -> tuple[int, int, int]:
    """RGB of a class. Unknown labels get a *stable* palette entry.

    Upstream uses ``hash(label)``, which Python salts per process; a stable
    CRC keeps overlays identical between runs and exports.
    """
    hex_color = CLASS_COLORS.get(label)
    if hex_color is None:
        hex_color = RAW_PALETTE[zlib.crc32(label.encode("utf-8")) % len(RAW_PALETTE)]
    h = hex_color.lstrip("#")
    return (int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16))




# ---------------------------------------------------------------------------
# Full names of the class codes, for lists (the image keeps the short code)
# ---------------------------------------------------------------------------

# Upstream's "Abbreviation Quick Reference" (webapp/app.py, ANATOMY_REF_ABBREV_MD, "Full Name"
# column), copied exactly. Upstream names no full name for "nasal_bone", "nasal_skin" and
# "nasal_tip" (they are not in that table): those are shown as their code.
CLASS_NAMES: Final = MappingProxyType({
    "AB": "Abdomen",
    "B": "Body",
    "Brain": "Brain (whole structure)",
    "C": "Chest (Thorax)",
    "CRL": "Crown-Rump Length",
    "CSP": "Cavum Septum Pellucidum",
    "DP": "Diencephalon",
    "G": "Genital Tubercle",
    "H": "Head",
    "LV": "Lateral Ventricle",
    "MDS": "Mandible Symphysis",
    "MLS": "Mandible Lower Surface",
    "MX": "Maxilla",
    "NB": "Nasal Bone",
    "NT": "Nuchal Translucency",
    "NTAPS": "Nasal Tip and Pre-nasal Skin",
    "RBP": "Rhombencephalon (Hindbrain)",
    "cardiac": "Heart",
    "thorax": "Thorax / Chest cavity",
    "artery": "Umbilical Artery",
    "vein": "Umbilical Vein",
    "liver": "Liver",
    "stomach": "Stomach",
    "abdomen": "Abdomen (full-word)",
    "arm": "Arm / upper limb",
    "head": "Head (full-word)",
    "legs": "Legs / lower limbs",
    "fetal_head": "Fetal Head",
    "pubic_symphysis": "Pubic Symphysis",
    "CRL_KP": "CRL Keypoints",
    "NTKpoints": "NT Keypoints",
    "ScaleBar": "Scale Bar",
    "ScaleBarKpoints": "Scale Bar Keypoints",
})

# Upstream marks the full-word classes ("abdomen", "head") apart from the letter codes ("AB", "H");
# a list that shows the code next to every abbreviation needs no such note.
_FULL_WORD_NOTE = " (full-word)"


def _words(text: str) -> str:
    return " ".join("".join(ch if ch.isalnum() else " " for ch in text.lower()).split())


def class_title(code: str) -> str:
    """How a list names a class: FADA's full name, with the code unless the name begins with the
    code as a word ("Abdomen (AB)", "Head (H)", "Heart (cardiac)", "Liver", "Head",
    "Brain (whole structure)"). A code FADA gives no full name (``nasal_bone``) and free text
    are shown as they are."""
    name = CLASS_NAMES.get(code)
    if name is None:
        return code
    name = name.removesuffix(_FULL_WORD_NOTE)
    words, head = _words(name), _words(code)
    return name if words == head or words.startswith(head + " ") else f"{name} ({code})"
