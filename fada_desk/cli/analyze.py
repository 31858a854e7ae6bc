"""``fada-desk analyze PATH``: run the FADA pipeline on an image, cine, DICOM or a folder of them.

Writes ``analysis.json`` (every phase: prompt, raw model text, parsed result
in pixel coordinates of the frame, mapping tier, timings, generation stats,
model hashes) and overlay PNGs (``detect.png``, ``segment.png``,
``keypoints.png``) per input. A folder is a batch: one sub-folder per file
plus ``batch_summary.json``; a failing file is reported and the batch goes on.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path
from typing import Any


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("analyze", help="run the FADA pipeline on an image/DICOM/video or a folder (batch)")
    p.add_argument("path", help="image, DICOM or video file, or a folder of them")
    p.add_argument(
        "--frame", type=int, default=0, metavar="N", help="frame index in a cine/video (default 0)"
    )
    p.add_argument(
        "--mode",
        choices=("autonomous", "interpret"),
        default="autonomous",
        help="autonomous: all phases; interpret: interpret + classify + map only",
    )
    p.add_argument(
        "--model-dir",
        required=True,
        metavar="DIR",
        help="folder with the model GGUF and the mmproj GGUF (or an installed set name)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder")
    p.add_argument(
        "--max-side",
        type=int,
        default=None,
        metavar="N",
        help="resize the longest image side to N pixels for the model (default 1024, as upstream)",
    )
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    p.add_argument(
        "--no-grammar", action="store_true", help="do not constrain decoding with the JSON grammars"
    )
    p.add_argument(
        "--no-keypoints", action="store_true", help="skip the extra keypoint phase on CRL/NT views"
    )
    p.add_argument("--no-cache", action="store_true", help="always run the model (ignore cached answers)")
    p.add_argument("--threads", type=int, default=None, metavar="N", help="CPU threads for llama.cpp")
    p.add_argument(
        "--gpu-layers",
        type=int,
        default=None,
        metavar="N",
        help="layers to offload to the GPU (-1 = all; default: the backend's choice)",
    )
    return p


def _natural_key(p: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", p.name)]


def collect_inputs(path: Path) -> list[Path]:
    """The files to analyse: ``path`` itself, or the supported files of a folder (natural order)."""
    from fada_desk.core.errors import SourceError

    if path.is_file():
        return [path]
    if not path.is_dir():
        raise SourceError(f"{path}: no such file or directory")
    from fada_desk.sources import SOURCES

    files = []
    for f in sorted(
        (f for f in path.iterdir() if f.is_file() and not f.name.startswith(".")), key=_natural_key
    ):
        for name in SOURCES:
            if name in ("folder", "capture", "stream"):
                continue
            try:
                if SOURCES.get(name).probe(str(f)) > 0:
                    files.append(f)
                    break
            except ImportError:
                continue
    if not files:
        raise SourceError(f"{path}: no images, DICOM or video files in this folder")
    return files


def load_frame(path: Path, index: int) -> Any:
    from fada_desk.core.errors import SourceError
    from fada_desk.sources import open_source

    with open_source(path) as src:
        n = src.info.frame_count
        if n is not None and not (0 <= index < n):
            raise SourceError(f"{path.name}: frame {index} does not exist (the file has {n} frame(s))")
        return src.read(index)


def write_outputs(result: Any, frame: Any, out: Path) -> list[Path]:
    """analysis.json + one overlay PNG per annotating phase with predictions.

    Overlays go through the same annotation renderer as the exam exports, so the
    CLI, the PNG/PDF exports and the screen show AI items the same way (pending = dashed).
    """
    import json

    from PIL import Image

    from fada_desk.core.annotations import Box, Keypoints, Polygon
    from fada_desk.core.fileio import atomic_write_text, atomic_write_via_path
    from fada_desk.core.interpretation import review_items_from_analysis
    from fada_desk.core.review_types import FrameRef
    from fada_desk.export.overlay import render_overlay

    out.mkdir(parents=True, exist_ok=True)
    written = []
    doc = result.to_dict()
    annotations, _ = review_items_from_analysis(doc, FrameRef(0, 0), "analysis")
    kinds = {"detect": Box, "segment": Polygon, "keypoints": Keypoints}
    for name, kind in kinds.items():
        phase = result.phase(name)
        if phase is None or phase.predictions is None:
            continue
        shown = [a for a in annotations if isinstance(a, kind)]
        image = Image.fromarray(render_overlay(frame.rgb(), shown, classification=result.classification))
        png = atomic_write_via_path(out / f"{name}.png", lambda tmp, image=image: image.save(tmp, format="PNG"))
        written.append(png)
    path = atomic_write_text(out / "analysis.json", json.dumps(doc, indent=2, ensure_ascii=False) + "\n")
    written.insert(0, path)
    return written


def run(args: argparse.Namespace) -> int:
    import json
    import sys

    from fada_desk.cli._progress import ProgressLine
    from fada_desk.core.cancel import drive
    from fada_desk.core.errors import Cancelled, FadaError
    from fada_desk.core.fileio import atomic_write_text
    from fada_desk.inference.fada.cache import ResultCache
    from fada_desk.inference.fada.pipeline import FadaPipeline
    from fada_desk.inference.fada.results import TokenChunk
    from fada_desk.inference.fada.settings import PipelineSettings
    from fada_desk.inference.model_store.resolve import create_backend, resolve_model_dir

    src = Path(args.path)
    inputs = collect_inputs(src)
    batch = src.is_dir()
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    try:
        settings = PipelineSettings(
            max_side=args.max_side or PipelineSettings().max_side,
            seed=args.seed,
            constrained=not args.no_grammar,
            keypoints=not args.no_keypoints,
            use_cache=not args.no_cache,
        )
    except ValueError as err:
        raise FadaError(str(err)) from None
    status = resolve_model_dir(Path(args.model_dir))
    options = {
        k: v for k, v in (("n_threads", args.threads), ("n_gpu_layers", args.gpu_layers)) if v is not None
    }
    backend = create_backend(status, **options)
    progress = ProgressLine()
    progress.update("loading the model")
    summary: list[dict[str, Any]] = []
    failures = 0
    try:
        backend.load()
        pipeline = FadaPipeline(backend, settings, ResultCache() if settings.use_cache else None)
        for i, path in enumerate(inputs):
            prefix = f"[{i + 1}/{len(inputs)}] {path.name}: " if batch else ""
            out = out_root / path.name if batch else out_root
            try:
                frame = load_frame(path, args.frame)
                tokens = 0

                def show(p: Any, prefix: str = prefix, i: int = i) -> None:
                    nonlocal tokens
                    if isinstance(p.payload, TokenChunk) and p.payload.text:
                        tokens += 1
                    frac = p.fraction
                    if batch and frac is not None:
                        frac = (i + frac) / len(inputs)
                    progress.update(p.message.split(":")[0], frac, prefix)

                result = drive(
                    pipeline.analyze(frame, args.mode, source=str(path), frame_index=args.frame), show
                )
                files = write_outputs(result, frame, out)
                ok = not result.errors
                failures += not ok
                mapping = result.mapping
                progress.done(
                    f"{prefix or ''}{'ok' if ok else 'errors: ' + '; '.join(result.errors)}"
                    f" | view {result.classification or 'Unknown'}"
                    f" | tier {mapping.tier if mapping else '-'}"
                    f" | {result.total_seconds:.1f} s -> {out}"
                )
                summary.append(
                    {
                        "file": str(path),
                        "ok": ok,
                        "output": str(out),
                        "errors": result.errors,
                        "classification": result.classification,
                        "tier": mapping.tier if mapping else None,
                        "files": [str(f) for f in files],
                    }
                )
            except Cancelled:
                raise
            except FadaError as err:
                failures += 1
                progress.done(f"{prefix}error: {err}")
                summary.append({"file": str(path), "ok": False, "errors": [str(err)]})
                if not batch:
                    raise
    finally:
        backend.close()
    if batch:
        atomic_write_text(
            out_root / "batch_summary.json",
            json.dumps({"inputs": len(inputs), "failed": failures, "results": summary}, indent=2) + "\n",
        )
        print(
            f"{len(inputs) - failures}/{len(inputs)} analysed without errors -> {out_root}", file=sys.stderr
        )
    return 1 if failures else 0
