"""What an export is asked to do (options, clinic header) and the words it prints about review.

Pure data with no imports from the rest of the export package, so the bundle, the
settings reader and every exporter can use it without import cycles.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

PENDING_MARK = "pending review"


@dataclass(frozen=True)
class ClinicHeader:
    """Clinic identity printed on reports (settings ``[clinic]`` name/address/phone/email)."""

    name: str = ""
    address: str = ""
    phone: str = ""
    email: str = ""

    @property
    def lines(self) -> list[str]:
        contact = "  ".join(p for p in (self.phone, self.email) if p)
        return [p for p in (self.name, *self.address.splitlines(), contact) if p.strip()]

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "address": self.address, "phone": self.phone, "email": self.email}


@dataclass(frozen=True)
class ExportOptions:
    """What to export.

    ``include_pending``: AI items not yet reviewed are left out unless asked;
    then they are marked "pending review" everywhere. ``operator`` overrides
    who is named as reviewer (default: the exam's last sign-off, else the
    exam operator). ``clinic`` None = read from the settings file.
    """

    include_pending: bool = False
    operator: str = ""
    clinic: ClinicHeader | None = None
    extra: dict[str, Any] = field(default_factory=dict)
