"""Metrics against values computed by hand (comments show the arithmetic)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fada_desk.cli import main
from fada_desk.inference.fada.evaluation import (
    EvaluationError,
    ImageLabels,
    average_precision,
    box_iou,
    detection_metrics,
    evaluate,
    load_label_dir,
    polygon_mask,
    segmentation_metrics,
)


def test_box_iou() -> None:
    assert box_iou((0, 0, 10, 10), (5, 5, 15, 15)) == pytest.approx(25 / 175)
    assert box_iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert box_iou((0, 0, 0, 0), (0, 0, 0, 0)) == 0.0


def test_average_precision_by_hand() -> None:
    # one GT, one TP: precision 1 at every recall -> 1.0
    assert average_precision([1.0], [1.0]) == pytest.approx(1.0)
    # [FP, TP] with one GT: recalls [0, 1], precisions [0, .5]; upstream sentinel gives precision 1 at
    # recall 0 -> (1 + 100 * 0.5) / 101; COCO-style (no sentinel) -> 0.5
    assert average_precision([0.0, 1.0], [0.0, 0.5]) == pytest.approx(51 / 101)
    assert average_precision([0.0, 1.0], [0.0, 0.5], "coco") == pytest.approx(0.5)
    # a class with GT but no prediction: the sentinel alone is worth 1/101 upstream, 0 in COCO style
    assert average_precision([], []) == pytest.approx(1 / 101)
    assert average_precision([], [], "coco") == 0.0


def _img(image_id: str, dets=(), segs=(), cls=None, w=20, h=20) -> ImageLabels:  # noqa: ANN001
    return ImageLabels(
        image_id,
        w,
        h,
        cls,
        [(lbl, tuple(map(float, b)), s) for lbl, b, s in dets],
        [(lbl, [tuple(map(float, p)) for p in poly]) for lbl, poly in segs],
    )


def test_map_by_hand() -> None:
    gt = {"a": _img("a", [("Brain", (0, 0, 100, 100), 1), ("CSP", (10, 10, 20, 20), 1)])}
    pred = {
        "a": _img(
            "a",
            [
                ("Brain", (0, 0, 100, 70), 0.9),  # IoU 0.7: TP at .50, FP at .75
                ("CSP", (12, 12, 22, 22), 0.8),  # IoU 64/136 = .47: FP at both
                ("LV", (0, 0, 5, 5), 0.7),
            ],
        )
    }  # no GT of that class: AP 0
    m = detection_metrics(pred, gt)
    # @.50: Brain 1, CSP 1/101 (sentinel), LV 0
    assert m["ap_Brain@0.50"] == pytest.approx(1.0)
    assert m["ap_CSP@0.50"] == pytest.approx(1 / 101)
    assert m["ap_LV@0.50"] == 0.0
    assert m["mAP@0.50"] == pytest.approx((1 + 1 / 101) / 3)
    # @.75: Brain 1/101, CSP 1/101, LV 0
    assert m["mAP@0.75"] == pytest.approx(2 / 303)


def test_map_ranks_by_score_and_matches_each_gt_once() -> None:
    gt = {"a": _img("a", [("head", (0, 0, 10, 10), 1)])}
    # two predictions on the same GT: the higher score is the TP, the duplicate a FP
    pred = {"a": _img("a", [("head", (0, 0, 10, 9), 0.5), ("head", (0, 0, 10, 10), 0.9)])}
    # ranked: TP (p=1, r=1), FP (p=.5, r=1) -> precision envelope 1 everywhere -> AP 1
    assert detection_metrics(pred, gt)["ap_head@0.50"] == pytest.approx(1.0)


def test_polygon_mask_and_dice_iou_by_hand() -> None:
    sq = [(0, 0), (9, 0), (9, 9), (0, 9)]
    assert polygon_mask(sq, 20, 20).sum() == 100  # edges included: 10 x 10 pixels
    shifted = [(5, 0), (14, 0), (14, 9), (5, 9)]
    gt = {"a": _img("a", segs=[("Brain", sq), ("CSP", [(15, 15), (19, 15), (19, 19)])])}
    pred = {"a": _img("a", segs=[("Brain", shifted)])}
    m = segmentation_metrics(pred, gt)
    # Brain: overlap 5 x 10 = 50 -> Dice 2*50/200 = .5, IoU 50/150 = 1/3; CSP missed -> 0, 0
    assert m["dice_Brain"] == pytest.approx(0.5) and m["iou_Brain"] == pytest.approx(1 / 3)
    assert m["dice_CSP"] == 0.0 and m["iou_CSP"] == 0.0
    assert m["mean_dice"] == pytest.approx(0.25) and m["mean_iou"] == pytest.approx(1 / 6)
    assert m["num_images"] == 1


def test_classification_accuracy_and_missing_predictions() -> None:
    gt = {i: _img(i, cls=c) for i, c in (("1", "BPD_PLANE"), ("2", "Aorta"), ("3", "head"), ("4", "FL"))}
    pred = {"1": _img("1", cls="BPD_PLANE"), "2": _img("2", cls="aorta"), "3": _img("3", cls="FL")}
    m = evaluate(pred, gt)
    c = m["classification"]
    assert c["accuracy"] == pytest.approx(1 / 4) and c["accuracy_case_insensitive"] == pytest.approx(2 / 4)
    assert c["per_class"]["aorta"] == {"correct": 1, "total": 1, "accuracy": 1.0}
    assert m["summary"]["missing_predictions"] == ["4"]


def _write(d: Path, name: str, obj: object) -> None:
    d.mkdir(parents=True, exist_ok=True)
    (d / name).write_text(json.dumps(obj))


def test_label_files_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gt, pred = tmp_path / "gt", tmp_path / "pred"
    _write(
        gt,
        "case1.json",
        {
            "width": 20,
            "height": 20,
            "classification": "BPD_PLANE",
            "detections": [{"label": "Brain", "box": [0, 0, 10, 10]}],
            "segmentations": [{"label": "Brain", "polygon": [[0, 0], [9, 0], [9, 9], [0, 9]]}],
        },
    )
    _write(
        pred,
        "case1.json",
        {
            "classification": "BPD_PLANE",
            "detections": [{"label": "Brain", "box": [0, 0, 10, 10], "score": 0.8}],
            "segmentations": [{"label": "Brain", "polygon": [[0, 0], [9, 0], [9, 9], [0, 9]]}],
        },
    )
    out = tmp_path / "m.json"
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt), "--json", str(out)]) == 0
    text = capsys.readouterr().out
    assert (
        "mAP@0.50:  1.0000" in text and "Mean Dice: 1.0000" in text and "Accuracy (exact):    1.0000" in text
    )
    metrics = json.loads(out.read_text())
    assert metrics["detection"]["mAP@0.75"] == 1.0 and metrics["segmentation"]["mean_iou"] == 1.0

    _write(pred, "bad.json", {"detections": [{"label": "x", "box": [1, 2]}]})
    assert main(["evaluate", "--pred", str(pred), "--gt", str(gt)]) == 1
    assert "a box must be [x1, y1, x2, y2]" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    with pytest.raises(EvaluationError, match="no label files"):
        load_label_dir(tmp_path / "empty")
    with pytest.raises(EvaluationError, match="not a folder"):
        load_label_dir(tmp_path / "missing")
