"""core is the bottom layer: no import cycles inside it, nothing above it imported, modest modules."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CORE = ROOT / "fada_desk" / "core"


@pytest.fixture(scope="module")
def graph():  # noqa: ANN201
    import grimp

    return grimp.build_graph("fada_desk")


def _core_modules(graph) -> set[str]:  # noqa: ANN001
    return {m for m in graph.modules if m == "fada_desk.core" or m.startswith("fada_desk.core.")}


def test_no_import_cycle_inside_core(graph) -> None:  # noqa: ANN001
    mods = _core_modules(graph)
    cycles = set()
    for m in sorted(mods):
        for dep in graph.find_modules_directly_imported_by(m):
            if dep in mods and dep != m and graph.chain_exists(importer=dep, imported=m):
                cycles.add(tuple(sorted((m, dep))))
    assert not cycles, cycles


def test_review_modules_layer_as_documented(graph) -> None:  # noqa: ANN001
    """review_types <- annotations <- interpretation <- review_doc <- commands <- the edit commands."""
    chain = graph.chain_exists
    assert not chain(importer="fada_desk.core.annotations", imported="fada_desk.core.interpretation")
    assert not chain(importer="fada_desk.core.annotations", imported="fada_desk.core.review_doc")
    assert not chain(importer="fada_desk.core.interpretation", imported="fada_desk.core.review_doc")
    assert not chain(importer="fada_desk.core.review_doc", imported="fada_desk.core.commands")
    assert not chain(importer="fada_desk.core.commands", imported="fada_desk.core.annotation_commands")
    assert not chain(importer="fada_desk.core.biometry", imported="fada_desk.core.review_doc")


def test_core_imports_nothing_above_core(graph) -> None:  # noqa: ANN001
    bad = {
        (m, dep)
        for m in _core_modules(graph)
        for dep in graph.find_modules_directly_imported_by(m)
        if dep.startswith("fada_desk.") and not dep.startswith("fada_desk.core")
    }
    assert not bad, bad


@pytest.mark.parametrize(
    "name",
    [
        "annotations",
        "annotation_commands",
        "commands",
        "interpretation",
        "interpretation_commands",
        "review_doc",
        "review_types",
        "points",
        "events",
        "audit",
        "calibration",
        "frame",
        "cine",
        "registry",
        "paths",
        "biometry/__init__",
        "biometry/geometry",
        "biometry/equations",
        "biometry/report",
        "biometry/exam",
    ],
)
def test_core_modules_stay_small(name: str) -> None:
    lines = (CORE / f"{name}.py").read_text(encoding="utf-8").count("\n")
    assert lines <= 400, f"fada_desk/core/{name}.py has {lines} lines"


def _defined_names(path: Path) -> set[str]:
    """Names a module defines itself (not the ones it imports)."""
    import ast

    tree = ast.parse(path.read_text(encoding="utf-8"))
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.Assign):
            for t in node.targets:
                targets = t.elts if isinstance(t, ast.Tuple) else [t]
                out.update(x.id for x in targets if isinstance(x, ast.Name))
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            out.add(node.target.id)
    return out


def test_core_names_are_imported_from_the_module_that_defines_them() -> None:
    """No importer leans on a name a core module merely imports (moved names would linger there).

    ``fada_desk.core.biometry`` is a package whose ``__init__`` re-exports on purpose.
    """
    import ast

    defined: dict[str, set[str]] = {}
    for path in CORE.rglob("*.py"):
        if path.name == "__init__.py":
            continue
        mod = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        defined[mod] = _defined_names(path)
    bad = []
    for root in ("fada_desk", "tests", "bench"):
        for path in sorted((ROOT / root).rglob("*.py")):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module in defined:
                    for a in node.names:
                        if a.name not in defined[node.module]:
                            bad.append(f"{path.relative_to(ROOT)}:{node.lineno}: {a.name} from {node.module}")
    assert not bad, "\n".join(bad)
