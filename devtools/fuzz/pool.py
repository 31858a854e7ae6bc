"""A pool of worker processes where a worker that dies or hangs is a result, not a lost input.

``concurrent.futures`` gives up the whole pool when one worker dies and cannot
say which input killed it; here each worker runs one case at a time over its
own pipe, so the pool always knows the case in flight. A worker that exits
without answering (abort, segfault, ``os._exit``) yields a crash named after
its signal and the Python stack faulthandler left in its log; a worker past
the timeout is asked for its stack (SIGUSR1), killed and reported as
``timeout``. Either way a fresh worker takes its place.

Workers are forked from a fork server that has imported the heavy libraries
once (``devtools.fuzz.worker``), so a restart costs milliseconds.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from devtools.fuzz.core import CRASH, Case, Outcome, Seed, fault_signature

_CTX = mp.get_context("forkserver")
_CTX.set_forkserver_preload(["devtools.fuzz.worker"])


def _entry(*args: Any) -> None:
    from devtools.fuzz.worker import worker_main

    worker_main(*args)


@dataclass
class _Worker:
    proc: Any
    conn: Connection
    log: Path
    case: Case | None = None
    started: float = 0.0
    ready: bool = False  # the worker said it is set up (a death before that is the harness's, not the case's)


class Pool:
    """``workers`` processes running cases; iterate :meth:`run` for ``(case, outcome)`` pairs."""

    def __init__(self, seeds_root: Path, seeds: dict[str, list[Seed]], workers: int = 2, timeout: float = 20.0,
                 mem_mb: int = 2048) -> None:
        self.seeds_root = Path(seeds_root)
        self.seeds = {cat: {s.name: s for s in lst} for cat, lst in seeds.items()}
        self.timeout = timeout
        self.mem_mb = mem_mb
        self.restarts = 0
        self._tmp = Path(tempfile.mkdtemp(prefix="fuzz-pool-", dir=_scratch()))  # logs, worker homes
        self._workers = [self._start(i) for i in range(max(1, workers))]

    def _start(self, i: int) -> _Worker:
        log = self._tmp / f"worker{i}.log"
        log.unlink(missing_ok=True)  # never read the last worker's dump as this one's
        home = self._tmp / f"worker{i}"
        shutil.rmtree(home, ignore_errors=True)  # what a killed worker left
        home.mkdir()
        parent, child = _CTX.Pipe()
        args = (child, str(self.seeds_root), self.seeds, str(log), str(home), self.mem_mb)
        proc = _CTX.Process(target=_entry, args=args, daemon=True, name=f"fuzz-worker-{i}")
        proc.start()
        child.close()
        return _Worker(proc, parent, log)

    def _restart(self, w: _Worker) -> _Worker:
        i = self._workers.index(w)
        try:
            w.conn.close()
        except OSError:
            pass
        if w.proc.is_alive():
            w.proc.kill()
        w.proc.join(5)
        self._workers[i] = self._start(i)
        self.restarts += 1
        return self._workers[i]

    def run(self, cases: Iterable[Case]) -> Iterator[tuple[Case, Outcome]]:
        """Run every case; yields as results arrive (not in order)."""
        pending = iter(cases)
        exhausted = False
        while True:
            if not exhausted:
                for w in list(self._workers):
                    if w.case is None:
                        case = next(pending, None)
                        if case is None:
                            exhausted = True
                            break
                        self._dispatch(w, case)
            busy = [w for w in self._workers if w.case is not None]
            if not busy:
                return
            now = time.monotonic()
            deadline = min(w.started for w in busy) + self.timeout
            wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=max(0.0, deadline - now))
            for w in busy:
                result = self._collect(w)
                if result is not None:
                    yield result

    def _dispatch(self, w: _Worker, case: Case) -> None:
        if not w.proc.is_alive():
            w = self._restart(w)
        w.case, w.started = case, time.monotonic()
        try:
            w.conn.send(case)
        except (BrokenPipeError, OSError):
            pass  # found dead when collected

    def _collect(self, w: _Worker) -> tuple[Case, Outcome] | None:
        case = w.case
        assert case is not None
        try:
            while w.conn.poll():
                out = w.conn.recv()
                if out == "ready":
                    w.ready = True
                    continue
                w.case = None
                return case, out
        except (EOFError, OSError):
            pass
        if not w.proc.is_alive():
            w.proc.join(1)
            if not w.ready:
                raise RuntimeError(f"a fuzz worker failed to start (exit {w.proc.exitcode}); its error is on "
                                   f"stderr above. Log: {_read_tail(w.log)[-2000:]}")
            out = self._death(w, w.proc.exitcode)
        elif time.monotonic() - w.started > self.timeout:
            os.kill(w.proc.pid, signal.SIGUSR1)  # faulthandler: where is it stuck?
            time.sleep(0.3)
            out = self._death(w, None)
        else:
            return None
        w.case = None
        self._restart(w)
        return case, out

    def _death(self, w: _Worker, code: int | None) -> Outcome:
        log = _read_tail(w.log)
        if code is None:
            what = "timeout"
            message = f"no answer after {self.timeout:g} s"
        elif code < 0:
            try:
                what = signal.Signals(-code).name
            except ValueError:
                what = f"signal {-code}"
            message = _fatal_line(log) or what
        else:
            what = f"exit {code}"
            message = _fatal_line(log) or f"the worker exited with status {code}"
        out = Outcome(CRASH, fault_signature(what, log), message, log[-6000:], "worker")
        out.seconds = time.monotonic() - w.started
        return out

    def close(self) -> None:
        for w in self._workers:
            try:
                w.conn.send(None)
            except OSError:
                pass
        for w in self._workers:
            w.proc.join(2)
            if w.proc.is_alive():
                w.proc.kill()
                w.proc.join(2)
            w.conn.close()
        shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _scratch() -> str | None:
    """A RAM-backed folder for the inputs when there is one: the store and the exports fsync a lot."""
    shm = Path("/dev/shm")
    try:
        if shm.is_dir() and os.access(shm, os.W_OK) and shutil.disk_usage(shm).free > 2 << 30:
            return str(shm)
    except OSError:
        pass
    return None


def _read_tail(path: Path, limit: int = 200_000) -> str:
    try:
        with path.open("rb") as f:
            f.seek(max(0, path.stat().st_size - limit))
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def _fatal_line(log: str) -> str:
    for line in log.splitlines():
        if line.startswith(("terminate called", "Fatal Python error", "what():", "  what():")):
            return line.strip()[:300]
    lines = [ln for ln in log.splitlines() if ln.strip() and not ln.startswith(("  File", "Thread", "Current"))]
    return lines[-1].strip()[:300] if lines else ""
