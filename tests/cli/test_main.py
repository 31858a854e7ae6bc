"""`fada-desk PATH` opens PATH in the GUI ("Open with fada_desk" from a file manager)."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

import fada_desk.cli.gui as gui
from fada_desk.cli import main, opens_in_gui


@pytest.fixture()
def opened(monkeypatch: pytest.MonkeyPatch) -> list[argparse.Namespace]:
    calls: list[argparse.Namespace] = []
    monkeypatch.setattr(gui, "run", lambda args: calls.append(args) or 0)
    # build_parser binds module.run at parse time: patch before main() builds it
    return calls


def test_a_file_as_first_argument_opens_it_in_the_gui(tmp_path: Path, opened: list) -> None:
    scan = tmp_path / "scan.dcm"
    scan.write_bytes(b"\0" * 132)
    assert main([str(scan)]) == 0
    assert [a.path for a in opened] == [str(scan)] and opened[0].command == "gui"


def test_devices_and_stream_urls_open_in_the_gui(opened: list) -> None:
    assert main(["device:0"]) == 0 and main(["udp://127.0.0.1:5004"]) == 0
    assert [a.path for a in opened] == ["device:0", "udp://127.0.0.1:5004"]


def test_subcommands_still_win_and_typos_stay_errors(tmp_path: Path, opened: list,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert not opens_in_gui("info") and not opens_in_gui("--help")
    assert not opens_in_gui(str(tmp_path / "missing.dcm"))
    with pytest.raises(SystemExit) as exc:
        main(["infoo", "x"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err
    assert opened == []
