"""The report of record: versions, status (preliminary / final / amended), and how they read.

A report is *preliminary* until the operator finalizes it; finalizing records version 1
(signer, time, the canonical report content and its SHA-256) in the audit chain and locks
the report: the review can no longer change. Any later change needs an *amendment* with a
reason: it reopens the report (the working copy is then the preliminary version N+1) and
the next finalize records version N+1, status *amended*. Every version stays in the chain
(content snapshot + hash + signer + time + reason) and can be exported again.

This module is the pure part: :func:`report_state` reads the versions and the open
amendment from an exam's audit entries (``exam.sign_off`` entries carrying a ``report``
block, ``report.amend`` entries); :func:`content_hash` is the one hash of report content;
the wording of a state lives here once, so the PDF, the JSON, the CLI and the GUI say the
same thing. Storage (``fada_desk.storage.review``) reads the entries and enforces the lock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fada_desk.core.audit import AuditEntry, canonical_json

#: The audit action of a finalized version (the same action as the sign-off always had).
FINALIZE = "exam.sign_off"
#: The audit action that reopens a final report for an amendment.
AMEND = "report.amend"

PRELIMINARY = "preliminary"
FINAL = "final"
AMENDED = "amended"
STATUSES = (PRELIMINARY, FINAL, AMENDED)

#: What every refused edit of a final report says.
LOCKED_MESSAGE = "The report is final; amend it to change it."
#: Version of the content snapshot format (``content["format"]``).
CONTENT_FORMAT = "fada-desk-report/1"


def content_hash(content: Any) -> str:
    """SHA-256 (hex) of the canonical JSON of report content."""
    return hashlib.sha256(canonical_json(content).encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ReportVersion:
    """One finalized version, as recorded in its audit entry."""

    version: int
    signer: str
    signed_at: str  # UTC timestamp of the audit entry
    content_hash: str
    statement: str = ""
    reason: str = ""  # why it amends the previous version ("" for version 1)
    amended_by: str = ""  # who opened that amendment
    audit_seq: int = 0
    audit_hash: str = ""
    snapshot: Mapping[str, Any] | None = None  # {"content": ..., "presentation": ...}; None if unreadable
    problem: str = ""  # why its record cannot be used ("" = sound)

    @property
    def status(self) -> str:
        return FINAL if self.version == 1 else AMENDED

    def signed_text(self) -> str:
        """``version 2 (amended), signed by A. Sonographer on 2024-06-15T10:00:00.000000Z (UTC)``."""
        return f"version {self.version} ({self.status}), signed by {self.signer} on {self.signed_at} (UTC)"

    def to_dict(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "status": self.status,
            "signed_by": self.signer,
            "signed_at": self.signed_at,
            "content_hash": self.content_hash,
            "statement": self.statement,
            "reason": self.reason,
            "amended_by": self.amended_by,
            "audit_seq": self.audit_seq,
            "audit_hash": self.audit_hash,
            **({"problem": self.problem} if self.problem else {}),
        }


@dataclass(frozen=True)
class Amendment:
    """An amendment opened on a final report and not finalized yet."""

    amends: int  # the version it changes
    reason: str
    operator: str
    opened_at: str
    audit_seq: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"amends": self.amends, "reason": self.reason, "opened_by": self.operator,
                "opened_at": self.opened_at, "audit_seq": self.audit_seq}


@dataclass(frozen=True)
class ReportState:
    """The versions of one exam's report and the amendment in progress, if any."""

    versions: tuple[ReportVersion, ...] = ()
    amendment: Amendment | None = None

    @property
    def latest(self) -> ReportVersion | None:
        return self.versions[-1] if self.versions else None

    @property
    def locked(self) -> bool:
        """True while the latest version is final and no amendment is open: edits are refused."""
        return self.latest is not None and self.amendment is None

    @property
    def status(self) -> str:
        latest = self.latest
        return latest.status if latest is not None and self.locked else PRELIMINARY

    @property
    def version(self) -> int:
        """The version the report is at: the latest when locked, else the one being prepared."""
        latest = self.latest
        if latest is None:
            return 1
        return latest.version if self.locked else latest.version + 1

    @property
    def signed(self) -> ReportVersion | None:
        """The version this report *is* (locked), or None while preliminary."""
        return self.latest if self.locked else None

    def get(self, version: int) -> ReportVersion | None:
        return self.versions[version - 1] if 1 <= version <= len(self.versions) else None

    def upto(self, version: int) -> ReportState:
        """The state right after ``version`` was finalized (what an export of that version shows)."""
        return ReportState(self.versions[:version], None)

    # -- wording ---------------------------------------------------------------------------
    def headline(self) -> str:
        """``Version 2 - amended`` / ``Version 1 - preliminary`` (with :meth:`sign_off_text`, what
        heads a report)."""
        return f"Version {self.version} - {self.status}"

    def sign_off_text(self) -> str:
        """One line about who signed: true in every state ("Not yet signed off" only when so)."""
        signed = self.signed
        if signed is not None:
            return f"Signed off by {signed.signer} on {signed.signed_at} (UTC)."
        text = "Not yet signed off."
        if self.amendment is not None and self.latest is not None:
            a = self.amendment
            text += (f" Amendment of version {a.amends} in progress (reason: {a.reason}; opened by "
                     f"{a.operator} on {a.opened_at} UTC); version {a.amends} was {self.latest.status}, "
                     f"signed by {self.latest.signer} on {self.latest.signed_at} (UTC).")
        return text

    def history_lines(self) -> list[str]:
        """One line per version, oldest first."""
        out = []
        for v in self.versions:
            line = f"v{v.version} {v.status}: signed by {v.signer} on {v.signed_at} (UTC)"
            if v.reason:
                line += f"; reason: {v.reason}"
            if v.problem:
                line += f"; DAMAGED: {v.problem}"
            out.append(line)
        return out

    def to_dict(self) -> dict[str, Any]:
        signed = self.signed
        return {
            "version": self.version,
            "status": self.status,
            "locked": self.locked,
            "signed_by": signed.signer if signed else None,
            "signed_at": signed.signed_at if signed else None,
            "content_hash": signed.content_hash if signed else None,
            "statement": signed.statement if signed else None,
            "reason": (signed.reason if signed else (self.amendment.reason if self.amendment else "")),
            "sign_off": self.sign_off_text(),
            "amendment_open": self.amendment.to_dict() if self.amendment else None,
            "versions": [v.to_dict() for v in self.versions],
        }


def report_block(version: int, content_sha: str, statement: str, reason: str, amended_by: str) -> dict[str, Any]:
    """The ``report`` block written into a finalize entry's ``after``."""
    return {"version": version, "status": FINAL if version == 1 else AMENDED, "content_hash": content_sha,
            "statement": statement, "reason": reason, "amended_by": amended_by}


def _version(entry: AuditEntry, number: int) -> ReportVersion:
    after = entry.after if isinstance(entry.after, Mapping) else {}
    block = after.get("report")
    block = block if isinstance(block, Mapping) else {}
    snapshot = after.get("snapshot")
    problem = ""
    stored_hash = block.get("content_hash")
    if not isinstance(snapshot, Mapping) or not isinstance(snapshot.get("content"), Mapping):
        snapshot, problem = None, "its content snapshot is missing or unreadable"
    elif not isinstance(stored_hash, str) or content_hash(snapshot["content"]) != stored_hash:
        problem = "its content does not match the recorded content hash"
    elif block.get("version") != number:
        problem = f"it is recorded as version {block.get('version')!r}"

    def text(key: str) -> str:
        value = block.get(key)
        return value if isinstance(value, str) else ""

    return ReportVersion(
        version=number,
        signer=entry.operator,
        signed_at=entry.ts_utc,
        content_hash=stored_hash if isinstance(stored_hash, str) else "",
        statement=text("statement"),
        reason=text("reason"),
        amended_by=text("amended_by"),
        audit_seq=entry.seq,
        audit_hash=entry.hash,
        snapshot=snapshot if not problem else None,
        problem=problem,
    )


def is_version_entry(entry: AuditEntry) -> bool:
    """A finalize entry (``exam.sign_off`` with a ``report`` block); older sign-offs were notes."""
    return entry.action == FINALIZE and isinstance(entry.after, Mapping) and "report" in entry.after


def report_state(entries: Iterable[AuditEntry]) -> ReportState:
    """The report state from one exam's audit entries (chain order; other actions are ignored)."""
    versions: list[ReportVersion] = []
    amendment: Amendment | None = None
    for e in entries:
        if is_version_entry(e):
            versions.append(_version(e, len(versions) + 1))
            amendment = None
        elif e.action == AMEND and versions:
            after = e.after if isinstance(e.after, Mapping) else {}
            reason = after.get("reason")
            amendment = Amendment(len(versions), reason if isinstance(reason, str) else "", e.operator,
                                  e.ts_utc, e.seq)
    return ReportState(tuple(versions), amendment)
