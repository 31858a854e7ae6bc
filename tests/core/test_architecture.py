"""The layers hold (import-linter), no module cycles, the pure layers never import Qt, heavy
libraries are imported lazily."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PURE = ["fada_desk.core", "fada_desk.sources", "fada_desk.storage", "fada_desk.inference",
        "fada_desk.export", "fada_desk.app", "fada_desk.cli"]
LAYERS = ["fada_desk.qt | fada_desk.cli", "fada_desk.app", "fada_desk.export",
          "fada_desk.storage | fada_desk.inference | fada_desk.sources", "fada_desk.core"]


def _pyproject() -> dict:
    import tomllib

    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_import_linter_contracts_hold() -> None:
    lint = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))
    res = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "BROKEN" not in res.stdout
    assert "KEPT" in res.stdout


def test_the_layers_contract_is_the_documented_one() -> None:
    """A green lint run only means something if the contract says qt|cli > app > export > ... > core."""
    contracts = _pyproject()["tool"]["importlinter"]["contracts"]
    layers = [c for c in contracts if c["type"] == "layers"]
    assert len(layers) == 1 and layers[0]["layers"] == LAYERS
    # the only exception is the CLI's way into the GUI
    assert layers[0].get("ignore_imports", []) == ["fada_desk.cli.gui -> fada_desk.qt.app"]


def _graph():  # noqa: ANN202
    import grimp

    return grimp.build_graph("fada_desk")


def _cycles(graph) -> list[list[str]]:  # noqa: ANN001
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    mods = sorted(graph.modules)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in mods:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, it = work[-1]
            for nxt in it:
                if nxt not in graph.modules:
                    continue
                if nxt not in index:
                    index[nxt] = low[nxt] = counter
                    counter += 1
                    stack.append(nxt)
                    on_stack.add(nxt)
                    work.append((nxt, iter(sorted(graph.find_modules_directly_imported_by(nxt)))))
                    break
                if nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_no_import_cycles_between_modules() -> None:
    graph = _graph()
    cycles = _cycles(graph)
    assert not cycles, "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles)


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker itself can fail: a two-module cycle is reported."""
    class G:
        modules = {"a", "b", "c"}

        @staticmethod
        def find_modules_directly_imported_by(m: str) -> set[str]:
            return {"a": {"b"}, "b": {"a", "c"}, "c": set()}[m]

    assert _cycles(G) == [["a", "b"]]


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
    mods = [m for p in PURE for m in _modules_of(p) if m != "fada_desk.cli.gui"]
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


def _private_imports(root: Path = ROOT) -> list[str]:
    """``from fada_desk.a.b import _x`` / ``import fada_desk.a._b`` from outside package ``fada_desk.a``."""
    import ast

    bad = []
    for f in sorted((root / "fada_desk").rglob("*.py")):
        rel = f.relative_to(root).with_suffix("")
        parts = list(rel.parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        importer = ".".join(parts)
        importer_pkg = importer if is_pkg else ".".join(parts[:-1])
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            targets: list[tuple[str, str]] = []  # (module, name or "")
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                targets = [(node.module, a.name) for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [(a.name, "") for a in node.names]
            for module, name in targets:
                if not module.startswith("fada_desk"):
                    continue
                mparts = module.split(".")
                for i, p in enumerate(mparts):
                    if p.startswith("_") and not p.startswith("__"):
                        owner = ".".join(mparts[:i])
                        if not importer_pkg.startswith(owner):
                            bad.append(f"{importer}: {module}")
                        break
                else:
                    if name.startswith("_") and not importer_pkg.startswith(".".join(mparts[:-1])):
                        bad.append(f"{importer}: {module}.{name}")
    return bad


def test_no_private_names_across_packages() -> None:
    assert _private_imports() == []


def test_private_name_checker_can_fail(tmp_path: Path) -> None:
    pkg = tmp_path / "fada_desk"
    for sub, text in {"a/__init__.py": "", "a/_impl.py": "_x = 1\n", "a/ok.py": "from fada_desk.a._impl import _x\n",
                      "b/__init__.py": "", "b/bad.py": "from fada_desk.a._impl import y\nfrom fada_desk.a.ok import _x\n"}.items():
        (pkg / sub).parent.mkdir(parents=True, exist_ok=True)
        (pkg / sub).write_text(text)
    assert _private_imports(tmp_path) == ["fada_desk.b.bad: fada_desk.a._impl", "fada_desk.b.bad: fada_desk.a.ok._x"]
