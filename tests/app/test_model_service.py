"""The process model service without Qt: states, the shared instance, lazy load, configuration."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from inference.fakes import FakeBackend

from app.fakes import BRAIN, fake_service
from fada_desk.app import model_service as M
from fada_desk.app.model_service import ModelConfig, ModelService, ModelState, call_reporting
from fada_desk.core.cancel import CancelToken, Progress, drive
from fada_desk.core.errors import Cancelled, ModelError


@pytest.fixture(autouse=True)
def _fresh_shared_service() -> Iterator[None]:
    M.reset_shared_service()
    yield
    M.reset_shared_service()


def test_states_are_the_historical_strings() -> None:
    assert ModelState.MISSING == "missing" and str(ModelState.LOADED) == "loaded"
    assert f"{ModelState.READY}" == "ready"
    assert [s for s in ModelState if s.unusable] == [ModelState.MISSING, ModelState.INVALID]
    assert [s for s in ModelState if s.bad] == [ModelState.MISSING, ModelState.INVALID, ModelState.FAILED]


def test_shared_service_is_one_per_process_and_closed_on_reset() -> None:
    a = M.shared_service()
    assert M.shared_service() is a
    backend = FakeBackend(answers=dict(BRAIN))
    a.use_backend(backend, "x")
    drive(a.ensure_loaded(CancelToken()))
    assert backend.loaded and a.state == ModelState.LOADED
    M.reset_shared_service()
    assert backend.closed and M.shared_service() is not a


def test_fake_service_helper_builds_ready_services() -> None:
    svc = fake_service(FakeBackend())
    assert svc.state == ModelState.READY and svc.message == "scripted model: ready (loads on first use)"


def test_without_an_installed_model_the_check_says_how_to_install_one() -> None:
    svc = ModelService()  # the isolated user dir has no model
    assert svc.state is ModelState.UNCHECKED
    assert drive(svc.check(CancelToken())) is ModelState.MISSING
    assert "No FADA model is installed" in svc.message and M.INSTALL_HINT in svc.message
    with pytest.raises(ModelError, match="No FADA model"):
        drive(svc.ensure_loaded(CancelToken()))


def test_a_missing_configured_folder_is_missing(tmp_path: Path) -> None:
    svc = ModelService(ModelConfig(str(tmp_path / "nowhere"), n_gpu_layers=0))
    drive(svc.check(CancelToken()))
    assert svc.state is ModelState.MISSING and "not found" in svc.message
    assert "CPU only" in svc.device_text()


def test_lazy_load_reports_progress_loads_once_and_configure_closes(tmp_path: Path) -> None:
    backend = FakeBackend(answers=dict(BRAIN))
    svc = fake_service(backend)
    seen: list[str] = []
    pipeline = drive(svc.ensure_loaded(CancelToken()), lambda p: seen.append(p.message))
    assert pipeline is not None and svc.loaded and seen[0] == "Loading scripted model…"
    assert drive(svc.ensure_loaded(CancelToken())) is pipeline and backend.load_calls == 1
    assert svc.configure(ModelConfig(str(tmp_path))) is True
    assert backend.closed and svc.state is ModelState.READY and "closed" in svc.message
    assert svc.configure(ModelConfig(str(tmp_path))) is False


def test_call_reporting_relays_progress_and_stops_waiting_on_cancel() -> None:
    def work(report):  # noqa: ANN001, ANN202
        report(Progress("half", 0.5))
        return 42

    got: list[Progress] = []
    assert drive(call_reporting(work, "t"), got.append) == 42
    assert got == [Progress("half", 0.5)]

    gate = threading.Event()
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        drive(call_reporting(lambda _r: gate.wait(5), "t", token))
    gate.set()
