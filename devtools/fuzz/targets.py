"""The real entry points each fuzz input goes through (run inside a worker process).

* files (DICOM, images, video): ``fada-desk info PATH`` and the frame-source
  API (:func:`fada_desk.sources.open_source`) reading every frame, with the
  document ``fada-desk info --json`` prints;
* exam stores: :meth:`ExamStore.open`, the patient and exam lists, every
  exam (record, items, each item's frames, review document) and its export
  to JSON and PNG, and in a quarter of the cases PDF (the jobs of
  ``fada-desk export``), then close;
* model answers: :func:`fada_desk.inference.fada.answers.parse_answer` for
  the answer's phase, the result's dict round trip and JSON (analysis.json),
  and for an interpretation the class mapping.

Each stage gives an :class:`~devtools.fuzz.core.Outcome`; the input's is the
worst. Contract checks turn a wrong result into a crash too: a frame that is
not a non-empty uint8/uint16 array, a coordinate that is not finite or lies
outside the image, a parse error that is not one line of text.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from devtools.fuzz.core import ACCEPTED, CLEAN, Outcome, exception_outcome, invalid, worst

MAX_FRAMES = 100_000  # a fuzzed file is < 2 MB: more frames than this is a count the source did not check


def stage(name: str, fn: Callable[[], Outcome | None]) -> Outcome:
    try:
        out = fn()
    except BaseException as err:  # noqa: BLE001 - classifying every failure is the point
        if isinstance(err, KeyboardInterrupt):
            raise
        return exception_outcome(err, name)
    return out if out is not None else Outcome(ACCEPTED, stage=name)


def run_file(path: Path) -> Outcome:
    """``fada-desk info`` (its table), then every frame through open_source (and info's JSON document)."""
    from fada_desk.cli import info

    def cli() -> None:
        with contextlib.redirect_stdout(io.StringIO()):
            info.run(argparse.Namespace(path=str(path), json=False))

    result = stage("info", cli)
    return worst(result, stage("open_source", lambda: read_all_frames(path)))


def read_all_frames(path: Path) -> Outcome | None:
    import numpy as np

    from fada_desk.cli.info import describe
    from fada_desk.sources import open_source

    with open_source(path) as src:
        json.dumps(describe(src.info), indent=2, ensure_ascii=False, default=str)  # `fada-desk info --json`
        n = src.info.frame_count
        if n is None or n < 0 or n > MAX_FRAMES:
            return invalid(f"frame count {n!r}", "open_source")
        for i in range(n):
            px = src.read(i).pixels
            if not isinstance(px, np.ndarray) or px.size == 0 or px.dtype not in (np.uint8, np.uint16):
                return invalid("a frame that is not a non-empty uint8/uint16 array", "read")
    return None


def run_store(store_dir: Path, out_dir: Path, formats: Sequence[str] = ("json", "png", "pdf")) -> Outcome:
    """Open, list, read every exam and export it, as the exam browser and ``fada-desk export`` do."""
    from fada_desk.storage import ExamStore

    box: dict[str, Any] = {}

    def open_store() -> None:
        box["store"] = ExamStore.open(store_dir)

    result = stage("open", open_store)
    store = box.get("store")
    if store is None:
        return result
    try:
        ids: list[int] = []

        def lists() -> None:
            store.list_patients()
            ids.extend(s.id for s in store.list_exams())

        result = worst(result, stage("list", lists))
        for exam_id in ids or [1, 2]:
            result = worst(result, stage("exam", lambda e=exam_id: read_exam(store, e)))
            result = worst(result, stage("export", lambda e=exam_id: export(store, e, out_dir / str(e), formats)))
    finally:
        result = worst(result, stage("close", store.close))
    return result


def read_exam(store: Any, exam_id: int) -> None:
    from fada_desk.storage.review import ReviewStore

    store.get_exam(exam_id)
    for item in store.list_items(exam_id):
        if str(getattr(item.kind, "value", item.kind)) == "clip":
            for _ in store.iter_clip(item.id):
                pass
        else:
            store.load_frame(item.id)
        store.calibration_history(item.id)
    ReviewStore(store).load(exam_id)


def export(store: Any, exam_id: int, out_dir: Path, formats: Sequence[str]) -> None:
    from fada_desk.app.export import ExamExport
    from fada_desk.export.options import ClinicHeader

    job = ExamExport(store, exam_id, clinic=ClinicHeader("Fuzz clinic", "", ""))
    job.run(formats, out_dir, job.options(include_pending=True, operator="Fuzz Reviewer"))


def run_answer(path: Path, width: int = 800, height: int = 540) -> Outcome:
    from devtools.fuzz.answers import read_answer

    phase, text = read_answer(path)
    return stage("parse_answer", lambda: parse(phase, text, width, height))


def parse(phase: str, text: str, width: int, height: int) -> Outcome | None:
    from fada_desk.inference.fada.answers import parse_answer
    from fada_desk.inference.fada.mapper import map_interpretation_to_classes
    from fada_desk.inference.fada.results import PhaseResult

    res = parse_answer(PhaseResult(phase, raw_text=text), width, height)
    for err in res.parse_errors:
        if not isinstance(err, str) or not err.strip() or "\n" in err.strip():
            return invalid("a parse error that is not one line of text", "parse_answer", repr(err)[:500])
    bad = _bad_coordinate(res.predictions, width, height)
    if bad:
        return invalid(bad, "parse_answer")
    again = PhaseResult.from_dict(json.loads(json.dumps(res.to_dict(), ensure_ascii=False)))
    json.dumps(again.to_dict(), ensure_ascii=False).encode("utf-8")  # what analysis.json holds
    if res.interpretation is not None:
        map_interpretation_to_classes(res.interpretation, res.label)
    if res.parse_ok and not res.parse_errors:
        return None
    # Refused (or items dropped) with a reason: what the review panel shows.
    return Outcome(CLEAN, message=res.parse_errors[0] if res.parse_errors else "not parsed", stage="parse_answer")


def _bad_coordinate(pred: Any, width: int, height: int) -> str:
    if pred is None:
        return ""
    for item in (*pred.detections, *pred.segmentations, *pred.keypoints):
        xs = [item.box[0], item.box[2]]
        ys = [item.box[1], item.box[3]]
        pts = getattr(item, "polygon", None) or getattr(item, "points", ())
        xs += [p[0] for p in pts]
        ys += [p[1] for p in pts]
        for v, limit in [(x, width) for x in xs] + [(y, height) for y in ys]:
            if not isinstance(v, (int, float)) or not math.isfinite(v):
                return "a coordinate that is not a finite number"
            if not 0 <= v <= limit:
                return "a coordinate outside the image"
    return ""
