"""``fada-desk info PATH [--json]``: what a file, folder, device or stream contains.

Answers the questions a sonographer or support person asks before importing:
how many frames, what size and rate, which DICOM encoding, whose study, and
whether (and where) the image is calibrated for measurements.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

# Patient / study lines of the human-readable summary: (label, DICOM keywords joined by " ").
_PEOPLE = (
    ("Patient", ("PatientName", "PatientID", "PatientBirthDate", "PatientSex")),
    ("Study", ("StudyDate", "StudyTime", "StudyDescription", "AccessionNumber")),
    ("Study UID", ("StudyInstanceUID",)),
    ("Series UID", ("SeriesInstanceUID",)),
    ("SOP Instance", ("SOPInstanceUID",)),
    ("SOP Class", ("SOPClassName",)),
    ("Modality", ("Modality",)),
    ("Equipment", ("Manufacturer", "ManufacturerModelName", "StationName")),
    ("Institution", ("InstitutionName",)),
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("info", help="describe an image, folder, video, DICOM file, device or stream")
    p.add_argument("path", help="file, folder, device:N or stream URL")
    p.add_argument("--json", action="store_true", help="machine-readable JSON instead of a table")
    return p


def run(args: argparse.Namespace) -> int:
    from fada_desk.sources import open_source

    with open_source(args.path) as src:
        info = src.info
        data = describe(info)
    text = (
        json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        if args.json
        else format_table(data)
    )
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except BrokenPipeError:  # `fada-desk info x | head`: the reader left, that is not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    return 0


def describe(info: Any) -> dict[str, Any]:
    """SourceInfo -> the JSON document printed by ``--json`` (regions with mm/px added)."""
    from fada_desk.sources.dicom_meta import region_label

    data = info.to_dict()
    cal = info.calibration
    if cal is not None:
        regions = []
        for r in cal.regions:
            d = r.to_dict()
            d["calibrated"] = r.is_spatial_cm
            d["mm_per_px"] = list(r.mm_per_px) if r.is_spatial_cm else None
            d["units"] = [_unit(r.units_x), _unit(r.units_y)]
            d["label"] = region_label(r.spatial_format, r.data_type)
            regions.append(d)
        data["calibration"]["regions"] = regions
        data["calibration"]["is_calibrated"] = cal.is_calibrated
    return data


def _unit(code: int) -> str:
    from fada_desk.core.calibration import UNIT_NAMES

    return UNIT_NAMES.get(code, f"code {code}")


def _fmt_fps(fps: float | None) -> str:
    return "-" if not fps else f"{fps:g} fps"


def format_table(data: dict[str, Any]) -> str:
    """The human-readable summary (two columns, then a regions table)."""
    meta = data.get("metadata") or {}
    rows: list[tuple[str, str]] = [
        ("Source", str(data["uri"])),
        ("Kind", data["kind"] + (" (live)" if data.get("live") else "")),
        ("Frames", "live" if data.get("frame_count") is None else str(data["frame_count"])),
        ("Size", f"{data['width']} x {data['height']} px"),
        (
            "Frame rate",
            _fmt_fps(data.get("fps")) + (f" (from {meta['fps_from']})" if meta.get("fps_from") else ""),
        ),
    ]
    if "TransferSyntaxUID" in meta:
        rows.append(("Photometric", str(meta.get("PhotometricInterpretation", ""))))
        rows.append(
            ("Transfer syntax", f"{meta.get('TransferSyntaxName', '')} ({meta['TransferSyntaxUID']})")
        )
        rows.append(
            ("Bits", f"{meta.get('BitsStored', '?')} stored / {meta.get('BitsAllocated', '?')} allocated")
        )
        for label, keys in _PEOPLE:
            values = [str(meta[k]) for k in keys if meta.get(k) not in (None, "")]
            if values:
                rows.append((label, "  ".join(values)))
    else:
        for key, label in (
            ("codec", "Codec"),
            ("format", "Format"),
            ("mode", "Mode"),
            ("bits_stored", "Bits"),
            ("files", "Files"),
            ("backend", "Backend"),
            ("protocol", "Protocol"),
        ):
            if meta.get(key) not in (None, ""):
                rows.append((label, str(meta[key])))
    cal = data.get("calibration")
    if cal and cal.get("regions"):
        usable = sum(1 for r in cal["regions"] if r.get("calibrated"))
        origin = f", from {meta['calibration_from']}" if meta.get("calibration_from") else ""
        rows.append(("Calibration", f"{len(cal['regions'])} region(s), {usable} calibrated (cm){origin}"))
    else:
        rows.append(("Calibration", "none (calibrate manually on the depth scale to measure)"))
    width = max(len(k) for k, _ in rows)
    lines = [f"{k.ljust(width)}  {v}" for k, v in rows]
    if cal and cal.get("regions"):
        lines.append("")
        lines.append(_regions_table(cal["regions"]))
    for w in meta.get("warnings") or []:
        lines.append(f"Warning: {w}")
    return "\n".join(lines) + "\n"


def _regions_table(regions: list[dict[str, Any]]) -> str:
    header = ("#", "bounds (x0,y0)-(x1,y1)", "units x/y", "delta x/y", "mm/px x/y", "shows")
    body = []
    for i, r in enumerate(regions, start=1):
        mm = r.get("mm_per_px")
        body.append(
            (
                str(i),
                f"({r['x0']},{r['y0']})-({r['x1']},{r['y1']})",
                "/".join(r["units"]),
                f"{r['delta_x']:.6g}/{r['delta_y']:.6g}",
                f"{mm[0]:.4f}/{mm[1]:.4f}" if mm else "- (not cm)",
                r["label"],
            )
        )
    widths = [max(len(row[c]) for row in (header, *body)) for c in range(len(header))]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join(fmt.format(*row).rstrip() for row in (header, *body))
