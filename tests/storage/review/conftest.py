"""The HC18 exam fixtures (tests/hc18_exam.py)."""

from hc18_exam import exam, item, plain_item, store  # noqa: F401 - pytest fixtures
