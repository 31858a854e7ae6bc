"""Settings menu of the real main window (issue 15, item 5: no dead ends): Settings ▸ Clinic…
writes the header the PDF prints; Settings ▸ Install model from folder / USB stick… installs
with progress, cancel and the checksum result, and the AI panel's model status follows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import numpy as np
import pypdfium2 as pdfium
import pytest
from inference._gguf import make_set
from PySide6.QtCore import Qt

from fada_desk.app.export import ExamExport
from fada_desk.core.frame import Frame
from fada_desk.export.options import ClinicHeader
from fada_desk.export.settings import load_clinic_header
from fada_desk.inference.model_store.manifests import user_models_dir
from fada_desk.qt.shortcuts_dialog import plain_text
from fada_desk.storage import ExamStore

pytestmark = pytest.mark.gui
RAISE = "does not support raise"  # the offscreen platform cannot raise a dialog: harmless


def menu(window: Any, title: str) -> Any:
    return next(a.menu() for a in window.menuBar().actions() if plain_text(a.text()) == title)


def pdf_text(path: Path) -> str:
    pdf = pdfium.PdfDocument(str(path))
    try:
        return "\n".join(pdf[i].get_textpage().get_text_range() for i in range(len(pdf)))
    finally:
        pdf.close()


def test_settings_clinic_is_what_the_pdf_prints(qtbot: Any, window: Any, tmp_path: Path) -> None:
    settings_menu = menu(window, "Settings")
    assert [plain_text(a.text()) for a in settings_menu.actions()] == [
        "Clinic…", "Install model from folder / USB stick…"]
    window.act_clinic.trigger()
    dlg = window.clinic_dialog
    assert dlg is not None and dlg.isVisible() and dlg.name_edit.text() == ""
    dlg.name_edit.setText("Clínica São José")  # (QTest types ASCII only)
    qtbot.keyClicks(dlg.address_edit, "Rua das Flores 12")
    qtbot.keyClick(dlg.address_edit, Qt.Key.Key_Return)
    qtbot.keyClicks(dlg.address_edit, "1000-100 Lisboa, \"Piso 2\"")
    qtbot.keyClicks(dlg.phone_edit, "+351 21 000 0000")
    qtbot.keyClicks(dlg.email_edit, "eco clinic.pt")
    dlg.accept()  # a bad e-mail: one line, the dialog stays open, nothing written
    assert dlg.isVisible() and "is not an e-mail address" in dlg.error.text()
    assert load_clinic_header() == ClinicHeader()
    dlg.email_edit.setText("eco@clinic.pt")
    with qtbot.waitSignal(dlg.accepted, timeout=5000):
        dlg.accept()
    expected = ClinicHeader("Clínica São José", "Rua das Flores 12\n1000-100 Lisboa, \"Piso 2\"",
                            "+351 21 000 0000", "eco@clinic.pt")
    assert load_clinic_header() == expected  # the exports' reader, on the window's settings file
    assert "Clinic saved" in window.statusBar().currentMessage()

    # the next report prints it (the export job reads the settings file when it starts)
    with ExamStore.open(tmp_path / "store") as store:
        store.upsert_patient("MRN-1", name="DOE^JANE")
        exam = store.create_exam("MRN-1", lmp=dt.date.today() - dt.timedelta(days=140), operator="A. Sonographer")
        store.add_image(exam.id, Frame(np.full((60, 80), 50, np.uint8)), source_uri="memory:test")
        (pdf_path,) = ExamExport(store, exam.id).run(["pdf"], tmp_path / "out")
    text = pdf_text(pdf_path)
    for needle in ("Clínica São José", "Rua das Flores 12", "1000-100 Lisboa", "eco@clinic.pt"):
        assert needle in text, needle
    assert "clinic name not set" not in text

    # reopened, the dialog shows what was saved
    window.act_clinic.trigger()
    again = window.clinic_dialog
    assert again is not dlg and again.header() == expected
    again.reject()


@pytest.mark.qt_log_ignore(RAISE)
def test_install_model_from_a_folder_then_the_ai_panel_sees_it(qtbot: Any, window: Any, wait_for: Any,
                                                                tmp_path: Path) -> None:
    panel = window.ai_dock.panel
    wait_for(lambda: panel.model_box.check_job is None)
    assert "No FADA model is installed" in panel.model_box.model_label.text()
    usb = tmp_path / "usb" / "fada-test"
    make_set(usb)
    window.act_install_model.trigger()
    dlg = window.model_install_dialog
    assert dlg is not None and dlg.isVisible()
    # refused before anything runs, in one line
    dlg.folder_edit.setText(str(tmp_path / "nowhere"))
    assert dlg.start() is None and dlg.status.text().endswith("is not a folder.")
    dlg.folder_edit.setText(str(usb))
    with qtbot.waitSignal(dlg.installed, timeout=30000) as sig:
        qtbot.mouseClick(dlg.install_button, Qt.MouseButton.LeftButton)
    status = sig.args[0]
    assert status.ok and status.directory == user_models_dir() / "fada-test"
    assert dlg.progress.value() == 1000
    assert "ready, checksums verified" in dlg.status.text()
    for f in status.files:  # each file's checksum is shown in full
        assert f.sha256 and f.sha256 in dlg.files_label.text()
    wait_for(lambda: not dlg.running)
    assert dlg.install_button.isEnabled() and dlg.close_button.text() == "Close"
    # the AI panel checked its model again: the new set is found and ready
    wait_for(lambda: "fada-test: ready" in panel.model_box.model_label.text())
    dlg.reject()


@pytest.mark.qt_log_ignore(RAISE)
def test_a_damaged_model_is_refused_and_an_install_can_be_cancelled(qtbot: Any, window: Any,
                                                                     tmp_path: Path, monkeypatch: Any) -> None:
    bad = tmp_path / "bad"
    model, _ = make_set(bad)
    model.write_bytes(model.read_bytes()[:40])  # a truncated copy
    dlg = window.install_model()
    dlg.folder_edit.setText(str(bad))
    h = dlg.start()
    assert h is not None
    with qtbot.waitSignal(h.finished, timeout=30000):
        pass
    assert dlg.status.text().startswith("Not installed:") and "truncated" in dlg.status.text()
    assert not (user_models_dir() / "bad").exists() or not any((user_models_dir() / "bad").iterdir())

    # a slow copy, cancelled: nothing half-installed
    from fada_desk.core.cancel import Progress
    from fada_desk.qt import model_install_dialog as mid

    def slow(folder: Path, name: str | None, cancel: Any) -> Any:
        while True:
            yield Progress("copying fada-model-Q4_K_M.gguf", 0.3)
            cancel.wait(0.02)

    monkeypatch.setattr(mid, "install_job", slow)
    good = tmp_path / "good"
    make_set(good)
    dlg.folder_edit.setText(str(good))
    h = dlg.start()
    assert h is not None and dlg.close_button.text() == "Cancel" and not dlg.install_button.isEnabled()
    qtbot.waitUntil(lambda: dlg.status.text().startswith("Copying"))
    assert dlg.progress.value() == 300
    with qtbot.waitSignal(h.finished, timeout=10000):
        qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)
    assert h.outcome == "cancelled" and "not installed" in dlg.status.text()
    assert dlg.isVisible()  # Cancel stops the install, Close closes
    qtbot.mouseClick(dlg.close_button, Qt.MouseButton.LeftButton)
    assert not dlg.isVisible()
