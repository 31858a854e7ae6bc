"""The application log: rotating file in the user data dir, patient names / IDs and DICOM names redacted."""

from __future__ import annotations

import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

from fada_desk.core import logging_setup as L
from fada_desk.core.logging_setup import REDACTED, PhiRedactor


def test_noted_patients_are_hidden_whole_by_part_and_in_either_order() -> None:
    r = PhiRedactor()
    r.note_patient("DOE^JANE", "MRN-4711")
    text = r.redact("exam of Jane Doe (mrn-4711) from /scans/doe_jane/a.dcm, also DOE, JANE")
    assert "jane" not in text.lower() and "doe" not in text.lower() and "4711" not in text
    assert text.startswith(f"exam of {REDACTED} ({REDACTED})")
    # not inside longer words, and unrelated text stays
    r.note_patient("ANN^LI")
    text = r.redact("ANNOTATION saved, list cleared, Li and Ann")
    assert text == f"ANNOTATION saved, list cleared, {REDACTED} and {REDACTED}"


def test_dicom_person_names_are_hidden_whoever_they_are() -> None:
    r = PhiRedactor()
    text = r.redact("referred by WHO^JOHN^^DR, read by Smith^Anna")
    assert text == f"referred by {REDACTED}, read by {REDACTED}"
    assert r.redact("no names: 3 regions, x0=0") == "no names: 3 regions, x0=0"


def test_exam_and_dicom_metadata_feed_the_redactor() -> None:
    r = PhiRedactor()
    r.note_exam(SimpleNamespace(patient=SimpleNamespace(name="ROE RICHARD", patient_id="P-99")))
    r.note_exam(None)
    r.note_metadata({"PatientName": "Poe^Edgar", "PatientID": "ID123", "Rows": 480})
    r.note_metadata("not a dict")
    # "Richard Roe" is one match (the name in the other order)
    assert r.redact("Richard Roe P-99 Edgar ID123 Rows") == " ".join([REDACTED] * 4) + " Rows"
    r.clear()
    assert r.redact("Richard") == "Richard"


def test_the_filter_redacts_message_arguments_and_traceback(tmp_path: Path) -> None:
    r = PhiRedactor()
    r.note_patient("DOE^JANE", "MRN-4711")
    logger = logging.getLogger("fada_desk.test.redact")
    handler = logging.FileHandler(tmp_path / "x.log", encoding="utf-8")
    handler.addFilter(r)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("no patient MRN-4711 named Jane Doe")
        except ValueError:
            logger.error("opening %s for %r", "MRN-4711", "DOE^JANE", exc_info=True, stack_info=True)
        logger.error("broken format %d", "not a number")  # logged, not raised
    finally:
        logger.removeHandler(handler)
        handler.close()
    text = (tmp_path / "x.log").read_text(encoding="utf-8")
    assert "Traceback" in text and "ValueError: no patient" in text
    assert "Stack (most recent call last)" in text
    assert "4711" not in text and "jane" not in text.lower() and "doe" not in text.lower()
    assert "broken format" in text


def test_setup_logging_writes_a_rotating_file_in_the_data_dir(_isolated_user_dir: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(L, "MAX_BYTES", 4000)
    root = logging.getLogger()
    level = root.level
    path = L.setup_logging()
    try:
        assert path == _isolated_user_dir / "logs" / "fada_desk.log" == L.current_log_file()
        assert L.setup_logging() == path  # a second call replaces the handler
        assert sum(isinstance(h, L._AppLogHandler) for h in root.handlers) == 1
        L.REDACTOR.note_patient("DOE^JANE")
        for i in range(400):
            logging.getLogger("fada_desk.test").info("line %d of DOE^JANE's exam", i)
    finally:
        L.shutdown_logging()
        L.REDACTOR.clear()
    assert L.current_log_file() is None and root.level == level
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["fada_desk.log", *(f"fada_desk.log.{i}" for i in range(1, L.BACKUPS + 1))]
    text = "".join(p.read_text(encoding="utf-8") for p in path.parent.iterdir())
    assert "line 399 of <redacted>'s exam" in text and "JANE" not in text
