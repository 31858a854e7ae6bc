"""Tamper-evident audit trail: who did what, when, to which item, before and after.

Every AI output and every human action becomes one :class:`AuditEntry`. Entries
form a hash chain: each entry's ``hash`` is SHA-256 over its canonical JSON
content *and the previous entry's hash*. Changing, inserting or deleting any
entry in the middle breaks every later hash, which :func:`verify_chain`
reports with the first bad sequence number. (Cutting off the newest entries is
only detectable against a hash recorded elsewhere, e.g. the head hash printed
on an exported report — see :func:`chain_head`.)

The storage side (``fada_desk.storage.review``) keeps entries in SQLite with
triggers that refuse UPDATE and DELETE; this module is the pure part.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text kept, no NaN."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def utc_now() -> str:
    """Fixed-width UTC timestamp ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (sorts as text, like the exam store)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass(frozen=True)
class AuditEntry:
    """One link of the chain. ``seq`` starts at 1; ``exam_id`` may be None for global events."""

    seq: int
    ts_utc: str
    operator: str
    exam_id: int | None
    action: str
    target: str
    before: Any
    after: Any
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """The hashed fields (everything but ``hash``)."""
        return {
            "seq": self.seq,
            "ts_utc": self.ts_utc,
            "operator": self.operator,
            "exam_id": self.exam_id,
            "action": self.action,
            "target": self.target,
            "before": self.before,
            "after": self.after,
            "prev_hash": self.prev_hash,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.content(), "hash": self.hash}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> AuditEntry:
        return cls(
            int(d["seq"]),
            str(d["ts_utc"]),
            str(d["operator"]),
            d.get("exam_id"),
            str(d["action"]),
            str(d["target"]),
            d.get("before"),
            d.get("after"),
            str(d["prev_hash"]),
            str(d["hash"]),
        )


def entry_hash(content: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_json(dict(content)).encode("utf-8")).hexdigest()


def make_entry(
    prev: AuditEntry | None,
    *,
    operator: str,
    action: str,
    target: str = "",
    before: Any = None,
    after: Any = None,
    exam_id: int | None = None,
    ts_utc: str | None = None,
) -> AuditEntry:
    """The next entry after ``prev`` (None for the first). ``before``/``after`` must be JSON data."""
    if not action:
        raise ValueError("an audit entry needs an action")
    # round-trip through JSON so the stored value is exactly what was hashed
    before = json.loads(canonical_json(before))
    after = json.loads(canonical_json(after))
    content = {
        "seq": (prev.seq + 1) if prev else 1,
        "ts_utc": ts_utc or utc_now(),
        "operator": operator,
        "exam_id": exam_id,
        "action": action,
        "target": target,
        "before": before,
        "after": after,
        "prev_hash": prev.hash if prev else GENESIS_HASH,
    }
    return AuditEntry(**content, hash=entry_hash(content))


@dataclass(frozen=True)
class ChainCheck:
    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok


def verify_chain(entries: Iterable[AuditEntry], expected_head: str | None = None) -> ChainCheck:
    """Recompute every hash and link; ``expected_head`` (a hash recorded earlier)
    additionally detects truncation."""
    prev_hash = GENESIS_HASH
    expected_seq = 1
    n = 0
    head_seen = expected_head is None
    for e in entries:
        n += 1
        if e.seq != expected_seq:
            return ChainCheck(False, n, e.seq, f"sequence gap: expected {expected_seq}, found {e.seq}")
        if e.prev_hash != prev_hash:
            return ChainCheck(False, n, e.seq, "link to the previous entry is broken")
        if entry_hash(e.content()) != e.hash:
            return ChainCheck(False, n, e.seq, "entry content does not match its hash")
        prev_hash = e.hash
        expected_seq += 1
        head_seen = head_seen or e.hash == expected_head
    if not head_seen:
        return ChainCheck(False, n, None, "the recorded head entry is missing (log truncated)")
    return ChainCheck(True, n)


def chain_head(entries: Iterable[AuditEntry]) -> str:
    """Hash of the newest entry (GENESIS_HASH for an empty chain)."""
    head = GENESIS_HASH
    for e in entries:
        head = e.hash
    return head
