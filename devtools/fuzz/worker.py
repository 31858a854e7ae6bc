"""The worker process: writes each case's input and runs it through the real entry points.

Imported by the fork server before any worker exists (``preload``), so the
heavy libraries are loaded once and every (re)started worker is a cheap fork.
A worker redirects its stdout/stderr into its own log file (truncated at each
case), dumps its Python stack there on a fatal signal (faulthandler) or on
SIGUSR1 (sent by the pool before it kills a hung worker), writes no core
files and may grow its address space by ``mem_mb`` at most: a decompression
bomb becomes a MemoryError (a crash kind) instead of taking the machine.
"""

from __future__ import annotations

import faulthandler
import os
import resource
import shutil
import signal
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path

from devtools.fuzz.categories import CATEGORIES
from devtools.fuzz.core import CRASH, Case, Outcome, Seed, exception_outcome


def preload() -> None:
    """Import what the entry points import (pydicom, OpenCV, Pillow, the project's sources, store, export)."""
    import cv2  # noqa: F401
    import numpy  # noqa: F401
    import PIL.Image  # noqa: F401
    import pydicom  # noqa: F401
    import pydicom.pixels  # noqa: F401

    import fada_desk.app.export  # noqa: F401
    import fada_desk.cli.info  # noqa: F401
    import fada_desk.export.pdf_export  # noqa: F401
    import fada_desk.inference.fada.answers  # noqa: F401
    import fada_desk.inference.fada.mapper  # noqa: F401
    import fada_desk.sources.dicom  # noqa: F401
    import fada_desk.sources.image  # noqa: F401
    import fada_desk.sources.video  # noqa: F401
    import fada_desk.storage  # noqa: F401
    import fada_desk.storage.review  # noqa: F401


try:  # in the fork server: load everything once
    preload()
except Exception:  # noqa: BLE001, S110 - a missing optional library shows up as a crash of its cases instead
    pass


def _vm_bytes() -> int:
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[0]) * resource.getpagesize()
    except (OSError, ValueError, IndexError):
        return 0


def _die_with_parent() -> None:
    """SIGKILL this worker when the fork server (which exits with the campaign) goes: no orphaned hangs."""
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _limit_resources(mem_mb: int) -> None:
    _die_with_parent()
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    if mem_mb > 0:
        base = _vm_bytes()
        if base:
            limit = base + mem_mb * 1024 * 1024
            _, hard = resource.getrlimit(resource.RLIMIT_AS)
            if hard != resource.RLIM_INFINITY:
                limit = min(limit, hard)
            resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def worker_main(conn: Connection, seeds_root: str, seeds: dict[str, dict[str, Seed]], log_path: str,
                home_dir: str, mem_mb: int) -> None:
    """Serve cases from ``conn`` until None; ``home_dir`` (made and removed by the pool) holds its files."""
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_TRUNC, 0o600)
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    faulthandler.enable(file=sys.stderr, all_threads=True)
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    home = Path(home_dir)
    os.environ["FADA_DESK_DATA_DIR"] = str(home / "userdata")
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    _limit_resources(mem_mb)
    root = Path(seeds_root)
    conn.send("ready")  # set up: from here on a death is the case's doing
    while True:
        try:
            case = conn.recv()
        except (EOFError, OSError):
            return
        if case is None:
            return
        os.ftruncate(log_fd, 0)
        t0 = time.monotonic()
        out = run_case(case, root, seeds, home / "case")
        out.seconds = time.monotonic() - t0
        out.peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
        conn.send(out)


def run_case(case: Case, root: Path, seeds: dict[str, dict[str, Seed]], workdir: Path) -> Outcome:
    """Write the case's input into a fresh ``workdir`` and run it; the workdir is removed after."""
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    category = CATEGORIES[case.category]
    try:
        try:
            path = category.materialize(root, seeds[case.category][case.seed], case.ops, workdir)
        except Exception as err:  # noqa: BLE001 - a mutator bug: reported, never hidden
            out = exception_outcome(err, "materialize")
            return Outcome(CRASH, "harness error: " + out.kind, out.message, out.detail, "materialize")
        return category.run(path, workdir)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
