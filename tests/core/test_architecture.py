"""The pure layers never import Qt; heavy libraries are imported lazily."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ["fada_desk.core", "fada_desk.sources", "fada_desk.storage", "fada_desk.inference",
        "fada_desk.export", "fada_desk.cli"]


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    res = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "BROKEN" not in res.stdout


def _modules_of(package: str) -> list[str]:
    base = ROOT / package.replace(".", "/")
    mods = []
    for f in sorted(base.rglob("*.py")):
        rel = f.relative_to(ROOT).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods.append(".".join(parts))
    return mods


def test_pure_modules_import_without_qt() -> None:
    """Import every pure module in a fresh interpreter; Qt must not get loaded."""
    mods = [m for p in PURE for m in _modules_of(p)]
    code = (
        "import importlib, sys\n"
        f"for m in {mods!r}:\n"
        "    importlib.import_module(m)\n"
        "bad = [m for m in ('PySide6', 'shiboken6', 'pyqtgraph') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr


def test_cli_startup_is_light() -> None:
    """`fada-desk --help` must not import heavy libraries."""
    code = (
        "import sys\n"
        "from fada_desk.cli import build_parser\n"
        "build_parser()\n"
        "heavy = [m for m in ('llama_cpp', 'torch', 'pydicom', 'cv2', 'PySide6', 'reportlab', 'transformers')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
