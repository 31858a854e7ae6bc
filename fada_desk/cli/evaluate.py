"""``fada-desk evaluate --pred DIR --gt DIR``: mAP, Dice/IoU and view accuracy like upstream FADA.

Label format: see :mod:`fada_desk.inference.fada.evaluation` (one JSON per image;
predictions may also be the ``analysis.json`` files of ``fada-desk analyze``).
"""

from __future__ import annotations

import argparse


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "evaluate", help="score predictions against ground-truth labels (mAP, Dice, IoU, accuracy)"
    )
    p.add_argument("--pred", required=True, metavar="DIR", help="predictions: label JSONs or analyze output")
    p.add_argument("--gt", required=True, metavar="DIR", help="ground-truth label JSONs")
    p.add_argument("--json", metavar="FILE", help="also write the metrics as JSON")
    p.add_argument(
        "--ap-method",
        choices=("fada", "coco"),
        default="fada",
        help="fada: upstream's 101-point AP with sentinels (default, comparable with the paper); "
        "coco: without the precision-1 sentinel",
    )
    return p


def run(args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from fada_desk.core.fileio import atomic_write_text
    from fada_desk.inference.fada.evaluation import evaluate, format_summary, load_label_dir

    gts = load_label_dir(Path(args.gt))
    preds = load_label_dir(Path(args.pred))
    metrics = evaluate(preds, gts, method=args.ap_method)
    print(format_summary(metrics))
    if args.json:
        atomic_write_text(Path(args.json), json.dumps(metrics, indent=2) + "\n")
    return 0
