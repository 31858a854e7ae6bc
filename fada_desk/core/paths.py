"""Where fada_desk keeps its data. Overridable for tests and portable installs."""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "fada_desk"


def user_data_dir() -> Path:
    """Per-user data dir (exam store, models, settings).

    ``FADA_DESK_DATA_DIR`` overrides it (tests, portable USB installs).
    """
    override = os.environ.get("FADA_DESK_DATA_DIR")
    if override:
        path = Path(override)
    else:
        from platformdirs import user_data_path

        path = user_data_path(APP_NAME, appauthor=False)
    path.mkdir(parents=True, exist_ok=True)
    return path


def package_root() -> Path:
    return Path(__file__).resolve().parent.parent


def resources_dir() -> Path:
    """Bundled resources (sample images, icons). Works from a checkout and a frozen app."""
    frozen = os.environ.get("FADA_DESK_RESOURCES")
    if frozen:
        return Path(frozen)
    inside = package_root() / "resources"
    if inside.is_dir():
        return inside
    return package_root().parent / "resources"
