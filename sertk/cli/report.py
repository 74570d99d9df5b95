"""Aggregate a run directory's folds into metrics.json, predictions.csv, report.md and figures.

Metrics are recomputed from every fold's predictions.csv: per fold and mean ± std of WA, UA
and macro-F1, the pooled confusion matrix and pooled UA/WA. Folds trained as separate jobs
(`sertk cv --fold K`) are reported together once all are done; --partial reports the done
ones and names the missing ones.

examples:
  sertk report runs/emodb
  sertk report runs/emodb --partial
"""
from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run_dir", help="run directory written by `sertk cv`")
    parser.add_argument("--partial", action="store_true",
                        help="report the finished folds even if some are missing")
    parser.add_argument("--no-plots", dest="plots", action="store_false",
                        help="skip the PNG figures")


def run(args: argparse.Namespace) -> int:
    from sertk.eval.report import aggregate_run, render_report

    metrics = aggregate_run(Path(args.run_dir), partial=args.partial, plots=args.plots)
    print(render_report(metrics))
    return 0
