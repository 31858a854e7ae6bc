"""Live display benchmark: synthetic 1080p30 / 720p60 sources through the real window.

Each scenario opens a :class:`~fada_desk.sources.synthetic.SyntheticLiveSource`
(producer thread at an exact rate; every frame carries its grab time in its
first pixel row) in the real :class:`~fada_desk.qt.main_window.MainWindow`
(offscreen by default), i.e. the same path as a capture card:
producer -> LatestFrameSlot -> FramePump thread -> cine + display slot ->
GUI poll -> ImageItem.setImage -> paint. A probe wraps ``ImageItem.paint``
and decodes the stamp of the image being painted, so latency is measured
source grab -> end of paint, and a frame counts as displayed only if painted.

Scenarios run alone and with a CPU hog (a busy-looping process pinned to one
core with ``os.sched_setaffinity``), as when inference runs next to the scan.

    .venv/bin/python bench/stream.py                 # all scenarios, 10 s each
    .venv/bin/python bench/stream.py --seconds 5 --only 1080p30

Goal: displayed >= source fps, <= 1 % dropped, p99 latency <= 50 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from typing import Any

SCENARIOS = {
    "1080p30": (1920, 1080, 30.0),
    "720p60": (1280, 720, 60.0),
}


@dataclass
class Result:
    scenario: str
    load: str
    color: str
    seconds: float
    produced: int
    displayed: int
    source_fps: float
    display_fps: float
    dropped_pct: float
    lat_p50_ms: float
    lat_p99_ms: float
    lat_max_ms: float
    pump_lat_p99_ms: float
    dropped_at_source: int  # whole run: overwritten in the device slot (pump too slow)
    dropped_at_display: int  # whole run: overwritten in the display slot (GUI too slow)


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(q / 100 * (len(s) - 1))))]


def start_cpu_hog(core: int) -> subprocess.Popen[bytes]:
    """A pure-Python busy loop pinned to ``core`` (the affinity is set before it spins)."""
    code = f"import os\nos.sched_setaffinity(0, {{{core}}})\nwhile True:\n    pass\n"
    proc = subprocess.Popen([sys.executable, "-c", code])
    time.sleep(0.3)
    return proc


def run_scenario(name: str, seconds: float, warmup: float, color: bool, load: bool) -> Result:
    from PySide6.QtCore import QTimer
    from PySide6.QtWidgets import QApplication

    from fada_desk.sources.synthetic import SyntheticLiveSource, decode_stamp
    from fada_desk.qt.main_window import MainWindow

    width, height, fps = SCENARIOS[name]
    app = QApplication.instance() or QApplication([])
    app.setQuitOnLastWindowClosed(False)  # only our timer ends each run's event loop
    hog = start_cpu_hog(core=0) if load else None
    win = MainWindow()
    win.resize(1280, 860)
    win.show()
    painted: dict[int, float] = {}  # frame number -> first paint end time
    item = win.view.image_item
    original_paint = item.paint

    def probe(painter: Any, *args: Any) -> None:
        original_paint(painter, *args)
        img = item.image
        if img is not None:
            stamp = decode_stamp(img)
            if stamp is not None and stamp[0] not in painted:
                painted[stamp[0]] = time.monotonic()

    item.paint = probe  # type: ignore[method-assign]
    src = SyntheticLiveSource(width, height, fps=fps, color=color)
    produced: dict[int, float] = {}  # every frame the "device" delivered: number -> grab time
    slot_put = src.slot.put

    def logging_put(frame: Any) -> None:
        produced[frame.meta["number"]] = frame.timestamp
        slot_put(frame)

    src.slot.put = logging_put  # type: ignore[method-assign]
    try:
        pump = win.open_source(src)
        t_start = time.monotonic() + warmup
        t_end = t_start + seconds
        stop = QTimer()
        stop.setSingleShot(True)
        stop.timeout.connect(app.quit)
        stop.start(int((warmup + seconds + 0.3) * 1000))
        app.exec()
        st = pump.stats()
        pump_lat = st.latency_p99 or float("nan")
    finally:
        win.close()
        if hog is not None:
            hog.kill()
            hog.wait()
    window = [n for n, t in produced.items() if t_start <= t < t_end]
    n_produced = len(window)
    shown = [n for n in window if n in painted]
    lat = [(painted[n] - produced[n]) * 1000 for n in shown]
    displayed = len(shown)
    dropped = n_produced - displayed
    return Result(
        scenario=name, load="1 core busy" if load else "idle", color="RGB" if color else "grey",
        seconds=seconds, produced=n_produced, displayed=displayed,
        source_fps=n_produced / seconds, display_fps=displayed / seconds,
        dropped_at_source=st.dropped_source, dropped_at_display=st.dropped_display,
        dropped_pct=100.0 * dropped / max(1, n_produced),
        lat_p50_ms=_pct(lat, 50), lat_p99_ms=_pct(lat, 99), lat_max_ms=max(lat) if lat else float("nan"),
        pump_lat_p99_ms=pump_lat * 1000,
    )


def print_table(results: list[Result]) -> None:
    head = (f"{'scenario':<9} {'pixels':<5} {'CPU load':<12} {'src fps':>7} {'shown fps':>9} {'dropped':>8} "
            f"{'p50 ms':>7} {'p99 ms':>7} {'max ms':>7} {'lost@src/disp':>13}  goal")
    print(head)
    print("-" * len(head))
    for r in results:
        ok = r.display_fps >= r.source_fps * 0.99 and r.dropped_pct <= 1.0 and r.lat_p99_ms <= 50.0
        print(f"{r.scenario:<9} {r.color:<5} {r.load:<12} {r.source_fps:7.1f} {r.display_fps:9.1f} "
              f"{r.dropped_pct:7.2f}% {r.lat_p50_ms:7.1f} {r.lat_p99_ms:7.1f} {r.lat_max_ms:7.1f} "
              f"{f'{r.dropped_at_source}/{r.dropped_at_display}':>13}  "
              f"{'met' if ok else 'MISSED'}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10.0, help="measured seconds per scenario")
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--only", choices=sorted(SCENARIOS), action="append")
    ap.add_argument("--grey", action="store_true", help="grey frames instead of RGB (capture cards send RGB)")
    ap.add_argument("--no-load", action="store_true", help="skip the CPU-hog runs")
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args(argv)
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    # Never touch the real user's settings / exam store.
    os.environ["FADA_DESK_DATA_DIR"] = tempfile.mkdtemp(prefix="fada-bench-")
    print(f"CPU cores available: {len(os.sched_getaffinity(0))}; platform: {os.environ['QT_QPA_PLATFORM']}")
    results = []
    for name in args.only or list(SCENARIOS):
        for load in ([False] if args.no_load else [False, True]):
            r = run_scenario(name, args.seconds, args.warmup, color=not args.grey, load=load)
            results.append(r)
            print(f"  {name} {'with' if load else 'without'} load: {r.display_fps:.1f} fps shown, "
                  f"{r.dropped_pct:.2f}% dropped, p99 {r.lat_p99_ms:.1f} ms", flush=True)
    print()
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([asdict(r) for r in results], f, indent=2)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
