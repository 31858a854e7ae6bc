"""Export dialog: runs the job in a worker with progress, cancel and clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PySide6.QtCore import Qt

from fada_desk.core.cancel import CancelToken, Progress
from fada_desk.core.errors import ExportError
from fada_desk.export.options import ExportOptions
from fada_desk.qt.review.export_dialog import ExportDialog

pytestmark = pytest.mark.gui


def _dialog(qtbot: Any, make_job: Any, out: Path, **kw: Any) -> ExportDialog:
    dlg = ExportDialog(make_job, out_dir=out, **kw)
    qtbot.addWidget(dlg)
    dlg.show()
    return dlg


def test_export_runs_in_the_worker_with_progress(qtbot: Any, tmp_path: Path) -> None:
    calls: list[tuple[str, Path, ExportOptions]] = []
    flushed: list[int] = []

    def make_job(fmt: str, out: Path, options: ExportOptions, token: CancelToken) -> Any:
        calls.append((fmt, out, options))
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for i in range(2):
            yield Progress(f"writing {i}", i / 2)
            p = out / f"report_{i}.{fmt}"
            p.write_text("x")
            paths.append(p)
        yield Progress("done", 1.0)
        return paths

    dlg = _dialog(qtbot, make_job, tmp_path / "out", operator="A. Sonographer",
                  before_export=lambda: flushed.append(1))
    dlg.set_format("png")
    dlg.pending_box.setChecked(True)
    with qtbot.waitSignal(dlg.exported, timeout=10000) as sig:
        qtbot.mouseClick(dlg.export_button, Qt.MouseButton.LeftButton)
    assert flushed == [1]
    (fmt, out, options), = calls
    assert fmt == "png" and out == tmp_path / "out"
    assert options.include_pending and options.operator == "A. Sonographer"
    assert [p.name for p in sig.args[0]] == ["report_0.png", "report_1.png"]
    assert dlg.progress.value() == 1000
    assert dlg.status.text().startswith("Wrote 2 file(s) to")
    qtbot.waitUntil(lambda: dlg.export_button.isEnabled())
    assert dlg.cancel_button.text() == "Close"
    dlg.runner.shutdown(5)


def test_cancel_stops_the_export(qtbot: Any, tmp_path: Path) -> None:
    def make_job(fmt: str, out: Path, options: ExportOptions, token: CancelToken) -> Any:
        i = 0
        while True:  # until cancelled (each yield is a cancellation point)
            i += 1
            yield Progress(f"page {i}", None)
            token.wait(0.02)

    dlg = _dialog(qtbot, make_job, tmp_path)
    h = dlg.start()
    assert h is not None and dlg.running and not dlg.export_button.isEnabled()
    assert dlg.cancel_button.text() == "Cancel"
    qtbot.waitUntil(lambda: dlg.status.text().startswith("page"))
    with qtbot.waitSignal(h.finished, timeout=10000):
        qtbot.mouseClick(dlg.cancel_button, Qt.MouseButton.LeftButton)
    assert h.outcome == "cancelled"
    assert "cancelled" in dlg.status.text()
    assert dlg.isVisible()  # cancelling does not close the dialog
    dlg.runner.shutdown(5)


def test_errors_are_shown_in_one_line(qtbot: Any, tmp_path: Path) -> None:
    def make_job(fmt: str, out: Path, options: ExportOptions, token: CancelToken) -> Any:
        yield Progress("reading the exam", 0.0)
        raise ExportError("Could not write report.pdf: No space left on device.")

    dlg = _dialog(qtbot, make_job, tmp_path)
    h = dlg.start()
    with qtbot.waitSignal(h.finished, timeout=10000):
        pass
    assert dlg.status.text() == "Export failed: Could not write report.pdf: No space left on device."
    # a file where the folder should be: refused before anything runs
    f = tmp_path / "a_file"
    f.write_text("")
    dlg.dir_edit.setText(str(f))
    assert dlg.start() is None
    assert "is a file, not a folder" in dlg.status.text()
    dlg.runner.shutdown(5)


def test_a_review_count_that_fails_says_so_and_export_stays_possible(qtbot: Any, tmp_path: Path) -> None:
    from fada_desk.app.export import ReviewCount
    from fada_desk.core.errors import StorageError
    from fada_desk.core.review_doc import AnnotationSet

    class BrokenStore:
        def list_items(self, exam_id: int) -> list:
            raise StorageError("database is locked")

    def make_job(fmt: str, out: Path, options: ExportOptions, token: CancelToken) -> Any:
        yield Progress("done", 1.0)
        return []

    dlg = _dialog(qtbot, make_job, tmp_path, review=ReviewCount(BrokenStore(), 1, AnnotationSet()))
    assert not dlg.export_button.isEnabled()  # the warning comes first
    qtbot.waitUntil(lambda: "Could not count" in dlg.review_label.text())
    assert dlg.review_label.text().endswith("database is locked")
    assert dlg.export_button.isEnabled() and dlg.export_button.text() == "Export"
    dlg.runner.shutdown(5)
