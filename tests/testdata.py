"""Where test data lives: tests/data, falling back to ../shared/data.

A plain module (not conftest) so test files can import it unambiguously:
several directories have their own conftest.py.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parent
DATA = TESTS / "data"
SHARED = TESTS.parent.parent / "shared" / "data"


def shared_or_local(*parts: str) -> Path:
    """A test data file from tests/data, falling back to ../shared/data."""
    local = DATA.joinpath(*parts)
    if local.exists():
        return local
    return SHARED.joinpath(*parts)
