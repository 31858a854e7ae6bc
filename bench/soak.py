"""Soak: hours of live streaming with periodic AI runs must stay flat (memory, handles, threads).

A :class:`~fada_desk.sources.synthetic.SyntheticLiveSource` streams into the
real main window (built by ``fada_desk.qt.app.create_window``, so with the
app's log and error reporting; offscreen by default) - the capture-card path:
producer thread -> FramePump -> cine buffer -> live view. Every ``--ai-every``
seconds the image is frozen, the AI panel runs the full autonomous analysis on
a scripted backend (the real pipeline, parser, mapper and overlay; answers
from tests/data/fada_outputs, no model), and the stream is unfrozen again.

Every ``--sample-every`` seconds it records the process's RSS, open file
descriptors, OS and Python threads and live Python objects, and prints a table
over time and the least-squares slope of each (per hour) after the warm-up.
Goal: RSS slope ~0 (well under 1 MB/h per hour of streaming), handles and
threads flat, no unhandled error.

    .venv/bin/python bench/soak.py --minutes 5
    .venv/bin/python bench/soak.py --minutes 480 --json soak-8h.json     # the release check
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

CORPUS = ROOT / "tests" / "data" / "fada_outputs"
ANSWERS = {  # phase -> corpus answer (a brain plane: interpret, classify, detect, segment)
    "interpret": "01_interpret_clean_brain.txt",
    "classify": "14_classify_clean.txt",
    "detect": "20_detect_clean_brain.txt",
    "segment": "30_segment_clean_brain.txt",
    "keypoints": "35_keypoints_crl.txt",
}


class SoakBackend:
    """A scripted ModelBackend: streams the corpus answer of each phase; keeps nothing between calls."""

    def __init__(self, chunk: int = 12) -> None:
        from fada_desk.inference.fada import constants as C

        self._c = C
        self.answers = {p: (CORPUS / f).read_text(encoding="utf-8") for p, f in ANSWERS.items()}
        self.chunk = chunk
        self._loaded = False
        self.calls = 0

    def load(self, progress: Any = None) -> None:
        self._loaded = True

    def close(self) -> None:
        self._loaded = False

    @property
    def loaded(self) -> bool:
        return self._loaded

    @property
    def info(self) -> Any:
        from fada_desk.inference.backend import BackendInfo

        return BackendInfo("soak", "/models/soak.gguf", "/models/soak-mmproj.gguf", "a" * 64, "b" * 64, 2, 0,
                           False, "CPU")

    def _phase(self, prompt: str) -> str:
        C = self._c
        if prompt == C.INTERPRET_PROMPT:
            return "interpret"
        if prompt == C.CLASSIFY_PROMPT:
            return "classify"
        if prompt.startswith("Detect and segment all instances"):
            return "segment"
        if prompt.startswith("Detect measurement keypoints"):
            return "keypoints"
        return "detect"

    def generate(self, request: Any, cancel: Any = None, stats: Any = None) -> Iterator[str]:
        self.calls += 1
        text = self.answers[self._phase(request.prompt)]
        pieces = [text[i : i + self.chunk] for i in range(0, len(text), self.chunk)][: request.max_tokens]
        if stats is not None:
            stats.prompt_tokens, stats.image_tokens, stats.completion_tokens = len(request.prompt) // 4, 64, len(pieces)
        for piece in pieces:
            if cancel is not None:
                cancel.check()
            yield piece


@dataclass
class Sample:
    t_s: float
    rss_mb: float
    fds: int
    os_threads: int
    py_threads: int
    py_objects: int
    ai_runs: int
    frames_shown: int


def _proc_status() -> tuple[float, int, int]:
    """(RSS MB, open fds, OS threads) of this process."""
    try:
        import psutil

        p = psutil.Process()
        return p.memory_info().rss / 2**20, p.num_fds(), p.num_threads()
    except ImportError:
        rss_pages = int(Path("/proc/self/statm").read_text().split()[1])
        threads = next(int(line.split()[1]) for line in Path("/proc/self/status").read_text().splitlines()
                       if line.startswith("Threads:"))
        return rss_pages * os.sysconf("SC_PAGE_SIZE") / 2**20, len(os.listdir("/proc/self/fd")), threads


def slope_per_hour(samples: list[Sample], field: str, warmup_s: float) -> float:
    pts = [(s.t_s, float(getattr(s, field))) for s in samples if s.t_s >= warmup_s]
    if len(pts) < 3:
        return float("nan")
    n = len(pts)
    mx = sum(t for t, _ in pts) / n
    my = sum(v for _, v in pts) / n
    sxx = sum((t - mx) ** 2 for t, _ in pts)
    if sxx == 0:
        return float("nan")
    return sum((t - mx) * (v - my) for t, v in pts) / sxx * 3600.0


def run(minutes: float, fps: float, size: tuple[int, int], ai_every: float, sample_every: float) -> dict[str, Any]:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from fada_desk.app.model_service import reset_shared_service, shared_service
    from fada_desk.core.logging_setup import shutdown_logging
    from fada_desk.qt.app import create_window
    from fada_desk.sources.synthetic import SyntheticLiveSource

    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)
    _quiet_offscreen_warnings()
    backend = SoakBackend()
    shared_service().use_backend(backend, "soak backend")
    win = create_window(None, sample=False)
    win.resize(1280, 860)
    panel = win.ai_dock.panel
    shown = {"n": 0, "last": None}
    state: dict[str, Any] = {"runs": 0, "failed": 0, "phase": "streaming", "since": time.monotonic()}
    samples: list[Sample] = []
    t0 = time.monotonic()
    end = t0 + minutes * 60

    def count_frames() -> None:
        f = win.shown_frame
        if f is not None and f is not shown["last"]:
            shown["n"] += 1
            shown["last"] = f

    def sample() -> None:
        gc.collect()
        rss, fds, threads = _proc_status()
        samples.append(Sample(round(time.monotonic() - t0, 1), round(rss, 1), fds, threads, threading.active_count(),
                              len(gc.get_objects()), state["runs"], shown["n"]))
        last = samples[-1]
        print(f"  {last.t_s:7.0f} s  RSS {last.rss_mb:7.1f} MB  fds {last.fds:4d}  threads {last.os_threads:3d}  "
              f"AI runs {last.ai_runs:4d}  frames {last.frames_shown}", file=sys.stderr, flush=True)

    def on_result(_res: object) -> None:
        state["runs"] += 1
        state["phase"] = "done"

    def tick() -> None:  # the AI cycle: stream -> freeze -> run -> unfreeze
        now = time.monotonic()
        if now >= end:
            app.quit()
            return
        p = win.pump
        if state["phase"] == "streaming" and now - state["since"] >= ai_every and p is not None and not p.frozen:
            win.toggle_freeze()
            state.update(phase="starting", since=now)
        elif state["phase"] == "starting":
            if panel.run_autonomous() is not None:
                state.update(phase="running", since=now)
            elif now - state["since"] > 10:
                state["failed"] += 1
                state.update(phase="done")
        elif state["phase"] == "running" and now - state["since"] > 60:
            state["failed"] += 1  # no result within a minute
            state.update(phase="done")
        elif state["phase"] == "done":
            if p is not None and p.frozen:
                win.toggle_freeze()
            state.update(phase="streaming", since=now)

    panel.resultReady.connect(on_result)
    timers = []
    for interval, fn in ((1000.0 / max(fps, 1.0), count_frames), (200.0, tick), (sample_every * 1000.0, sample)):
        t = QTimer()
        t.timeout.connect(fn)
        t.start(int(interval))
        timers.append(t)
    win.open_source(SyntheticLiveSource(size[0], size[1], fps=fps, color=True))
    QTimer.singleShot(0, sample)
    try:
        app.exec()
    finally:
        for t in timers:
            t.stop()
        errors = win.error_reporter.count
        win.shutdown()
        win.error_reporter.uninstall()
        win.close()
        shutdown_logging()
        reset_shared_service()
    return {"samples": samples, "ai_runs": state["runs"], "ai_failed": state["failed"], "errors": errors,
            "backend_calls": backend.calls}


def _quiet_offscreen_warnings() -> None:
    """The offscreen platform warns on every dock re-layout; everything else still goes to stderr."""
    from PySide6.QtCore import qInstallMessageHandler

    def handler(_mode: Any, _context: Any, message: str) -> None:
        if "propagateSizeHints" not in message:
            print(message, file=sys.stderr)

    qInstallMessageHandler(handler)


def print_report(result: dict[str, Any], warmup_s: float, rows: int = 24) -> None:
    samples: list[Sample] = result["samples"]
    step = max(1, len(samples) // rows)
    picked = samples[::step] + ([samples[-1]] if (len(samples) - 1) % step else [])
    head = f"{'time s':>8} {'RSS MB':>8} {'fds':>5} {'OS thr':>6} {'Py thr':>6} {'Py objects':>10} {'AI runs':>7} " \
           f"{'frames':>8}"
    print(head)
    print("-" * len(head))
    for s in picked:
        print(f"{s.t_s:8.0f} {s.rss_mb:8.1f} {s.fds:5d} {s.os_threads:6d} {s.py_threads:6d} {s.py_objects:10d} "
              f"{s.ai_runs:7d} {s.frames_shown:8d}")
    print()
    print(f"slope per hour after {warmup_s:.0f} s warm-up:")
    for field, unit in (("rss_mb", "MB"), ("fds", "fds"), ("os_threads", "threads"), ("py_objects", "objects")):
        print(f"  {field:<11} {slope_per_hour(samples, field, warmup_s):+10.2f} {unit}/h")
    after = [x for x in samples if x.t_s >= warmup_s]
    if after:
        print(f"  RSS after warm-up: first {after[0].rss_mb:.1f}, min {min(x.rss_mb for x in after):.1f}, "
              f"max {max(x.rss_mb for x in after):.1f}, last {after[-1].rss_mb:.1f} MB "
              f"(a slope from minutes of data extrapolates single allocator steps: run >= 30 min to judge)")
    span = samples[-1].t_s - samples[0].t_s if len(samples) > 1 else 0.0
    fps = (samples[-1].frames_shown - samples[0].frames_shown) / span if span else float("nan")
    print(f"AI runs {result['ai_runs']} (failed to start or finish: {result['ai_failed']}), "
          f"model calls {result['backend_calls']}, unhandled errors {result['errors']}, "
          f"frames shown {samples[-1].frames_shown} ({fps:.1f}/s)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--size", default="800x600", help="WxH of the synthetic frames")
    ap.add_argument("--ai-every", type=float, default=15.0, help="seconds of streaming between AI runs")
    ap.add_argument("--sample-every", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=None, help="seconds left out of the slope (default 20%%)")
    ap.add_argument("--json", help="also write the samples and slopes here")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    os.environ["FADA_DESK_DATA_DIR"] = tempfile.mkdtemp(prefix="fada-soak-")  # never the user's data
    w, h = (int(v) for v in args.size.lower().split("x"))
    warmup = args.warmup if args.warmup is not None else 0.2 * args.minutes * 60
    print(f"soak: {args.minutes:g} min, {w}x{h} @ {args.fps:g} fps, AI run every {args.ai_every:g} s, "
          f"platform {os.environ['QT_QPA_PLATFORM']}", flush=True)
    result = run(args.minutes, args.fps, (w, h), args.ai_every, args.sample_every)
    print_report(result, warmup)
    if args.json:
        samples = result["samples"]
        doc = {**{k: v for k, v in result.items() if k != "samples"}, "samples": [asdict(s) for s in samples],
               "slopes_per_hour": {f: slope_per_hour(samples, f, warmup)
                                   for f in ("rss_mb", "fds", "os_threads", "py_objects")}}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
