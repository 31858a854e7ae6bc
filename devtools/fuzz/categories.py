"""The fuzz categories: how each prepares its seeds, generates ops, writes an input and runs it.

``prepare`` and ``generate`` run in the parent (cheap, no project imports
beyond pydicom / Pillow for the seeds); ``materialize`` and ``run`` in a
worker. ``selftest`` exercises the harness itself (ops that return, raise,
abort, segfault or hang) and is not part of a campaign unless asked for.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from devtools.fuzz import answers, dicom, image, store, targets, video
from devtools.fuzz.core import ACCEPTED, CLEAN, Case, Op, Outcome, Seed, n_ops, pick_seed, rng_for

BuildInChild = Callable[[Path], None]


class Category:
    name = ""
    most_ops = 3

    def prepare(self, root: Path, build_in_child: BuildInChild) -> list[Seed]:
        raise NotImplementedError

    def generate(self, rng: random.Random, seed: Seed) -> Op:
        raise NotImplementedError

    def materialize(self, root: Path, seed: Seed, ops: tuple[Op, ...], workdir: Path) -> Path:
        raise NotImplementedError

    def run(self, path: Path, workdir: Path) -> Outcome:
        raise NotImplementedError

    def case(self, seeds: list[Seed], campaign_seed: int | str, index: int) -> Case:
        rng = rng_for(campaign_seed, self.name, index)
        seed = pick_seed(rng, seeds)
        ops = tuple(self.generate(rng, seed) for _ in range(n_ops(rng, self.most_ops)))
        return Case(self.name, index, seed.name, ops)


@functools.lru_cache(maxsize=64)
def _seed_bytes(path: str) -> bytes:
    return Path(path).read_bytes()


class FileCategory(Category):
    """A file format mutated by one module (dicom, image, video, answer)."""

    def __init__(self, module: ModuleType, runner: Callable[[Path], Outcome] = targets.run_file) -> None:
        self.module = module
        self.name = module.NAME
        self.runner = runner

    def prepare(self, root: Path, build_in_child: BuildInChild) -> list[Seed]:
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return self.module.prepare(folder)

    def generate(self, rng: random.Random, seed: Seed) -> Op:
        return self.module.generate(rng, seed)

    def materialize(self, root: Path, seed: Seed, ops: tuple[Op, ...], workdir: Path) -> Path:
        data = _seed_bytes(str(root / self.name / seed.name))
        return self.module.materialize(data, ops, workdir, seed)

    def run(self, path: Path, workdir: Path) -> Outcome:
        return self.runner(path)


class StoreCategory(Category):
    """A damaged exam store; a quarter of the cases also export the PDF (the slowest format)."""

    name = store.NAME
    most_ops = 2

    def case(self, seeds: list[Seed], campaign_seed: int | str, index: int) -> Case:
        base = super().case(seeds, campaign_seed, index)
        rng = rng_for(campaign_seed, "store-formats", index)
        formats = "json,png,pdf" if rng.random() < 0.25 else "json,png"
        return base.with_ops((*base.ops, ("formats", formats)))

    def prepare(self, root: Path, build_in_child: BuildInChild) -> list[Seed]:
        folder = root / self.name
        folder.mkdir(parents=True, exist_ok=True)
        return store.prepare(folder, build_in_child)

    def generate(self, rng: random.Random, seed: Seed) -> Op:
        return store.generate(rng, seed)

    def materialize(self, root: Path, seed: Seed, ops: tuple[Op, ...], workdir: Path) -> Path:
        formats = next((op[1] for op in ops if op[0] == "formats"), "json,png")
        (workdir / "formats.txt").write_text(formats)
        return store.materialize(root / self.name / seed.name, tuple(op for op in ops if op[0] != "formats"),
                                 workdir)

    def run(self, path: Path, workdir: Path) -> Outcome:
        formats = (workdir / "formats.txt").read_text().split(",")
        return targets.run_store(path, workdir / "export", formats)


class SelfTest(Category):
    """Ops that make the worker return, raise, abort, segfault or hang: tests of the harness."""

    name = "selftest"
    OPS = (("ok",), ("fada",), ("raise", "ValueError"), ("noise",))

    def prepare(self, root: Path, build_in_child: BuildInChild) -> list[Seed]:
        return [Seed("none")]

    def generate(self, rng: random.Random, seed: Seed) -> Op:
        return rng.choice(self.OPS)

    def materialize(self, root: Path, seed: Seed, ops: tuple[Op, ...], workdir: Path) -> Path:
        path = workdir / "ops.txt"
        path.write_text(repr(ops))
        return path

    def run(self, path: Path, workdir: Path) -> Outcome:
        import ast

        ops = ast.literal_eval(path.read_text())
        return targets.stage("selftest", lambda: _selftest(ops))


def _selftest(ops: tuple[Op, ...]) -> Outcome | None:
    from fada_desk.core.errors import SourceError

    out: Outcome | None = None
    for op in ops:
        kind = op[0]
        if kind == "fada":
            raise SourceError("selftest: a clean, one-line error")
        if kind == "raise":
            raise {"ValueError": ValueError, "KeyError": KeyError, "MemoryError": MemoryError}[op[1]]("selftest")
        if kind == "abort":
            os.abort()
        if kind == "segv":
            import ctypes

            ctypes.string_at(0)
        if kind == "hang":
            time.sleep(3600)
        if kind == "exit":
            os._exit(op[1])
        if kind == "ok":
            out = Outcome(ACCEPTED, stage="selftest")
    return out if out is not None else Outcome(CLEAN, message="selftest: nothing to do", stage="selftest")


CATEGORIES: dict[str, Category] = {
    "dicom": FileCategory(dicom),
    "image": FileCategory(image),
    "video": FileCategory(video),
    "store": StoreCategory(),
    "answer": FileCategory(answers, targets.run_answer),
    "selftest": SelfTest(),
}
DEFAULT = ("dicom", "image", "video", "store", "answer")
