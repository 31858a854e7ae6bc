"""``fada-desk biometry``: gestational age and fetal weight from typed measurements (mm).

Example: ``fada-desk biometry --hc 175 --ac 151 --fl 32`` prints GA by every
applicable equation (primary marked), EFW (Hadlock 1985, INTERGROWTH-21st),
warnings (ranges, discordance, GA vs dates) and the references; ``--json`` for
machines. Decimal commas ("175,5") are accepted.

With the GA by dates (``--ga 28w0d`` / ``28+0`` / days, or ``--lmp``) each measurement
and the EFW get a z-score and centile on a growth standard (``--standard intergrowth``
(default), ``who`` or ``hadlock``; ``--sex f|m`` for the WHO EFW chart by sex): the
"Centiles (<standard>)" section, ``centiles`` in the JSON. Without a GA by dates the
section says that centiles need a dating GA; a GA outside the standard's range is an error.
"""

from __future__ import annotations

import argparse
import dataclasses
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
    p.add_argument("--hl", metavar="MM", help="humerus length in mm (WHO charts only)")
    p.add_argument(
        "--ga", metavar="GA", help="GA by dates for centiles: weeks+days (28w0d, 28+0) or days (196)"
    )
    p.add_argument(
        "--standard",
        choices=("intergrowth", "who", "hadlock"),
        help="growth standard for centiles (default: intergrowth)",
    )
    p.add_argument("--sex", choices=("f", "m"), type=str.lower, help="fetal sex (WHO EFW chart by sex)")
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


def _ga_by_dates(args: argparse.Namespace) -> tuple[float | None, str]:
    """The GA by dates (days) and its basis, from --ga or --lmp [--date]; (None, "") without."""
    from fada_desk.core.biometry import MeasurementError
    from fada_desk.core.growth import parse_ga

    if args.ga and args.lmp:
        raise MeasurementError("Give the GA by dates once: --ga or --lmp, not both.")
    if args.date and not args.lmp:
        raise MeasurementError("--date needs --lmp.")
    if args.ga:
        days = parse_ga(args.ga)
        if not 0 < days < 45 * 7:
            hint = " (a bare number is days: write 28w0d for weeks)" if args.ga.strip().isdigit() else ""
            raise MeasurementError(f"--ga {args.ga} is not a plausible GA{hint}.")
        return days, "GA entered"
    if args.lmp:
        lmp = _date(args.lmp, "--lmp")
        on = _date(args.date, "--date") if args.date else dt.date.today()
        days = float((on - lmp).days)
        if not 0 < days < 45 * 7:
            raise MeasurementError(f"LMP {lmp} gives a GA of {days:.0f} days on {on}; check the dates.")
        return days, f"LMP {lmp}"
    return None, ""


def run(args: argparse.Namespace) -> int:
    from fada_desk.core.biometry import MeasurementError, biometry_report
    from fada_desk.core.growth import GrowthError, assess_growth, assess_report, centile_ga

    values = {
        name: _number(getattr(args, flag), name) for flag, name in _PARAMS if getattr(args, flag) is not None
    }
    if not values:
        raise MeasurementError(
            "Give at least one measurement, e.g. fada-desk biometry --hc 175 --ac 151 --fl 32 (values in mm)."
        )
    extra = {}
    if args.hl is not None:
        extra["HL"] = _number(args.hl, "HL")
        if not 2.0 <= extra["HL"] <= 90.0:
            raise MeasurementError(
                f"HL = {extra['HL']:g} mm is not a plausible fetal measurement (2-90 mm); check the units."
            )
    ga_dates, basis = _ga_by_dates(args)
    report = biometry_report(values, ga_by_dates_days=ga_dates)
    standard = args.standard or "intergrowth"
    try:
        growth = assess_report(report, centile_ga(ga_dates, basis), standard, args.sex, extra)
    except GrowthError as err:
        if args.ga is None and args.standard is None:
            # centiles were not asked for (GA from --lmp, default standard): say why there are none
            growth = assess_growth({}, centile_ga(ga_dates, basis), standard, args.sex)
            growth = dataclasses.replace(growth, notes=(f"No centiles: {err}",))
        elif args.ga and args.ga.strip().isdigit():  # "--ga 28" meant weeks?
            hint = "a bare --ga number is days (28w0d is weeks)"
            raise GrowthError(f"{str(err).rstrip('.')}; {hint}.") from None
        else:
            raise
    if args.json:
        doc = report.to_dict()
        if extra:
            doc["measurements_mm"].update({k: round(v, 2) for k, v in extra.items()})
        doc["centiles"] = growth.to_dict()
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(_text(report, growth, basis, extra))
    return 0


def _text(report: Any, growth: Any, basis: str, extra: dict[str, float]) -> str:
    from fada_desk.core.biometry import PARAMETERS
    from fada_desk.core.dating import format_ga

    measured = {**report.measurements_mm, **extra}
    out = ["Measurements: " + ", ".join(f"{k} {v:.1f} mm" for k, v in measured.items())]
    if report.cephalic_index is not None:
        out.append(f"Cephalic index: {report.cephalic_index:.1f}")
    refs: dict[str, int] = {}

    def ref_of(reference: str) -> str:
        refs.setdefault(reference, len(refs) + 1)
        return f"[{refs[reference]}]"

    def ref(eq: Any) -> str:
        return ref_of(eq.reference)

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
            out.append(f"   GA by dates ({basis}): {format_ga(report.ga_by_dates_days)}")
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
    out.extend(["", growth.title, f"  {growth.ga.statement}"])
    rows = [*growth.centiles, *([growth.efw] if growth.efw else [])]
    for c in rows:
        value = f"{c.value:.0f} g" if c.parameter == "EFW" else f"{c.value:.1f} mm"
        by = f" by {growth.efw_equation}" if c is growth.efw and growth.efw_equation else ""
        out.append(
            f"  {c.parameter:<4} {value:>9}  z {c.z_text:>6}  {c.centile_text:>7}  {c.standard}{by} "
            f"{ref_of(c.reference)}"
        )
    out.extend(f"  - {n}" for n in growth.notes)
    if report.warnings:
        out += ["", "Warnings"] + [f"  - {w}" for w in report.warnings]
    out += ["", "References"] + [f"  [{n}] {r}" for r, n in refs.items()]
    return "\n".join(out)
