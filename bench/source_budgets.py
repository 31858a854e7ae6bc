"""Memory and time of opening large or damaged inputs (issue 10, item 2). Prints a table.

    .venv/bin/python bench/source_budgets.py [--sizes 4000,8000] [--zeros-mb 256]

Each row runs in a fresh child process: its peak RSS (ru_maxrss) before and after
the open (imports included), and the wall time of the open. Inputs are written to a
temporary folder: RGBA PNGs of the given sizes (composited over black on open),
a zero-filled .dcm (an interrupted copy), and a real DICOM header followed by zeros.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

CHILD = r"""
import json, resource, sys, time, warnings
warnings.simplefilter("ignore")
from fada_desk.sources import open_source
import fada_desk.sources.image, fada_desk.sources.dicom  # imports are not the open's cost
try:
    from fada_desk.sources import _dicom_codecs
    _dicom_codecs.configure()  # one-time decoder set-up (imports the codec plugins)
except ImportError:
    pass  # an older tree (for before/after comparisons)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t = time.perf_counter()
try:
    with open_source(sys.argv[1]) as src:
        src.read(0)
    result = "opened"
except Exception as err:
    result = f"{type(err).__name__}: {str(err)[:70]}"
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps([result, wall, before / 1024, peak / 1024]))
"""


def _rgba_png(path: Path, size: int) -> Path:
    from PIL import Image

    ramp = np.linspace(0, 255, size, dtype=np.float32)
    img = np.empty((size, size, 4), dtype=np.uint8)
    img[:, :, 0] = ramp[None, :].astype(np.uint8)
    img[:, :, 1] = ramp[:, None].astype(np.uint8)
    img[:, :, 2] = 128
    img[:, :, 3] = (255 - ramp[None, :]).astype(np.uint8)
    Image.fromarray(img, "RGBA").save(path, compress_level=1)
    return path


def _run(path: Path) -> tuple[str, float, float, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(path)], capture_output=True, text=True, timeout=600, check=False
    )
    if proc.returncode != 0:
        return (f"child died ({proc.returncode})", 0.0, 0.0, 0.0)
    result, wall, before, peak = json.loads(proc.stdout.strip().splitlines()[-1])
    return result, wall, before, peak


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="4000,8000", help="RGBA PNG sizes (pixels per side)")
    ap.add_argument("--zeros-mb", type=int, default=256, help="size of the zero-filled DICOM files")
    args = ap.parse_args()
    root = Path(__file__).resolve().parents[1]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for size in (int(s) for s in args.sizes.split(",") if s):
            path = _rgba_png(out / f"rgba_{size}.png", size)
            rows.append((f"RGBA PNG {size} x {size} ({path.stat().st_size >> 20} MiB file)", path))
        zeros = out / "zeros.dcm"
        with zeros.open("wb") as f:
            f.truncate(args.zeros_mb << 20)
        rows.append((f"zero-filled .dcm, {args.zeros_mb} MiB", zeros))
        header = (root / "tests" / "data" / "dicom" / "OBXXXX1A.dcm").read_bytes()
        tail = out / "header_then_zeros.dcm"
        with tail.open("wb") as f:
            f.write(header[: header.index(b"\xe0\x7f\x10\x00")])
            f.truncate(f.tell() + (args.zeros_mb << 20))
        rows.append((f"DICOM header + {args.zeros_mb} MiB of zeros", tail))
        print(
            "| input | result | open (s) | RSS before open (MiB) | peak RSS (MiB) |\n|---|---|---:|---:|---:|"
        )
        for label, path in rows:
            result, wall, before, peak = _run(path)
            print(f"| {label} | {result} | {wall:.3f} | {before:.0f} | {peak:.0f} |", flush=True)


if __name__ == "__main__":
    main()
