"""A phase's raw answer turned into results: parsing into a PhaseResult, and chat reply text.

:func:`parse_answer` is pure and deterministic (the result cache stores raw
text only and re-parses with it, so parser fixes apply to old answers too).
:func:`interpretation_text` and :func:`annotation_text` are the Markdown
replies of the chat mode, worded like upstream FADA's chat tab.
"""

from __future__ import annotations

import logging

from fada_desk.inference.fada import constants as C
from fada_desk.inference.fada.json_repair import clean_output, extract_json
from fada_desk.inference.fada.parsing import (
    extract_cls_label,
    format_interpretation,
    normalize_interpretation,
    parse_predictions,
)
from fada_desk.inference.fada.results import PhaseResult, PhaseState

log = logging.getLogger(__name__)


# A FADA answer is at most MAX_NEW_TOKENS (1024) tokens, a few thousand characters; beyond this
# (10x headroom for raised token limits) it is not one, and parsing it would only cost seconds.
MAX_ANSWER_CHARS = 256_000


def parse_answer(result: PhaseResult, width: int, height: int) -> PhaseResult:
    """Clean and parse ``result.raw_text`` for its phase; coordinates onto a ``width`` x ``height`` frame.

    Never raises for any text (from the model without grammar, the result
    cache or a remote server): what cannot be used is a parse error with the
    reason (``parse_ok`` False, ``parse_errors``).
    """
    raw = result.raw_text
    if not isinstance(raw, str):
        return _refuse(result, f"The answer is {type(raw).__name__}, not text")
    if len(raw) > MAX_ANSWER_CHARS:
        return _refuse(result, f"The answer is {len(raw):,} characters long (at most {MAX_ANSWER_CHARS:,})")
    if isinstance(width, bool) or not isinstance(width, int) or isinstance(height, bool) \
            or not isinstance(height, int) or width < 1 or height < 1:
        return _refuse(result, f"No image size to map the answer onto ({width!r} x {height!r})")
    try:
        return _parse(result, width, height)
    except Exception as exc:  # noqa: BLE001 - a parser bug must not take the analysis down
        log.error("parsing the %s answer failed", result.phase, exc_info=True)
        return _refuse(result, " ".join(f"{INTERNAL_ERROR}: {type(exc).__name__}: {exc}".split())[:300])


INTERNAL_ERROR = "Internal parser error"


def _refuse(result: PhaseResult, reason: str) -> PhaseResult:
    result.parse_ok = False
    result.interpretation = result.label = result.predictions = result.predictions_norm = None
    result.parse_errors.append(reason)
    return result


def _no_json(ext_reason: str) -> str:
    return "No valid JSON found in output" + (f": {ext_reason}" if ext_reason else "")


def _parse(result: PhaseResult, width: int, height: int) -> PhaseResult:
    cleaned = clean_output(result.raw_text)
    result.cleaned_text = cleaned.text
    result.notes.extend(cleaned.notes)
    phase = result.phase
    if phase == "interpret":
        ext = extract_json(cleaned.text, prefer="object")
        interp = normalize_interpretation(ext.value)
        result.notes.extend(ext.notes)
        result.truncated = result.truncated or ext.truncated
        result.parse_ok = interp is not None
        result.interpretation = interp
        if interp is None:
            result.parse_errors.append("The interpretation is not a JSON object"
                                       + (f": {ext.reason}" if ext.reason else ""))
        else:
            missing = [k for k in C.INTERPRETATION_KEYS if k not in interp]
            if missing:
                result.parse_errors.append("Missing fields: " + ", ".join(missing))
    elif phase == "classify":
        ext = extract_json(cleaned.text, prefer="object")
        result.notes.extend(ext.notes)
        label, source = extract_cls_label(ext.value if isinstance(ext.value, dict) else None, cleaned.text)
        result.label, result.label_source = label, source
        result.parse_ok = label is not None
        if label is None:
            result.parse_errors.append("No classification label in the answer"
                                       + (f": {ext.reason}" if ext.reason else ""))
    else:
        ext = extract_json(cleaned.text, prefer="array")
        result.notes.extend(ext.notes)
        result.truncated = result.truncated or ext.truncated
        norm = parse_predictions(ext.value, truncated=result.truncated)
        if ext.value is None and ext.reason:
            norm.errors[:] = [_no_json(ext.reason)]
        result.predictions_norm = norm
        result.predictions = norm.to_pixels(width, height)
        result.parse_errors.extend(norm.errors)
        result.parse_ok = ext.value is not None
    return result


def interpretation_text(phase: PhaseResult, label: str | None) -> str:
    """The chat reply after interpret + classify: the fields as rows, or the raw text."""
    if phase.interpretation is None:
        text = f"**Interpretation (raw):**\n```\n{phase.cleaned_text[:1000]}\n```"
    else:
        rows = [f"**{title}:** {value}\n" for title, value in format_interpretation(phase.interpretation)]
        text = "\n".join(["**Clinical Interpretation:**\n", *rows])
    if label:
        text += f"\n**Classification:** {label}"
    return text + (
        "\n\n---\nYou can now ask me to **detect** or **segment** specific "
        "structures. For example: 'detect brain structures' or 'segment cardiac'."
    )


def annotation_text(task_name: str, res: PhaseResult) -> str:
    """The chat reply after a detect/segment phase: what was found, or why nothing was."""
    if res.status == PhaseState.ERROR:
        return f"**{task_name} failed:** {res.error}"
    if res.status == PhaseState.SKIPPED:
        return f"**{task_name} skipped:** {res.error}"
    p = res.predictions
    if p is None or p.count == 0:
        return (
            f"**{task_name}:** No structures found in this image for the requested classes. "
            "The model may not detect these structures on this particular view."
        )
    parts = [
        f"{n} {what}"
        for n, what in (
            (len(p.detections), "detections"),
            (len(p.segmentations), "masks"),
            (len(p.keypoints), "keypoints"),
        )
        if n
    ]
    labels = ", ".join(sorted(p.labels)) or "none"
    text = f"**{task_name} results** ({', '.join(parts)}: {labels})"
    if res.parse_errors:
        text += f"\n_Parse warnings: {len(res.parse_errors)}_"
    return text
