"""``fada-desk export EXAM_ID --format json|png|pdf --out DIR``: export a reviewed exam.

Writes FADA-compatible JSON, PNGs with burned-in overlays and/or the PDF
report. AI output still pending review is left out unless
``--include-pending`` (then it is marked "pending review"). Progress goes to
stderr, the written paths to stdout. An exam damaged in the store (unreadable
values, item or annotation rows) is exported as far as readable, with a
warning on stderr naming what was left out. The jobs are the GUI's
(:class:`fada_desk.app.export.ExamExport`).
"""

from __future__ import annotations

import argparse
import sys

from fada_desk.app.export import FORMATS


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "export",
        help="export an exam as JSON, annotated PNGs or a PDF report",
        description="Export a reviewed exam from the exam store.",
    )
    p.add_argument("exam_id", metavar="EXAM_ID", help="exam number (as shown in the exam browser)")
    p.add_argument(
        "--format",
        dest="formats",
        action="append",
        choices=FORMATS,
        required=True,
        help="json, png or pdf (repeat for several)",
    )
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    p.add_argument(
        "--include-pending",
        action="store_true",
        help="also export AI output not yet reviewed (marked 'pending review')",
    )
    p.add_argument("--operator", default="", help="reviewer named on the report (default: who signed off)")
    p.add_argument(
        "--store",
        default=None,
        metavar="PATH",
        help="exam store database or folder (default: the user data folder)",
    )
    return p


def run(args: argparse.Namespace) -> int:
    from fada_desk.app.export import ExamExport, parse_exam_id
    from fada_desk.cli._progress import ProgressLine
    from fada_desk.storage import ExamStore
    from fada_desk.storage.review import ReviewStore

    exam_id = parse_exam_id(args.exam_id)
    progress = ProgressLine()
    with ExamStore.open(args.store) as store:
        exam = store.get_exam(exam_id)  # a clear error before anything is written
        damage = [*exam.damage, *ReviewStore(store).load_checked(exam_id)[1]]
        if damage:  # a damaged exam exports what is readable and says what is not
            print(f"fada-desk: warning: exam #{exam_id} is damaged in the exam store; exporting what is "
                  f"readable. Not exported or unreadable:", file=sys.stderr)
            for reason in damage:
                print(f"  - {reason}", file=sys.stderr)
        export = ExamExport(store, exam_id)
        options = export.options(include_pending=args.include_pending, operator=args.operator)
        written = export.run(args.formats, args.out, options,
                             lambda fmt, p: progress.update(p.message, p.fraction, prefix=f"{fmt}: "))
    progress.done()
    for path in written:
        print(path)
    return 0
