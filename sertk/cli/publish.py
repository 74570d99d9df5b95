"""Publish a finished run or seed group as a record: its results without checkpoints.

The record keeps run.json (which utterances trained, validated and tested each fold),
the recipe, metrics.json, predictions.csv, report.md and the figures, and drops the
fold folders (checkpoints, curves) and the log. `sertk compare` and `sertk fuse` read a
record as they read the run, so a published comparison can be recomputed from the
records alone. A seed group's finished seeds become OUT/seed-<s>/ with the group report
beside them. OUT is replaced as a whole; it must be new, empty or an earlier record.

examples:
  sertk publish runs/compare-logreg -o docs/results/emodb-lospk-compare-logreg
  sertk publish runs/best -o docs/results/emodb-lospk-best --skip-unfinished
  sertk compare docs/results/emodb-lospk-egemaps-svm docs/results/emodb-lospk-best
"""
from __future__ import annotations

import argparse
import sys


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", metavar="RUN", help="finished run directory or seed group")
    parser.add_argument("-o", "--out", required=True, help="record folder to write")
    parser.add_argument("--skip-unfinished", action="store_true",
                        help="leave a group's unfinished seeds out (named on stderr)")


def run(args: argparse.Namespace) -> int:
    from sertk.eval.record import publish
    from sertk.eval.rundir import ReportError, seed_runs

    try:
        published = publish(args.run, args.out, skip_unfinished=args.skip_unfinished)
    except ReportError as err:
        print(f"sertk publish: error: {err}", file=sys.stderr)
        return 2
    seeds = seed_runs(args.run)
    left_out = [s.name for s in seeds if s not in published]
    if left_out:
        print(f"sertk publish: left out unfinished {', '.join(left_out)}", file=sys.stderr)
    what = ", ".join(p.name for p in published) + f" of {args.run}" if seeds else args.run
    print(f"published {what} to {args.out}")
    return 0
