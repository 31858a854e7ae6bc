"""``fada-desk report finalize|amend|status|export``: sign off, amend and re-export an exam's report.

* ``finalize EXAM_ID --operator NAME [--statement TEXT]``: sign the report as its next
  version and lock it (refused while AI proposals are pending review);
* ``amend EXAM_ID --operator NAME --reason TEXT``: reopen a final report for a change; the
  next ``finalize`` records the amended version;
* ``status EXAM_ID [--json]``: version, status (preliminary / final / amended), signer,
  content hash, every version, and whether the exam changed since it was finalized;
* ``export EXAM_ID [--version N] --format pdf|json --out DIR``: write a finalized version
  again (the latest by default), byte for byte as before.

The service is the GUI's (:mod:`fada_desk.app.report_versions`). Errors are one line on
stderr with exit status 1; written paths go to stdout.
"""

from __future__ import annotations

import argparse
import sys

_FORMATS = ("pdf", "json")  # = fada_desk.app.report_versions.VERSION_FORMATS (kept light for --help)


def _exam_and_store(p: argparse.ArgumentParser) -> None:
    p.add_argument("exam_id", metavar="EXAM_ID", help="exam number (as shown in the exam browser)")
    p.add_argument("--store", default=None, metavar="PATH",
                   help="exam store database or folder (default: the user data folder)")


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("report", help="finalize, amend, show or re-export an exam's signed report",
                       description="Sign-off and amendment of an exam's report of record.")
    rsub = p.add_subparsers(dest="report_command", metavar="ACTION", required=True)
    f = rsub.add_parser("finalize", help="sign the report as its next version and lock it")
    _exam_and_store(f)
    f.add_argument("--operator", required=True, metavar="NAME", help="who signs the report")
    f.add_argument("--statement", default="", metavar="TEXT", help="sign-off statement printed on the report")
    a = rsub.add_parser("amend", help="reopen a final report for a change (a new version follows)")
    _exam_and_store(a)
    a.add_argument("--operator", required=True, metavar="NAME", help="who amends the report")
    a.add_argument("--reason", required=True, metavar="TEXT", help="what changes and why")
    s = rsub.add_parser("status", help="version, status, signer and history of the report")
    _exam_and_store(s)
    s.add_argument("--json", action="store_true", help="machine-readable output")
    e = rsub.add_parser("export", help="write a finalized version again (PDF or JSON)")
    _exam_and_store(e)
    e.add_argument("--version", dest="report_version", type=int, default=None, metavar="N",
                   help="version number (default: the latest finalized version)")
    e.add_argument("--format", dest="format", choices=_FORMATS, required=True, help="pdf or json")
    e.add_argument("--out", required=True, metavar="DIR", help="output folder (created if needed)")
    return p


def run(args: argparse.Namespace) -> int:
    import json

    from fada_desk.app import report_versions as rv
    from fada_desk.app.export import parse_exam_id
    from fada_desk.storage import ExamStore

    exam_id = parse_exam_id(args.exam_id)
    cmd = args.report_command
    with ExamStore.open(args.store) as store:
        store.get_exam(exam_id)  # a clear error for an unknown exam
        if cmd == "finalize":
            rv.finalize(store, exam_id, args.operator, args.statement)
            print("\n".join(rv.report_status(store, exam_id).lines()[:2]))
        elif cmd == "amend":
            a = rv.amend(store, exam_id, args.operator, args.reason)
            print(f"Exam #{exam_id}: amendment of version {a.amends} opened by {a.operator} "
                  f"(reason: {a.reason}). Edit the exam, then finalize version {a.amends + 1}.")
        elif cmd == "status":
            status = rv.report_status(store, exam_id)
            if args.json:
                print(json.dumps(status.to_dict(), indent=2, ensure_ascii=False))
            else:
                print("\n".join(status.lines()))
        else:
            from fada_desk.cli._progress import ProgressLine
            from fada_desk.core.cancel import drive
            from fada_desk.core.errors import ExportError
            from fada_desk.storage.review import ReviewStore

            state = ReviewStore(store).report_state(exam_id)
            number = args.report_version if args.report_version is not None else (
                state.latest.version if state.latest else 0)
            if number == 0:
                raise ExportError(f"Exam #{exam_id} has no finalized report version yet (finalize it first).")
            latest = state.latest
            if latest is not None and number < latest.version:
                print(f"fada-desk: note: version {number} was superseded by version {latest.version} "
                      f"({latest.status}).", file=sys.stderr)
            line = ProgressLine()
            try:
                paths = drive(rv.export_version(store, exam_id, number, args.format, args.out),
                              lambda p: line.update(p.message, p.fraction))
            finally:
                line.done()
            for path in paths:
                print(path)
    return 0
