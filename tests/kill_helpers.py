"""Run a child process, SIGKILL it at a given moment, collect the lines it fully printed."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys


def run_and_kill(args: list[str], delay: float) -> list[str]:
    """Start ``python *args``, wait for its ``ready`` line, SIGKILL it ``delay`` s later.

    Returns the complete (newline-terminated) lines printed after ``ready``: a line cut by
    the kill is not a report. Fails if the child dies on its own.
    """
    proc = subprocess.Popen([sys.executable, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    try:
        first = proc.stdout.readline()
        assert first == "ready\n", f"child failed to start: {first!r} {proc.stderr.read()}"
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=delay)
        assert proc.poll() is None, f"child died on its own: {proc.stderr.read()}"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        rest = proc.stdout.read()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    return [line[:-1] for line in rest.splitlines(keepends=True) if line.endswith("\n")]
