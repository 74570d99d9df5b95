"""Compare runs on the same folds: per-fold UA, Wilcoxon signed-rank test, bootstrap CI.

Each RUN is a run directory of `sertk cv` or a seed group (a folder of seed-*/ runs,
as `sertk cv --seeds` writes). The first RUN is the baseline; every other one is
compared with it: mean per-fold UA difference, wins/losses, the two-sided Wilcoxon
signed-rank p over folds, and a paired bootstrap 95 % interval of the pooled-UA
difference (test utterances resampled with replacement). All runs must test the same
utterances in the same folds (same manifest and protocol). A RUN may also be a record
written by `sertk publish`; the table ends with the command that recomputes it.

examples:
  sertk compare runs/svm runs/proposed runs/best --out docs/results/compare.md
  sertk compare runs/svm runs/best --names svm,best
"""
from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("runs", nargs="+", metavar="RUN",
                        help="run directories, seed groups or records")
    parser.add_argument("--names", default=None,
                        help="comma-separated names for the runs (default: folder names)")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="also write the Markdown table to FILE")
    parser.add_argument("--boot", type=int, default=2000, metavar="N",
                        help="bootstrap resamples (default 2000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")


def run(args: argparse.Namespace) -> int:
    from sertk.eval.compare import compare_runs, load_run, render_comparison
    from sertk.eval.rundir import ReportError
    from sertk.fileio import atomic_write

    names = args.names.split(",") if args.names else [Path(r).name for r in args.runs]
    if len(args.runs) < 2 or len(names) != len(args.runs) or args.boot < 1:
        print("sertk compare: error: give at least two runs, one name per run and --boot >= 1",
              file=sys.stderr)
        return 2
    try:
        runs = [load_run(path, name) for path, name in zip(args.runs, names)]
        command = shlex.join(["sertk", "compare", *args.runs, "--names", ",".join(names),
                              "--boot", str(args.boot), "--seed", str(args.seed)])
        text = render_comparison(runs, compare_runs(runs, n_boot=args.boot, seed=args.seed),
                                 n_boot=args.boot, command=command)
    except ReportError as err:
        print(f"sertk compare: error: {err}", file=sys.stderr)
        return 2
    print(text, end="")
    if args.out:
        atomic_write(args.out, text)
        print(f"wrote {args.out}", file=sys.stderr)
    return 0
