"""A fuzz campaign: seeds prepared once, a worker pool, per-category tallies, minimal crashing inputs.

>>> with Campaign(["dicom", "answer"], workers=2) as c:
...     tally = c.run("dicom", n=1000, seed=1)
...     print(format_table([tally]))
...     c.save_crashes(tally, Path("fuzz-crashes"))      # minimised first

Minimising a crash removes ops one at a time while the same crash kind
reproduces (ops are whole mutations, so what is left is the smallest set of
edits of the seed that still crashes); the saved folder holds the input
itself, ``case.json`` (seed, ops, kind, message, the traceback or fault dump)
and the command that replays it.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devtools.fuzz.categories import CATEGORIES
from devtools.fuzz.core import ACCEPTED, CLEAN, CRASH, Case, Outcome, Seed
from devtools.fuzz.pool import _CTX, Pool


SLOW_S = 5.0


@dataclass
class Tally:
    category: str
    inputs: int = 0
    clean: int = 0
    accepted: int = 0
    crashes: Counter[str] = field(default_factory=Counter)
    examples: dict[str, tuple[Case, Outcome]] = field(default_factory=dict)  # kind -> the case with fewest ops
    seconds: float = 0.0
    peak_rss_mb: float = 0.0
    slow: int = 0  # inputs that took longer than SLOW_S (whatever their outcome)
    slowest: tuple[float, Case | None] = (0.0, None)

    @property
    def crashed(self) -> int:
        return sum(self.crashes.values())

    def add(self, case: Case, out: Outcome) -> None:
        self.inputs += 1
        self.peak_rss_mb = max(self.peak_rss_mb, out.peak_rss_mb)
        if out.seconds > SLOW_S:
            self.slow += 1
        if out.seconds > self.slowest[0]:
            self.slowest = (out.seconds, case)
        if out.status == ACCEPTED:
            self.accepted += 1
        elif out.status == CLEAN:
            self.clean += 1
        else:
            self.crashes[out.kind] += 1
            best = self.examples.get(out.kind)
            if best is None or (len(case.ops), case.index) < (len(best[0].ops), best[0].index):
                self.examples[out.kind] = (case, out)


def _build_in_child(root: Path) -> None:
    """Run the store seed builder in a fresh process (it pins the clock and UUIDs there)."""
    proc = _CTX.Process(target=_build_store, args=(str(root),))
    proc.start()
    proc.join(300)
    if proc.exitcode != 0:
        raise RuntimeError(f"building the seed exam store failed (exit {proc.exitcode})")


def _build_store(root: str) -> None:
    from devtools.fuzz import store

    store.build(Path(root))


class Campaign:
    """Seeds for ``categories`` in a temporary folder and a pool of ``workers`` processes."""

    def __init__(self, categories: Sequence[str], workers: int = 2, timeout: float = 20.0, mem_mb: int = 2048,
                 root: Path | None = None) -> None:
        unknown = [c for c in categories if c not in CATEGORIES]
        if unknown:
            raise ValueError(f"unknown fuzz categories: {', '.join(unknown)} (known: {', '.join(CATEGORIES)})")
        self._own_root = root is None
        self.root = Path(tempfile.mkdtemp(prefix="fuzz-seeds-")) if root is None else Path(root)
        self.seeds: dict[str, list[Seed]] = {
            c: CATEGORIES[c].prepare(self.root, _build_in_child) for c in categories
        }
        self.pool = Pool(self.root, self.seeds, workers=workers, timeout=timeout, mem_mb=mem_mb)

    def cases(self, category: str, n: int, seed: int | str, start: int = 0) -> Iterable[Case]:
        cat = CATEGORIES[category]
        return (cat.case(self.seeds[category], seed, i) for i in range(start, start + n))

    def run(self, category: str, n: int, seed: int | str, start: int = 0,
            progress: Callable[[Tally], None] | None = None) -> Tally:
        tally = Tally(category)
        t0 = time.monotonic()
        for case, out in self.pool.run(self.cases(category, n, seed, start)):
            tally.add(case, out)
            if progress is not None and tally.inputs % 100 == 0:
                tally.seconds = time.monotonic() - t0
                progress(tally)
        tally.seconds = time.monotonic() - t0
        return tally

    def run_cases(self, cases: Iterable[Case]) -> list[tuple[Case, Outcome]]:
        return list(self.pool.run(cases))

    def minimize(self, case: Case, kind: str, budget: int = 40) -> Case:
        """The case with as few ops as still give crash ``kind`` (at most ``budget`` runs)."""
        ops = list(case.ops)
        runs = 0
        changed = True
        while changed and len(ops) > 1 and runs < budget:
            changed = False
            candidates = [case.with_ops(tuple(ops[:i] + ops[i + 1 :])) for i in range(len(ops))]
            runs += len(candidates)
            results = {c.ops: out for c, out in self.pool.run(candidates)}
            for cand in candidates:
                if results[cand.ops].kind == kind:
                    ops = list(cand.ops)
                    changed = True
                    break
        return case.with_ops(tuple(ops))

    def save_crashes(self, tally: Tally, folder: Path, minimize: bool = True, seed: int | str = "?") -> list[Path]:
        """One folder per crash kind under ``folder/<category>/``; returns them."""
        saved = []
        for kind, (case, out) in sorted(tally.examples.items()):
            if minimize and len(case.ops) > 1:
                small = self.minimize(case, kind)
                if small.ops != case.ops:
                    ((case, again),) = self.run_cases([small])
                    out = again if again.kind == kind else out
            saved.append(self.save(case, out, folder / tally.category / _slug(kind), seed))
        return saved

    def save(self, case: Case, out: Outcome, dest: Path, seed: int | str = "?") -> Path:
        if dest.exists():
            shutil.rmtree(dest)
        dest.mkdir(parents=True)
        cat = CATEGORIES[case.category]
        work = dest / "work"
        work.mkdir()
        seed_file = {s.name: s for s in self.seeds[case.category]}[case.seed]
        path = cat.materialize(self.root, seed_file, case.ops, work)
        shutil.move(str(path), dest / path.name)
        shutil.rmtree(work, ignore_errors=True)
        doc = {"kind": out.kind if out.status == CRASH else out.status, "message": out.message,
               "stage": out.stage, "case": case.to_json(), "detail": out.detail,
               "replay": f"bench/fuzz.py --categories {case.category} --seed {seed} --replay {case.index}"
                         + "  (regenerates the case as first found; 'ops' above are the minimal ones)"}
        (dest / "case.json").write_text(json.dumps(doc, indent=2, ensure_ascii=False, default=str) + "\n")
        return dest

    def close(self) -> None:
        self.pool.close()
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> Campaign:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _slug(kind: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", kind).strip("_")[:120] or "crash"


def format_table(tallies: Iterable[Tally]) -> str:
    """category | inputs | clean | accepted | crashes, then the crash kinds of each category with counts."""
    tallies = list(tallies)
    head = ("category", "inputs", "clean", "accepted", "crashes", "kinds", f"slow>{SLOW_S:g}s", "slowest s",
            "seconds", "peak RSS MB")
    rows = [(t.category, str(t.inputs), str(t.clean), str(t.accepted), str(t.crashed), str(len(t.crashes)),
             str(t.slow), f"{t.slowest[0]:.1f}", f"{t.seconds:.1f}", f"{t.peak_rss_mb:.0f}") for t in tallies]
    widths = [max(len(r[i]) for r in (head, *rows)) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True)))
             for r in (head, *rows)]
    lines.insert(1, "  ".join("-" * w for w in widths))
    for t in tallies:
        if t.slow and t.slowest[1] is not None:
            lines.append(f"{t.category}: {t.slow} input(s) over {SLOW_S:g} s; slowest: case {t.slowest[1].index} "
                         f"({t.slowest[0]:.1f} s, seed {t.slowest[1].seed})")
    for t in tallies:
        if t.crashes:
            lines.append("")
            lines.append(f"{t.category} crashes by kind:")
            for kind, count in t.crashes.most_common():
                lines.append(f"  {count:6d}  {kind}")
                lines.append(f"          e.g. case {t.examples[kind][0].index}: {t.examples[kind][1].message[:150]}")
    return "\n".join(lines)
