"""Opening an exam's review session (the GUI does it on its store worker), who signs it, AI import."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fada_analysis import analysis_dict

from app.fakes import OPERATOR
from fada_desk.app.review_session import ReviewSession, open_review, reviewer
from fada_desk.core.errors import FadaError
from fada_desk.core.review_types import FrameRef, ReviewStatus
from fada_desk.storage.review import AI_OUTPUT, ReviewError, ReviewStore


def test_the_reviewer_is_the_given_operator_else_the_exams_else_the_fallback() -> None:
    exam = SimpleNamespace(operator=" B. Exam ")
    assert reviewer(exam, "C. Fallback", " A. Given ") == "A. Given"
    assert reviewer(exam, "C. Fallback") == "B. Exam"
    assert reviewer(SimpleNamespace(operator=""), " C. Fallback") == "C. Fallback"
    assert reviewer(object()) == ""


def test_open_review_returns_the_session_the_refusal_or_nothing(store: Any, exam: Any) -> None:
    assert open_review(store, exam.id, "") is None
    refused = open_review(store, 999, OPERATOR)
    assert isinstance(refused, FadaError) and not isinstance(refused, ReviewSession)
    session = open_review(store, exam.id, OPERATOR)
    assert isinstance(session, ReviewSession) and session.operator == OPERATOR
    session.close()


def test_imported_ai_items_are_pending_audited_and_sign_off_waits_for_them(store: Any, exam: Any,
                                                                            item: Any) -> None:
    with ReviewSession(store, exam.id, OPERATOR) as s:
        anns = s.import_analysis(item.id, analysis_dict(), analysis_id="run-1")
        assert [a.status for a in anns] == [ReviewStatus.PENDING] * 4
        assert s.doc.interpretation(FrameRef(item.id)) is not None
        with pytest.raises(ReviewError, match="still pending review"):
            s.sign_off("done")
        entry = s.sign_off("done", allow_pending=True)
        assert entry.after["statement"] == "done" and entry.operator == OPERATOR
    (ai,) = [e for e in ReviewStore(store).audit_entries(exam.id) if e.action == AI_OUTPUT]
    assert ai.after["analysis_id"] == "run-1" and ai.after["annotation_ids"] == [a.id for a in anns]
