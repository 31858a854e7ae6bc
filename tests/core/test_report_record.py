"""The report state read from audit entries (core/report_record.py): versions, amendments, damage, wording."""

from __future__ import annotations

from typing import Any

from fada_desk.core.audit import AuditEntry, make_entry
from fada_desk.core.report_record import (
    AMEND,
    AMENDED,
    FINAL,
    FINALIZE,
    PRELIMINARY,
    content_hash,
    report_block,
    report_state,
)


def _chain(*specs: tuple[str, str, Any]) -> list[AuditEntry]:
    out: list[AuditEntry] = []
    for i, (action, operator, after) in enumerate(specs):
        out.append(make_entry(out[-1] if out else None, operator=operator, action=action, after=after,
                              exam_id=1, ts_utc=f"2024-06-15T10:00:0{i}.000000Z"))
    return out


def _version(n: int, content: dict[str, Any], reason: str = "", by: str = "") -> dict[str, Any]:
    return {"report": report_block(n, content_hash(content), "ok", reason, by),
            "snapshot": {"content": content, "presentation": {}}}


def test_versions_and_amendments_from_the_chain() -> None:
    c1, c2 = {"images": [], "exam": {"id": 1}}, {"images": [1], "exam": {"id": 1}}
    entries = _chain(
        ("ai.output", "A", {}),
        (FINALIZE, "A", {"statement": "a note before versions existed"}),  # a review note: not a version
        (AMEND, "A", {"reason": "no version yet"}),  # ignored: nothing to amend
        (FINALIZE, "A", _version(1, c1)),
        ("exam.export", "A", {}),
        (AMEND, "B", {"reason": "HC redrawn"}),
    )
    state = report_state(entries)
    assert [v.version for v in state.versions] == [1]
    assert (state.locked, state.status, state.version) == (False, PRELIMINARY, 2)
    assert state.amendment is not None and (state.amendment.reason, state.amendment.operator) == ("HC redrawn", "B")
    assert state.sign_off_text().startswith("Not yet signed off. Amendment of version 1 in progress (reason: HC")
    assert state.headline() == "Version 2 - preliminary"

    done = report_state([*entries, make_entry(entries[-1], operator="B", action=FINALIZE, exam_id=1,
                                              after=_version(2, c2, "HC redrawn", "B"),
                                              ts_utc="2024-06-15T11:00:00.000000Z")])
    assert (done.locked, done.status, done.version) == (True, AMENDED, 2)
    assert [v.status for v in done.versions] == [FINAL, AMENDED]
    assert done.sign_off_text() == "Signed off by B on 2024-06-15T11:00:00.000000Z (UTC)."
    assert done.history_lines()[1].endswith("reason: HC redrawn")
    assert done.upto(1).status == FINAL and done.upto(1).version == 1 and done.upto(1).locked
    assert done.to_dict()["versions"][1]["reason"] == "HC redrawn"


def test_damaged_versions_are_named_not_trusted() -> None:
    content = {"exam": {"id": 1}}
    tampered = _version(1, content)
    tampered["snapshot"]["content"] = {"exam": {"id": 1}, "extra": True}  # content no longer matches its hash
    state = report_state(_chain((FINALIZE, "A", tampered), (FINALIZE, "A", {"report": {}, "snapshot": "x"})))
    first, second = state.versions
    assert first.problem == "its content does not match the recorded content hash" and first.snapshot is None
    assert second.problem == "its content snapshot is missing or unreadable"
    assert state.locked  # a damaged version still locks the report: it was finalized
    assert "DAMAGED" in state.history_lines()[0]
    misnumbered = report_state(_chain((FINALIZE, "A", _version(3, content))))
    assert misnumbered.versions[0].problem == "it is recorded as version 3"
