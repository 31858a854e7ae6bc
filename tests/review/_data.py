"""Test data lookup for tests/review.

Same rule as ``tests.conftest.shared_or_local`` (tests/data first, then the shared
data folder). It is not imported from there: rootless conftest modules are all
called ``conftest`` and another directory's conftest may shadow it.
"""

from __future__ import annotations

from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]


def data_file(*parts: str) -> Path:
    local = TESTS.joinpath("data", *parts)
    if local.exists():
        return local
    return TESTS.parent.parent.joinpath("shared", "data", *parts)
