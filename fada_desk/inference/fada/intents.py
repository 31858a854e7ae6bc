"""Chat messages -> tasks, the rule-based way upstream FADA does it (``webapp/intent_parser.py``).

Order of checks: empty message with an image -> interpret; greeting; segment
(before detect: "segment" is more specific); detect; classify; interpret;
image without interpretation -> interpret; with an interpretation, a bare
anatomy word -> detect; otherwise "general". Classes come from the anatomy
table (first substring match wins), then the keyword fallback, then a
word-boundary "nt", then "all"/"everything" -> the default body classes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fada_desk.inference.fada.constants import (
    ANATOMY_TO_GROUP,
    CLASSIFY_KW,
    DEFAULT_DETECT_CLASSES,
    DETECT_KW,
    GREETING_KW,
    INTERPRET_KW,
    KEYWORD_FALLBACK,
    ROUTING_GROUP_MAP,
    SEGMENT_KW,
)

TASKS = ("interpret", "detect", "segment", "classify", "greeting", "general")


@dataclass(frozen=True)
class Intent:
    task: str  # one of TASKS
    classes: str | None = None
    seg_classes: str | None = None


def extract_classes(text: str) -> tuple[str | None, str | None]:
    """(detection classes, segmentation classes) named in ``text``."""
    low = text.lower()
    for name, group in ANATOMY_TO_GROUP.items():
        if name in low and group in ROUTING_GROUP_MAP:
            return ROUTING_GROUP_MAP[group]
    for keywords, det, seg in KEYWORD_FALLBACK:
        if any(kw in low for kw in keywords):
            return det, seg
    # "nt" cannot be in the table: it would match inside "segment"
    if re.search(r"\bnt\b", low) and "nt_nasal" in ROUTING_GROUP_MAP:
        return ROUTING_GROUP_MAP["nt_nasal"]
    if re.search(r"\b(all|every|everything)\b", low):
        return DEFAULT_DETECT_CLASSES, None
    return None, None


def parse_intent(user_text: str, has_image: bool = False, has_interpretation: bool = False) -> Intent:
    text = user_text.strip().lower()
    if not text and has_image:
        return Intent("interpret")
    for kw in GREETING_KW:
        if text.startswith(kw) or f" {kw}" in text:
            if has_image and not has_interpretation:
                return Intent("interpret")
            return Intent("greeting")
    if any(kw in text for kw in SEGMENT_KW):
        det, seg = extract_classes(text)
        return Intent("segment", classes=det or seg, seg_classes=seg)
    if any(kw in text for kw in DETECT_KW):
        det, _seg = extract_classes(text)
        return Intent("detect", classes=det)
    if any(kw in text for kw in CLASSIFY_KW):
        return Intent("classify")
    if any(kw in text for kw in INTERPRET_KW):
        return Intent("interpret")
    if has_image and not has_interpretation:
        return Intent("interpret")
    if has_interpretation:
        det, _seg = extract_classes(text)
        if det:
            return Intent("detect", classes=det)
    return Intent("general")
