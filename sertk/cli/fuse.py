"""Fuse runs made on the same folds: each test utterance gets the mean of their probabilities.

Each RUN is a run directory of `sertk cv`, a seed group (its seeds are averaged first) or a
record written by `sertk publish`.
Members count equally (no weights are fitted: the test folds choose nothing). OUT becomes
a run directory like any other, with its report; compare it with `sertk compare`.

examples:
  sertk fuse runs/best runs/compare-svm -o runs/fusion
  sertk compare runs/compare-svm runs/fusion
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, seed groups or records")
    parser.add_argument("-o", "--out", required=True, help="output run directory")
    parser.add_argument("--names", default=None,
                        help="comma-separated names for the runs (default: folder names)")
    parser.add_argument("--no-plots", dest="plots", action="store_false",
                        help="skip the PNG figures")


def run(args: argparse.Namespace) -> int:
    from sertk.eval.fusion import fuse_runs
    from sertk.eval.report import render_report
    from sertk.eval.rundir import ReportError

    names = args.names.split(",") if args.names else None
    try:
        metrics = fuse_runs(args.runs, args.out, names=names, plots=args.plots)
    except ReportError as err:
        print(f"sertk fuse: error: {err}", file=sys.stderr)
        return 2
    print(render_report(metrics), end="")
    return 0
