"""The AI panel end to end through real llama.cpp: the tiny random-weight model on a real HC18 image.

Random weights say nothing clinical; with the per-phase grammars every answer
still parses, so this proves the panel drives the real backend: model files
verified, lazy load in the worker with progress, streamed tokens, phases,
parsed interpretation, overlays matching the predictions, device line from
BackendInfo, cancel of a real generation, close.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from testdata import shared_or_local

from fada_desk.core.frame import Frame
from fada_desk.inference.fada.settings import PipelineSettings
from fada_desk.inference.fada.results import TokenChunk
from fada_desk.app import model_service as M
from fada_desk.app.model_service import ModelState
from fada_desk.app.analysis import RunState

pytestmark = [pytest.mark.model, pytest.mark.slow, pytest.mark.gui]


def test_panel_runs_the_real_tiny_model_on_an_hc18_image(
        qtbot: Any, make_panel: Any, wait_for: Any, tiny_model: tuple[Path, Path], tmp_path: Path) -> None:
    model, mmproj = tiny_model
    mdir = tmp_path / "model-set"
    mdir.mkdir()
    shutil.copy(model, mdir / model.name)
    shutil.copy(mmproj, mdir / mmproj.name)
    svc = M.ModelService(M.ModelConfig(str(mdir), n_threads=2),
                         pipeline_settings=PipelineSettings(max_side=256, use_cache=False))
    px = np.asarray(Image.open(shared_or_local("hc18", "images", "001_HC.png")).convert("L"))
    try:
        panel, _view, _host = make_panel(service=svc, frame=Frame(np.ascontiguousarray(px), index=0))
        wait_for(lambda: svc.state == ModelState.READY)
        assert "loads on first use" in svc.message and mdir.name in svc.message
        chunks: list[str] = []
        loads: list[str] = []

        with qtbot.waitSignal(panel.resultReady, timeout=120000) as got:
            h = panel.run_autonomous()
            assert h is not None
            h.progress.connect(lambda p: (chunks.append(p.payload.text) if isinstance(p.payload, TokenChunk)
                                          else loads.append(p.message)))
        result = got.args[0]
        assert any(m.startswith(("Loading", "Checking")) for m in loads)  # lazy load, with progress
        assert panel.state == RunState.DONE, panel.state_label.text()
        assert svc.state == ModelState.LOADED and "loaded" in panel.model_label.text()
        info = svc.info
        assert info is not None and info.model_sha256 and info.n_threads == 2
        if info.device == "CPU":
            assert "Device: CPU, 2 threads, n_gpu_layers=0" in panel.device_label.text()
        else:
            assert info.device in panel.device_label.text()
        names = [p.phase for p in result.phases]
        assert names[:3] == ["interpret", "classify", "detect"]
        for phase in result.phases:
            assert panel.phase_state(phase.phase).startswith("done" if phase.status == "ok" else phase.status)
            if phase.status == "ok":
                assert phase.stats["completion_tokens"] > 0
                # random weights may run a string to the token limit; every completed answer parses
                if phase.stats["extra"]["grammar_complete"]:
                    assert phase.parse_ok, (phase.phase, phase.raw_text[:200])
        assert sum(len(c) for c in chunks) > 0 and panel.stream_text().strip()
        assert panel.interpretation_values()["Imaging Plane"] not in ("", "–")
        assert panel.classification_label.text().startswith("Classification: ")
        n_pred = sum(p.predictions.count for p in result.phases if p.predictions is not None)
        assert len(panel.overlay.labels()) == n_pred

        # cancelling a real generation: stops promptly, the model stays loaded
        first = len(chunks)
        h2 = panel.run_autonomous()
        assert h2 is not None
        h2.progress.connect(lambda p: chunks.append("x") if isinstance(p.payload, TokenChunk) else None)
        wait_for(lambda: len(chunks) > first + 3, timeout=60)
        panel.cancel()
        wait_for(lambda: panel.state == RunState.CANCELLED, timeout=10)
        assert svc.state == ModelState.LOADED
    finally:
        svc.close()
    assert svc.state == ModelState.READY and "closed" in svc.message
