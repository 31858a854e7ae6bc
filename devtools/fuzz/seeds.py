"""Where the fuzzer's seed inputs come from: the project's real test data.

``tests/data`` first, then ``../shared/data`` (the same rule as
``tests/testdata.py``; devtools does not import the tests).
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"
SHARED = ROOT.parent / "shared" / "data"


def data_file(*parts: str) -> Path:
    """A test data file from tests/data, falling back to ../shared/data."""
    local = DATA.joinpath(*parts)
    return local if local.exists() else SHARED.joinpath(*parts)
