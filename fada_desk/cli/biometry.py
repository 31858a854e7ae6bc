"""``fada-desk biometry``: gestational age and fetal weight from typed measurements (mm).

Example: ``fada-desk biometry --hc 175 --ac 151 --fl 32`` prints GA by every
applicable equation (primary marked), EFW (Hadlock 1985, INTERGROWTH-21st),
warnings (ranges, discordance, GA vs dates) and the references; ``--json`` for
machines. Decimal commas ("175,5") are accepted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
from typing import Any

_PARAMS = (
    ("bpd", "BPD"),
    ("ofd", "OFD"),
    ("hc", "HC"),
    ("ac", "AC"),
    ("fl", "FL"),
    ("crl", "CRL"),
    ("nt", "NT"),
)


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "biometry",
        help="gestational age and fetal weight from measurements in mm",
        description="Gestational age (Hadlock 1984, Robinson-Fleming, INTERGROWTH-21st) and "
        "estimated fetal weight (Hadlock 1985, INTERGROWTH-21st) from measurements "
        "in millimetres. Give any subset.",
    )
    for flag, name in _PARAMS:
        p.add_argument(f"--{flag}", metavar="MM", help=f"{name} in mm")
    p.add_argument(
        "--lmp", metavar="YYYY-MM-DD", help="last menstrual period: compare GA by ultrasound with dates"
    )
    p.add_argument("--date", metavar="YYYY-MM-DD", help="exam date for --lmp (default: today)")
    p.add_argument("--json", action="store_true", help="print JSON")
    return p


def _date(text: str, what: str) -> dt.date:
    from fada_desk.core.biometry import MeasurementError

    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        raise MeasurementError(f"{what} must be a date like 2024-03-01, got {text!r}.") from None


def _number(text: str, name: str) -> float:
    from fada_desk.core.biometry import MeasurementError

    try:
        return float(text.strip().replace(",", "."))
    except ValueError:
        raise MeasurementError(f"{name} must be a number of millimetres, got {text!r}.") from None


def run(args: argparse.Namespace) -> int:
    from fada_desk.core.biometry import MeasurementError, biometry_report

    values = {
        name: _number(getattr(args, flag), name) for flag, name in _PARAMS if getattr(args, flag) is not None
    }
    if not values:
        raise MeasurementError(
            "Give at least one measurement, e.g. fada-desk biometry --hc 175 --ac 151 --fl 32 (values in mm)."
        )
    ga_dates = None
    if args.lmp:
        lmp = _date(args.lmp, "--lmp")
        on = _date(args.date, "--date") if args.date else dt.date.today()
        ga_dates = float((on - lmp).days)
        if not 0 < ga_dates < 45 * 7:
            raise MeasurementError(f"LMP {lmp} gives a GA of {ga_dates:.0f} days on {on}; check the dates.")
    elif args.date:
        raise MeasurementError("--date needs --lmp.")
    report = biometry_report(values, ga_by_dates_days=ga_dates)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(_text(report))
    return 0


def _text(report: Any) -> str:
    from fada_desk.core.biometry import PARAMETERS
    from fada_desk.core.dating import format_ga

    out = ["Measurements: " + ", ".join(f"{k} {v:.1f} mm" for k, v in report.measurements_mm.items())]
    if report.cephalic_index is not None:
        out.append(f"Cephalic index: {report.cephalic_index:.1f}")
    refs: dict[str, int] = {}

    def ref(eq: Any) -> str:
        refs.setdefault(eq.reference, len(refs) + 1)
        return f"[{refs[eq.reference]}]"

    def estimates(title: str, rows: list[Any], primary: Any, days: bool) -> None:
        out.extend(["", title])
        width = max(len(e.equation.name) for e in rows) + 2
        for e in rows:
            mark = "*" if e is primary else " "
            value = f"{e.text:>7}  ({e.value:5.1f} d)" if days else f"{e.text:>7}"
            out.append(f" {mark} {e.equation.name:<{width}} {value}  {e.equation.formula} {ref(e.equation)}")

    if report.ga:
        estimates("Gestational age", report.ga, report.primary_ga, days=True)
        if report.ga_by_dates_days is not None:
            out.append(f"   GA by dates (LMP): {format_ga(report.ga_by_dates_days)}")
    else:
        out += [
            "",
            "Gestational age: no dating equation uses only "
            + ", ".join(PARAMETERS.get(k, k) for k in report.measurements_mm)
            + ".",
        ]
    if report.efw:
        estimates("Estimated fetal weight", report.efw, report.primary_efw, days=False)
    if report.primary_ga or report.primary_efw:
        out.append("   (* = primary estimate)")
    if report.warnings:
        out += ["", "Warnings"] + [f"  - {w}" for w in report.warnings]
    out += ["", "References"] + [f"  [{n}] {r}" for r, n in refs.items()]
    return "\n".join(out)
