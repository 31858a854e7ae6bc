"""Fuzz campaign: mutated DICOM, images, video, exam stores and model answers through the real entry points.

Each input runs in a worker process (devtools/fuzz/pool.py), so an abort, a
segfault or a hang counts as a crash of that input instead of ending the run.
Prints one row per category (inputs, clean errors, accepted, crashes) and
the crash kinds with their counts, then minimises one input per crash kind
and writes it to ``--out`` (``<category>/<kind>/``: the input, case.json).

    .venv/bin/python bench/fuzz.py                        # 10,000 per category, seed 1
    .venv/bin/python bench/fuzz.py --categories dicom,answer --n 2000 --seed 7
    .venv/bin/python bench/fuzz.py --categories dicom --seed 7 --replay 1234   # one case, in detail

Outcome classes: ``clean`` = a FadaError with a one-line message (what the
user sees), ``accepted`` = opened / parsed, ``crash`` = anything else
(another exception, an abort or signal, a hang past --timeout, a result
breaking the entry point's contract). Goal: 0 crashes.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Imports live in the functions: every worker the fork server starts re-imports this script as
# ``__mp_main__``, which must then do nothing (and read nothing that may be mid-edit).


def main(argv: list[str] | None = None) -> int:
    from devtools.fuzz.campaign import Campaign, format_table
    from devtools.fuzz.categories import CATEGORIES, DEFAULT

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--categories", default=",".join(DEFAULT), help=f"comma list of {', '.join(CATEGORIES)}")
    p.add_argument("--n", type=int, default=10_000, help="inputs per category (default 10000)")
    p.add_argument("--seed", default="1", help="campaign seed (case i is reproducible from it alone)")
    p.add_argument("--start", type=int, default=0, help="first case index")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    p.add_argument("--timeout", type=float, default=20.0, help="seconds before a case counts as a hang")
    p.add_argument("--mem-mb", type=int, default=2048, help="address space a worker may add (0: no limit)")
    p.add_argument("--out", type=Path, default=Path("fuzz-crashes"), help="where minimal crashing inputs go")
    p.add_argument("--no-minimize", action="store_true", help="save the first crashing input of each kind as is")
    p.add_argument("--json", type=Path, help="also write the tallies as JSON")
    p.add_argument("--replay", type=int, help="run case REPLAY of each category and print it in detail")
    args = p.parse_args(argv)
    cats = [c.strip() for c in args.categories.split(",") if c.strip()]
    with Campaign(cats, workers=args.workers, timeout=args.timeout, mem_mb=args.mem_mb) as campaign:
        if args.replay is not None:
            return _replay(campaign, cats, args)
        tallies: list[Any] = []
        for cat in cats:
            t0 = time.monotonic()
            tally = campaign.run(cat, args.n, args.seed, args.start, progress=_progress(args.n))
            print(f"{cat}: {tally.inputs} inputs in {time.monotonic() - t0:.0f} s", file=sys.stderr)
            tallies.append(tally)
        print(f"seed {args.seed}, {args.workers} workers, timeout {args.timeout:g} s, "
              f"worker restarts {campaign.pool.restarts}")
        print(format_table(tallies))
        saved = []
        for tally in tallies:
            if tally.crashes:
                saved += campaign.save_crashes(tally, args.out, minimize=not args.no_minimize, seed=args.seed)
        if saved:
            print(f"\n{len(saved)} minimal crashing input(s) under {args.out}/")
        if args.json:
            args.json.write_text(json.dumps([_tally_json(t, args.seed) for t in tallies], indent=2) + "\n")
    return 1 if any(t.crashes for t in tallies) else 0


def _progress(n: int):  # noqa: ANN202
    def report(t: Any) -> None:
        if t.inputs % 500 == 0:
            print(f"  {t.category}: {t.inputs}/{n}  clean {t.clean}  accepted {t.accepted}  crashes {t.crashed}"
                  f"  ({t.seconds:.0f} s)", file=sys.stderr)
    return report


def _tally_json(t: Any, seed: str) -> dict:
    return {"category": t.category, "seed": seed, "inputs": t.inputs, "clean": t.clean, "accepted": t.accepted,
            "crashes": dict(t.crashes.most_common()), "seconds": round(t.seconds, 1),
            "examples": {k: c.to_json() for k, (c, _) in t.examples.items()}}


def _replay(campaign: Any, cats: list[str], args: argparse.Namespace) -> int:
    crashed = False
    for cat in cats:
        ((case, out),) = campaign.run_cases(campaign.cases(cat, 1, args.seed, args.replay))
        print(f"{cat} case {case.index} (seed {args.seed}): {out.status} {out.kind}".rstrip())
        print(f"  seed file: {case.seed}")
        for op in case.ops:
            print(f"  op: {repr(op)[:300]}")
        if out.message:
            print(f"  message: {out.message}")
        if out.detail:
            print(out.detail)
        if out.crashed:
            crashed = True
            print(f"  saved: {campaign.save(case, out, args.out / cat / f'case-{case.index}', args.seed)}")
    return 1 if crashed else 0


if __name__ == "__main__":
    raise SystemExit(main())
