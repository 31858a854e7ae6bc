"""Detection mAP, segmentation Dice/IoU and view accuracy, computed like upstream FADA.

Same definitions as ``evaluation/metrics/{detection,segmentation}.py`` and
``ClassificationEvaluator`` in ``evaluation/evaluate.py`` of the FADA repo, so
numbers are comparable with the published table:

* **AP** per class and IoU threshold: predictions sorted by confidence (stable),
  greedily matched to the best-IoU unmatched ground truth of the same image and
  class; 101-point interpolated area under the precision/recall curve *with
  upstream's sentinels* (precision 1 at recall 0) - ``ap_method="coco"`` drops
  that sentinel (pycocotools-like). A class with predictions but no ground truth
  scores 0; a class absent from both is skipped. **mAP** = mean over classes.
* **Dice / IoU** per image and class on the union mask of all polygons of the
  class (both empty = 1.0); the mean is over all (image, class) pairs.
* **Accuracy**: exact and case-insensitive label match.

Label format (one JSON file per image, ``<image_id>.json``; pixel coordinates)::

    {"image_id": "case01", "width": 800, "height": 540,
     "classification": "BPD_PLANE",
     "detections":    [{"label": "Brain", "box": [x1, y1, x2, y2], "score": 0.9}],
     "segmentations": [{"label": "Brain", "polygon": [[x, y], ...]}]}

Every key but ``image_id`` is optional (``image_id`` defaults to the file
stem). ``score`` defaults to 1.0. Predictions may instead be ``analysis.json``
files written by ``fada-desk analyze`` (matched by the analysed file's stem).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fada_desk.core.errors import FadaError

Box = tuple[float, float, float, float]


class EvaluationError(FadaError):
    """Bad or missing label files."""


# ---------------------------------------------------------------------------
# Label files
# ---------------------------------------------------------------------------


@dataclass
class ImageLabels:
    image_id: str
    width: int | None = None
    height: int | None = None
    classification: str | None = None
    detections: list[tuple[str, Box, float]] = field(default_factory=list)  # label, box, score
    segmentations: list[tuple[str, list[tuple[float, float]]]] = field(default_factory=list)


def _box(v: Any, where: str) -> Box:
    if not isinstance(v, (list, tuple)) or len(v) != 4:
        raise EvaluationError(f"{where}: a box must be [x1, y1, x2, y2]")
    try:
        return (float(v[0]), float(v[1]), float(v[2]), float(v[3]))
    except (TypeError, ValueError):
        raise EvaluationError(f"{where}: box values must be numbers") from None


def labels_from_dict(d: dict[str, Any], default_id: str, where: str) -> ImageLabels:
    if d.get("format", "").startswith("fada-desk-analysis/"):
        return _labels_from_analysis(d, default_id, where)
    out = ImageLabels(
        str(d.get("image_id") or default_id), d.get("width"), d.get("height"), d.get("classification")
    )
    for i, det in enumerate(d.get("detections", []) or []):
        try:
            out.detections.append(
                (
                    str(det["label"]),
                    _box(det["box"], f"{where} detection {i}"),
                    float(det.get("score", det.get("confidence", 1.0))),
                )
            )
        except (KeyError, TypeError):
            raise EvaluationError(f"{where}: detection {i} needs 'label' and 'box'") from None
    for i, seg in enumerate(d.get("segmentations", []) or []):
        try:
            poly = [(float(p[0]), float(p[1])) for p in seg["polygon"]]
            out.segmentations.append((str(seg["label"]), poly))
        except (KeyError, TypeError, IndexError, ValueError):
            raise EvaluationError(
                f"{where}: segmentation {i} needs 'label' and 'polygon' [[x, y], ...]"
            ) from None
    return out


def _labels_from_analysis(d: dict[str, Any], default_id: str, where: str) -> ImageLabels:
    from fada_desk.inference.fada.results import AnalysisResult

    try:
        res = AnalysisResult.from_dict(d)
    except (KeyError, TypeError, ValueError) as err:
        raise EvaluationError(f"{where}: unreadable analysis ({err})") from None
    src = res.image.get("source") or ""
    image_id = Path(src).stem if src else default_id
    out = ImageLabels(image_id, res.image.get("width"), res.image.get("height"), res.classification)
    det = res.phase("detect")
    if det and det.predictions:
        out.detections = [(x.label, x.box, 1.0) for x in det.predictions.detections]
    seg = res.phase("segment")
    if seg and seg.predictions:
        out.segmentations = [(s.label, list(s.polygon)) for s in seg.predictions.segmentations]
        # boxes of segmented structures count as detections too, as upstream does
        out.detections += [(s.label, s.box, 1.0) for s in seg.predictions.segmentations]
    return out


def load_label_dir(path: Path) -> dict[str, ImageLabels]:
    """All label files of a folder: ``*.json`` and ``*/analysis.json``."""
    path = Path(path)
    if not path.is_dir():
        raise EvaluationError(f"{path}: not a folder")
    files = sorted(path.glob("*.json")) + sorted(path.glob("*/analysis.json"))
    out: dict[str, ImageLabels] = {}
    for f in files:
        if f.name in ("batch_summary.json", "evaluation.json"):
            continue
        try:
            d = json.loads(f.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise EvaluationError(f"{f}: not valid JSON ({err})") from None
        if not isinstance(d, dict):
            raise EvaluationError(f"{f}: expected a JSON object")
        default = f.parent.name if f.name == "analysis.json" else f.stem
        labels = labels_from_dict(d, default, str(f))
        if labels.image_id in out:
            raise EvaluationError(f"{f}: image id {labels.image_id!r} appears twice")
        out[labels.image_id] = labels
    if not out:
        raise EvaluationError(f"{path}: no label files (*.json) found")
    return out


# ---------------------------------------------------------------------------
# Detection
# ---------------------------------------------------------------------------


def box_iou(a: Box, b: Box) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    area_a = max(0.0, a[2] - a[0]) * max(0.0, a[3] - a[1])
    area_b = max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])
    union = area_a + area_b - inter
    return 0.0 if union <= 0 else inter / union


def average_precision(recalls: Sequence[float], precisions: Sequence[float], method: str = "fada") -> float:
    """101-point interpolated AP. ``fada``: upstream's sentinels (1 at recall 0); ``coco``: none."""
    if method == "fada":
        mrec = np.concatenate(([0.0], np.asarray(recalls, float), [1.0]))
        mpre = np.concatenate(([1.0], np.asarray(precisions, float), [0.0]))
    elif method == "coco":
        mrec = np.asarray(recalls, float)
        mpre = np.asarray(precisions, float)
        if mrec.size == 0:
            return 0.0
    else:
        raise ValueError(f"unknown AP method {method!r}")
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # monotonically non-increasing
    total = 0.0
    for t in np.linspace(0.0, 1.0, 101):
        mask = mrec >= t
        if mask.any():
            total += float(mpre[mask].max())
    return total / 101.0


def detection_metrics(
    preds: dict[str, ImageLabels],
    gts: dict[str, ImageLabels],
    thresholds: Iterable[float] = (0.5, 0.75),
    method: str = "fada",
) -> dict[str, float]:
    gt_index: dict[str, dict[str, list[Box]]] = defaultdict(lambda: defaultdict(list))
    classes: set[str] = set()
    for img, g in gts.items():
        for label, box, _ in g.detections:
            gt_index[img][label].append(box)
            classes.add(label)
    by_class: dict[str, list[tuple[str, Box, float]]] = defaultdict(list)
    for img, p in preds.items():
        for label, box, score in p.detections:
            by_class[label].append((img, box, score))
            classes.add(label)
    out: dict[str, float] = {}
    for thr in thresholds:
        aps = []
        for cls in sorted(classes):
            plist = sorted(by_class.get(cls, []), key=lambda x: -x[2])
            n_gt = sum(len(gt_index[i].get(cls, [])) for i in gt_index)
            if n_gt == 0 and not plist:
                continue
            if n_gt == 0:
                ap = 0.0
            else:
                matched: dict[str, set[int]] = defaultdict(set)
                tp = np.zeros(len(plist))
                for k, (img, box, _s) in enumerate(plist):
                    best, best_j = 0.0, -1
                    for j, g in enumerate(gt_index.get(img, {}).get(cls, [])):
                        iou = box_iou(box, g)
                        if iou > best:
                            best, best_j = iou, j
                    if best >= thr and best_j not in matched[img]:
                        tp[k] = 1
                        matched[img].add(best_j)
                tp_cum = np.cumsum(tp)
                fp_cum = np.cumsum(1 - tp)
                recalls = tp_cum / n_gt
                precisions = tp_cum / np.maximum(tp_cum + fp_cum, 1e-12)
                ap = average_precision(recalls, precisions, method)
            aps.append(ap)
            out[f"ap_{cls}@{thr:.2f}"] = ap
        out[f"mAP@{thr:.2f}"] = float(np.mean(aps)) if aps else 0.0
    return out


# ---------------------------------------------------------------------------
# Segmentation
# ---------------------------------------------------------------------------


def polygon_mask(polygon: Sequence[tuple[float, float]], height: int, width: int) -> np.ndarray:
    """Filled polygon (vertices rounded to pixel centres; edges included) as a bool mask."""
    from PIL import Image, ImageDraw

    img = Image.new("1", (width, height), 0)
    if len(polygon) >= 3:
        ImageDraw.Draw(img).polygon([(int(round(x)), int(round(y))) for x, y in polygon], fill=1, outline=1)
    return np.asarray(img, dtype=bool)


def dice(pred: np.ndarray, gt: np.ndarray) -> float:
    total = int(pred.sum()) + int(gt.sum())
    return 1.0 if total == 0 else 2.0 * int((pred & gt).sum()) / total


def iou(pred: np.ndarray, gt: np.ndarray) -> float:
    union = int((pred | gt).sum())
    return 1.0 if union == 0 else int((pred & gt).sum()) / union


def segmentation_metrics(preds: dict[str, ImageLabels], gts: dict[str, ImageLabels]) -> dict[str, float]:
    per_dice: dict[str, list[float]] = defaultdict(list)
    per_iou: dict[str, list[float]] = defaultdict(list)
    n_images = 0
    for img, g in gts.items():
        p = preds.get(img)
        if not g.segmentations and not (p and p.segmentations):
            continue
        if not g.width or not g.height:
            raise EvaluationError(f"ground truth {img!r} needs width and height for segmentation metrics")
        n_images += 1
        h, w = int(g.height), int(g.width)
        classes = {lbl for lbl, _ in g.segmentations} | ({lbl for lbl, _ in p.segmentations} if p else set())
        for cls in sorted(classes):
            gm = np.zeros((h, w), bool)
            for lbl, poly in g.segmentations:
                if lbl == cls:
                    gm |= polygon_mask(poly, h, w)
            pm = np.zeros((h, w), bool)
            for lbl, poly in p.segmentations if p else []:
                if lbl == cls:
                    pm |= polygon_mask(poly, h, w)
            per_dice[cls].append(dice(pm, gm))
            per_iou[cls].append(iou(pm, gm))
    out: dict[str, float] = {}
    for cls in sorted(per_dice):
        out[f"dice_{cls}"] = float(np.mean(per_dice[cls]))
        out[f"iou_{cls}"] = float(np.mean(per_iou[cls]))
    all_d = [v for vs in per_dice.values() for v in vs]
    all_i = [v for vs in per_iou.values() for v in vs]
    out["mean_dice"] = float(np.mean(all_d)) if all_d else 0.0
    out["mean_iou"] = float(np.mean(all_i)) if all_i else 0.0
    out["num_images"] = n_images
    return out


# ---------------------------------------------------------------------------
# Classification and everything together
# ---------------------------------------------------------------------------


def classification_metrics(preds: dict[str, ImageLabels], gts: dict[str, ImageLabels]) -> dict[str, Any]:
    pairs = [
        ((preds[i].classification if i in preds else None) or "", g.classification)
        for i, g in gts.items()
        if g.classification
    ]
    if not pairs:
        return {"accuracy": 0.0, "accuracy_case_insensitive": 0.0, "num_samples": 0, "per_class": {}}
    exact = sum(p.strip() == g.strip() for p, g in pairs)
    ci = sum(p.strip().lower() == g.strip().lower() for p, g in pairs)
    per: dict[str, dict[str, Any]] = {}
    for p, g in pairs:
        c = per.setdefault(g.strip().lower(), {"correct": 0, "total": 0})
        c["total"] += 1
        c["correct"] += p.strip().lower() == g.strip().lower()
    for c in per.values():
        c["accuracy"] = c["correct"] / c["total"]
    return {
        "accuracy": exact / len(pairs),
        "accuracy_case_insensitive": ci / len(pairs),
        "num_samples": len(pairs),
        "per_class": dict(sorted(per.items())),
    }


def evaluate(
    preds: dict[str, ImageLabels], gts: dict[str, ImageLabels], method: str = "fada"
) -> dict[str, Any]:
    missing = sorted(set(gts) - set(preds))
    return {
        "summary": {
            "ground_truth_images": len(gts),
            "predicted_images": len(preds),
            "matched_images": len(set(gts) & set(preds)),
            "missing_predictions": missing,
            "ap_method": method,
        },
        "detection": detection_metrics(preds, gts, method=method)
        if any(g.detections for g in gts.values())
        else {},
        "segmentation": segmentation_metrics(preds, gts)
        if any(g.segmentations for g in gts.values())
        else {},
        "classification": classification_metrics(preds, gts),
    }


def format_summary(metrics: dict[str, Any]) -> str:
    s = metrics["summary"]
    lines = [
        "",
        "=" * 60,
        "  FADA evaluation",
        "=" * 60,
        f"  Ground-truth images: {s['ground_truth_images']}",
        f"  Matched predictions: {s['matched_images']}"
        + (f"  (missing: {len(s['missing_predictions'])})" if s["missing_predictions"] else ""),
        "",
    ]
    det = metrics.get("detection") or {}
    if det:
        lines += [
            "  DETECTION",
            "  " + "-" * 40,
            f"  mAP@0.50:  {det.get('mAP@0.50', 0):.4f}",
            f"  mAP@0.75:  {det.get('mAP@0.75', 0):.4f}",
        ]
        for k in sorted(k for k in det if k.startswith("ap_") and k.endswith("@0.50")):
            lines.append(f"    {k[3:-5]:30s} {det[k]:.4f}")
        lines.append("")
    seg = metrics.get("segmentation") or {}
    if seg:
        lines += [
            "  SEGMENTATION",
            "  " + "-" * 40,
            f"  Mean Dice: {seg['mean_dice']:.4f}",
            f"  Mean IoU:  {seg['mean_iou']:.4f}",
        ]
        for k in sorted(k for k in seg if k.startswith("dice_")):
            cls = k[5:]
            lines.append(f"    {cls:30s} Dice={seg[k]:.4f}  IoU={seg['iou_' + cls]:.4f}")
        lines.append("")
    cls_m = metrics.get("classification") or {}
    if cls_m.get("num_samples"):
        lines += [
            "  CLASSIFICATION",
            "  " + "-" * 40,
            f"  Accuracy (exact):    {cls_m['accuracy']:.4f}",
            f"  Accuracy (case-ins): {cls_m['accuracy_case_insensitive']:.4f}",
            "",
        ]
    lines.append("=" * 60)
    return "\n".join(lines)
