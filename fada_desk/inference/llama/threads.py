"""Thread count for token-by-token decoding, chosen by measuring it.

On a 2-core laptop the fastest thread count for a single-token decode step
depends on what else runs: both cores win while the machine is otherwise idle
(the 0.8B model: ~21 ms per token with 2 threads vs ~27 ms with 1), but as soon
as another process, the GUI or the frame pump holds a core, every graph node's
barrier waits for a descheduled thread and 2 threads fall to 50-300 ms per
token while 1 thread stays at ~27 ms. No static choice is right for both, so
the backend times its own decode steps and keeps the faster choice:

* every candidate is measured once up front;
* the current choice's steps update its running average (EWMA), so a sudden
  slowdown (another program starts) switches to the other candidate within a
  few tokens when that one's last known cost is lower;
* the other candidates are re-probed now and then with a short run (the first
  step after a switch is discarded: it pays for waking threads); a probe that
  loses doubles the interval to the next probe (up to ``max_interval``), so a
  machine that stays busy pays for very few slow probe steps.

Thread counts never change results (ggml splits work by rows/heads; tested),
only speed. Pure Python, no llama.cpp: the backend calls :meth:`choose` before
a single-token step and :meth:`record` after it. :func:`physical_cores` is the
default thread count for prompt and image batches, :func:`decode_thread_candidates`
what the tuner chooses between.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


class ThreadTuner:
    """Picks one of ``candidates`` (thread counts) for single-token decode steps."""

    def __init__(self, candidates: Sequence[int], *, alpha: float = 0.25, interval: int = 32,
                 max_interval: int = 1024, probe_steps: int = 2, margin: float = 0.05) -> None:
        cands = sorted({int(c) for c in candidates if int(c) >= 1}, reverse=True)
        if not cands:
            raise ValueError("ThreadTuner needs at least one thread count >= 1")
        if not 0.0 < alpha <= 1.0:
            raise ValueError("alpha must be in (0, 1]")
        if probe_steps < 1 or interval < 1 or max_interval < interval:
            raise ValueError("probe_steps and interval must be >= 1 and max_interval >= interval")
        self.candidates: tuple[int, ...] = tuple(cands)
        self.alpha = alpha
        self.base_interval = interval
        self.max_interval = max_interval
        self.probe_steps = probe_steps
        self.margin = margin
        self.cost: dict[int, float | None] = {c: None for c in cands}
        self.current = cands[0]
        self.interval = interval
        self._since_probe = 0
        self._probe: int | None = None  # candidate being probed
        self._probe_left = 0
        self._probe_samples: list[float] = []
        self._last: int | None = None  # thread count of the previous step
        self.switches = 0
        self.steps: dict[int, int] = {c: 0 for c in cands}

    @property
    def fixed(self) -> bool:
        return len(self.candidates) == 1

    def choose(self) -> int:
        """Thread count for the next single-token step."""
        if self.fixed:
            return self.current
        if self._probe is None:
            unmeasured = [c for c in self.candidates if self.cost[c] is None]
            if unmeasured:
                self._start_probe(unmeasured[0])
            elif self._since_probe >= self.interval:
                others = [c for c in self.candidates if c != self.current]
                # probe the least recently useful alternative: the one with the lowest known cost
                self._start_probe(min(others, key=lambda c: self.cost[c] or 0.0))
        return self._probe if self._probe is not None else self.current

    def _start_probe(self, c: int) -> None:
        self._probe = c
        # one extra step when switching: its time includes waking/migrating threads
        self._probe_left = self.probe_steps + (1 if c != self._last else 0)
        self._probe_samples = []

    def record(self, threads: int, seconds: float, tokens: int = 1) -> None:
        """Report how long a decode step of ``tokens`` tokens took with ``threads`` threads.

        Only single-token steps are timed; other small batches just tell the
        tuner which thread count ran last (a switch costs the next step).
        """
        if threads not in self.cost or seconds <= 0.0 or tokens != 1:
            self._last = threads
            return
        switched = self._last is not None and threads != self._last
        self._last = threads
        self.steps[threads] += 1
        if self.fixed:
            return
        if self._probe is not None and threads == self._probe:
            self._probe_left -= 1
            if not switched:
                self._probe_samples.append(seconds)
            if self._probe_left <= 0:
                self._finish_probe()
            return
        if switched:
            return  # the first step back after a probe also pays for the switch
        old = self.cost[threads]
        self.cost[threads] = seconds if old is None else old + self.alpha * (seconds - old)
        self._since_probe += 1
        self._maybe_switch()

    def _finish_probe(self) -> None:
        c = self._probe
        assert c is not None
        self._probe = None
        self._since_probe = 0
        if self._probe_samples:
            self.cost[c] = min(self._probe_samples)  # fresh measurement replaces a stale average
        if c == self.current:
            return  # first measurement of the starting choice
        cur = self.cost[self.current]
        new = self.cost[c]
        if new is None:
            return
        if cur is None or new < cur * (1.0 - self.margin):
            self._switch(c)
            self.interval = self.base_interval
        else:
            self.interval = min(self.interval * 2, self.max_interval)

    def _maybe_switch(self) -> None:
        cur = self.cost[self.current]
        if cur is None:
            return
        known = [(cost, c) for c, cost in self.cost.items() if cost is not None and c != self.current]
        if not known:
            return
        best_cost, best = min(known)
        if best_cost < cur * (1.0 - self.margin):
            self._switch(best)
            self.interval = self.base_interval

    def _switch(self, c: int) -> None:
        if c != self.current:
            self.current = c
            self.switches += 1
            self._since_probe = 0

    def summary(self) -> dict[str, object]:
        """Costs (ms) and step counts per candidate, for logs and benchmarks."""
        return {
            "current": self.current,
            "switches": self.switches,
            "cost_ms": {c: (None if v is None else round(v * 1000, 2)) for c, v in self.cost.items()},
            "steps": dict(self.steps),
        }


def decode_thread_candidates(n_threads: int) -> list[int]:
    """Thread counts the decode tuner chooses between (see :class:`ThreadTuner`).

    All cores, half of them and one: measured on a 2-vCPU machine, one token of
    the 0.8B model took ~21 ms with 2 threads and ~27 ms with 1 while the
    machine was otherwise idle, but 2 threads fell to 50-300 ms as soon as
    another process held a core (each graph node ends at a barrier that waits
    for the descheduled thread) while 1 thread stayed at ~27 ms.
    """
    n = max(1, int(n_threads))
    return sorted({n, (n + 1) // 2, 1}, reverse=True)


def physical_cores() -> int:
    """Physical cores available to this process (llama.cpp gains nothing from SMT siblings)."""
    try:
        avail = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        avail = os.cpu_count() or 1
    cores: int | None = None
    try:
        import psutil

        cores = psutil.cpu_count(logical=False)
    except Exception:  # psutil is optional
        cores = None
    if not cores:
        try:
            sib = set()
            for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/topology/core_cpus_list"):
                sib.add(p.read_text().strip())
            cores = len(sib) or None
        except OSError:
            cores = None
    return max(1, min(avail, cores or avail))
