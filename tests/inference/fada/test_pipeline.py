"""The pipeline on a scripted backend: phases, modes, requests, cancel, cache, streaming."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fada_desk.core.cancel import CancelToken, Progress, drive
from fada_desk.core.errors import Cancelled
from fada_desk.core.frame import Frame
from fada_desk.inference.fada import constants as C
from fada_desk.inference.fada.cache import ResultCache
from fada_desk.inference.fada.image import prepare_image
from fada_desk.inference.fada.pipeline import FadaPipeline
from fada_desk.inference.fada.results import AnalysisResult, PhaseDone, TokenChunk
from fada_desk.inference.fada.schemas import grammar
from fada_desk.inference.fada.settings import PipelineSettings

from ..fakes import FakeBackend

CORPUS = Path(__file__).resolve().parents[2] / "data" / "fada_outputs"


def corpus(name: str) -> str:
    return (CORPUS / name).read_text(encoding="utf-8")


BRAIN = {
    "interpret": corpus("01_interpret_clean_brain.txt"),
    "classify": corpus("14_classify_clean.txt"),
    "detect": corpus("20_detect_clean_brain.txt"),
    "segment": corpus("30_segment_clean_brain.txt"),
}


def image(w: int = 1600, h: int = 1200) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return ((x * 7 + y * 3) % 256).astype(np.uint8)


def pipeline(answers: dict, tmp_path: Path, **settings) -> tuple[FadaPipeline, FakeBackend]:
    backend = FakeBackend(answers=dict(answers))
    backend.load()
    return FadaPipeline(backend, PipelineSettings(**settings), ResultCache(tmp_path / "cache")), backend


def test_autonomous_brain(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    res = drive(pipe.analyze(image(), "autonomous", source="scan.png", frame_index=0))
    assert backend.phases() == ["interpret", "classify", "detect", "segment"]
    assert [p.phase for p in res.phases] == ["interpret", "classify", "detect", "segment"]
    assert res.mapping is not None and res.mapping.tier == "cls_specific_BPD_PLANE"
    assert res.classification == "BPD_PLANE"
    reqs = {r.prompt: r for r in backend.requests}
    det = reqs[C.build_detect_prompt("Brain, CSP, LV")]
    seg = reqs[C.build_segment_prompt("Brain")]
    interp = reqs[C.INTERPRET_PROMPT]
    cls_ = reqs[C.CLASSIFY_PROMPT]
    assert (interp.max_tokens, cls_.max_tokens, det.max_tokens, seg.max_tokens) == (1024, 256, 1024, 1024)
    for r in backend.requests:
        assert (r.temperature, r.top_p, r.stop) == (0.1, 0.95, ("\nassistant\n", "\nassistant"))
        assert r.image is not None and r.image.shape == (768, 1024, 3)  # 1600x1200 -> longest side 1024
        assert r.image_key == backend.requests[0].image_key
    assert det.grammar == grammar("detect") and seg.grammar == grammar("segment")
    assert interp.grammar == grammar("interpret") and cls_.grammar == grammar("classify")
    # model 0-1000 -> pixels of the ORIGINAL 1600 x 1200 frame: 212*1.6, 118*1.2, 803*1.6, 876*1.2
    brain = res.phase("detect").predictions.detections[0]
    assert brain.label == "Brain"
    assert brain.box == pytest.approx((339.2, 141.6, 1284.8, 1051.2))
    poly = res.phase("segment").predictions.segmentations[0].polygon
    assert poly[0] == pytest.approx((505 * 1.6, 120 * 1.2)) and len(poly) == 17
    assert (
        res.image["width"] == 1600 and res.image["model_width"] == 1024 and res.image["source"] == "scan.png"
    )
    assert res.models["model_sha256"] == "a" * 64 and res.models["mmproj_sha256"] == "b" * 64
    assert not res.errors and res.total_seconds > 0
    assert all(p.stats["completion_tokens"] > 0 for p in res.phases)
    # JSON round trip
    again = AnalysisResult.from_dict(json.loads(json.dumps(res.to_dict())))
    assert again.to_dict() == res.to_dict()
    assert res.to_dict()["mapping"]["tier"] == "cls_specific_BPD_PLANE"
    assert res.to_dict()["timings"].keys() == {"interpret", "classify", "detect", "segment"}


def test_segment_skipped_when_mapping_has_no_seg_classes(tmp_path: Path) -> None:
    answers = {
        "interpret": corpus("05_interpret_code_fence_femur.txt"),
        "classify": '{"label": "FL_PLANE"}',
        "detect": '[{"bbox_2d": [100, 300, 900, 420], "label": "legs"}]',
    }
    pipe, backend = pipeline(answers, tmp_path)
    res = drive(pipe.analyze(image(640, 480)))
    assert backend.phases() == ["interpret", "classify", "detect"]
    assert res.mapping.tier == "cls_specific_FL_PLANE" and res.mapping.seg_classes is None
    seg = res.phase("segment")
    assert seg is not None and seg.status == "skipped"
    assert "segment" not in res.to_dict()["timings"]


def test_keypoint_phase_for_crl_view(tmp_path: Path) -> None:
    answers = {
        "interpret": corpus("10_interpret_wrapped_crl.txt"),
        "classify": '{"label": "Other"}',
        "detect": corpus("25_detect_truncated_crl.txt"),
        "keypoints": corpus("35_keypoints_crl.txt"),
    }
    pipe, backend = pipeline(answers, tmp_path)
    res = drive(pipe.analyze(image(800, 600)))
    assert res.mapping.tier == "plane_crown-rump"
    assert backend.phases() == ["interpret", "classify", "detect", "keypoints"]
    kp_req = backend.requests[-1]
    assert kp_req.prompt == C.build_keypoint_prompt("CRL_KP, ScaleBarKpoints")
    assert kp_req.grammar == grammar("keypoints")
    kps = res.phase("keypoints").predictions.keypoints
    assert [k.label for k in kps] == ["CRL_KP", "ScaleBarKpoints"]
    assert kps[0].points[0] == pytest.approx((135 * 0.8, 410 * 0.6, 2))
    det = res.phase("detect")
    assert det.truncated and len(det.predictions.detections) == 2

    pipe2, backend2 = pipeline(answers, tmp_path / "b", keypoints=False)
    drive(pipe2.analyze(image(800, 600)))
    assert backend2.phases() == ["interpret", "classify", "detect"]


def test_nt_view_uses_nt_keypoints(tmp_path: Path) -> None:
    answers = {
        "interpret": corpus("04_interpret_repeated_assistant_nt.txt"),
        "classify": '{"label": "Other"}',
        "detect": corpus("28_detect_label_first_nt.txt"),
        "segment": "[]",
        "keypoints": corpus("36_keypoints_nt_invisible.txt"),
    }
    pipe, backend = pipeline(answers, tmp_path)
    res = drive(pipe.analyze(image(400, 300)))
    assert backend.phases() == ["interpret", "classify", "detect", "segment", "keypoints"]
    assert backend.requests[-1].prompt == C.build_keypoint_prompt("NTKpoints, ScaleBarKpoints")
    assert res.phase("segment").predictions.count == 0


def test_human_in_the_loop_steps(tmp_path: Path) -> None:
    answers = dict(
        BRAIN,
        detect='[{"bbox_2d": [300, 250, 650, 640], "label": "cardiac"}]',
        keypoints=corpus("35_keypoints_crl.txt"),
    )
    pipe, backend = pipeline(answers, tmp_path)
    session = pipe.start(image(1000, 800))
    res = drive(session.run_interpret_first())
    assert res.mode == "interpret" and backend.phases() == ["interpret", "classify"]
    assert session.mapping.det_classes == "Brain, CSP, LV"
    # the sonographer overrides the classes
    det = drive(session.detect("cardiac , thorax"))
    assert backend.requests[-1].prompt == C.build_detect_prompt("cardiac, thorax")
    assert det.predictions.detections[0].box == pytest.approx((300.0, 200.0, 650.0, 512.0))
    seg = drive(session.segment())  # default: the mapping's segmentation classes
    assert backend.requests[-1].prompt == C.build_segment_prompt("Brain") and seg.status == "ok"
    # keypoint classes in a detect request use the keypoint prompt (upstream _has_keypoint_classes)
    kp = drive(session.detect("CRL_KP, ScaleBarKpoints"))
    assert kp.phase == "keypoints" and backend.requests[-1].prompt.startswith("Detect measurement keypoints")
    assert [p.phase for p in session.result.phases] == [
        "interpret",
        "classify",
        "detect",
        "segment",
        "keypoints",
    ]


def test_chat_routes_like_upstream(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    session = pipe.start(image(500, 500))
    reply = drive(session.chat("hello there"))
    assert reply.task == "interpret" and "**Clinical Interpretation:**" in reply.text
    assert "**Classification:** BPD_PLANE" in reply.text
    reply = drive(session.chat("segment the brain"))
    assert reply.task == "segment" and backend.requests[-1].prompt == C.build_segment_prompt("Brain")
    assert reply.text.startswith("**Segmentation results** (1 masks: Brain)")
    reply = drive(session.chat("thanks"))
    assert reply.task == "greeting" and reply.text.startswith("Welcome to FADA!")
    reply = drive(session.chat("detect the lungs please"))  # no anatomy known -> the mapping's classes
    assert reply.task == "detect" and backend.requests[-1].prompt == C.build_detect_prompt("Brain, CSP, LV")


def test_parse_failure_maps_to_default(tmp_path: Path) -> None:
    answers = dict(BRAIN, interpret=corpus("13_interpret_no_json.txt"), detect="[]")
    pipe, backend = pipeline(answers, tmp_path)
    res = drive(pipe.analyze(image(300, 200)))
    assert res.mapping.tier == "fallback_parse_fail"
    assert backend.requests[2].prompt == C.build_detect_prompt(C.DEFAULT_DETECT_CLASSES)
    assert res.phase("interpret").parse_errors == ["The interpretation is not a JSON object"]
    assert res.phase("segment").status == "skipped"


def test_cancel_mid_stream_keeps_finished_phases(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    token = CancelToken()
    backend.cancel_after["detect"] = (token, 3)
    session = pipe.start(image())
    with pytest.raises(Cancelled):
        drive(session.run_autonomous(token))
    assert [p.phase for p in session.result.phases] == ["interpret", "classify"]
    assert backend.phases() == ["interpret", "classify", "detect"]
    # the partial detect answer was not cached: a fresh run generates it again
    backend.cancel_after.clear()
    res = drive(pipe.analyze(image()))
    assert [p.cached for p in res.phases] == [True, True, False, False]

    token2 = CancelToken()
    token2.cancel()
    with pytest.raises(Cancelled):
        drive(pipe.analyze(image(), cancel=token2))


def test_cache_hit_and_key(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    first = drive(pipe.analyze(image()))
    n = len(backend.requests)
    second = drive(pipe.analyze(image()))
    assert len(backend.requests) == n  # no model call at all
    assert all(p.cached for p in second.phases)
    strip = lambda r: [dict(p.to_dict(), cached=None) for p in r.phases]  # noqa: E731
    assert strip(first) == strip(second)
    # a different seed, image or model is a miss
    pipe_seed = FadaPipeline(backend, PipelineSettings(seed=1), ResultCache(tmp_path / "cache"))
    drive(pipe_seed.analyze(image()))
    assert len(backend.requests) == 2 * n
    drive(pipe.analyze(image(1600, 1201)))
    assert len(backend.requests) == 3 * n
    backend.model_sha256 = "c" * 64
    drive(pipe.analyze(image()))
    assert len(backend.requests) == 4 * n


def test_no_cache_without_model_hashes(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    backend.model_sha256 = ""
    drive(pipe.analyze(image()))
    drive(pipe.analyze(image()))
    assert len(backend.requests) == 8 and len(pipe.cache) == 0


def test_backend_errors_are_recorded_not_raised(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    backend.fail["detect"] = "llama.cpp decode failed"
    res = drive(pipe.analyze(image()))
    assert res.phase("detect").status == "error" and res.phase("segment").status == "ok"
    assert res.errors == ["detect: llama.cpp decode failed"]
    backend.fail = {"interpret": "out of memory"}
    res = drive(FadaPipeline(backend, PipelineSettings(use_cache=False)).analyze(image()))
    assert [(p.phase, p.status) for p in res.phases] == [
        ("interpret", "error"),
        ("classify", "skipped"),
        ("detect", "skipped"),
        ("segment", "skipped"),
    ]


def test_unloaded_backend_is_loaded(tmp_path: Path) -> None:
    backend = FakeBackend(answers=BRAIN)
    pipe = FadaPipeline(backend, PipelineSettings(), ResultCache(tmp_path))
    drive(pipe.analyze(image(), "interpret"))
    assert backend.load_calls == 1


def test_streaming_progress(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path)
    events: list[Progress] = []
    drive(pipe.analyze(image()), events.append)
    text: dict[str, str] = {}
    for e in events:
        if isinstance(e.payload, TokenChunk):
            text[e.payload.phase] = text.get(e.payload.phase, "") + e.payload.text
    assert text == BRAIN
    done = [e.payload.result.phase for e in events if isinstance(e.payload, PhaseDone)]
    assert done == ["interpret", "classify", "detect", "segment"]
    fractions = [e.fraction for e in events if e.fraction is not None]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0


def test_settings(tmp_path: Path) -> None:
    pipe, backend = pipeline(BRAIN, tmp_path, max_side=512, constrained=False, classify_max_new_tokens=2)
    res = drive(pipe.analyze(image(1600, 1200)))
    assert backend.requests[0].image.shape == (384, 512, 3)
    assert all(r.grammar is None for r in backend.requests)
    # still pixel coordinates of the original frame
    assert res.phase("detect").predictions.detections[0].box[0] == pytest.approx(339.2)
    cls_ = res.phase("classify")
    assert cls_.truncated and "stopped at the 2-token limit" in cls_.notes
    with pytest.raises(ValueError):
        PipelineSettings(max_side=10)


def test_prepare_image_inputs() -> None:
    grey = image(1200, 900)
    p = prepare_image(grey)
    assert p.pixels.shape == (768, 1024, 3) and (p.width, p.height) == (1200, 900)
    small = prepare_image(image(640, 480))
    assert small.pixels.shape == (480, 640, 3) and small.model_sha256 == small.sha256  # never upscaled
    frame = Frame(np.zeros((10, 20), np.uint8))
    assert prepare_image(frame).pixels.shape == (10, 20, 3)
    rgba = np.zeros((5, 6, 4), np.uint8)
    assert prepare_image(rgba).pixels.shape == (5, 6, 3)
    with pytest.raises(ValueError):
        prepare_image(np.zeros((5, 5), np.float32))
