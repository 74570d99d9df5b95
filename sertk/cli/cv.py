"""Cross-validate a model: every fold of a protocol, then the report.

Each fold trains on its training part, picks the epoch with the best validation UA (early
stopping on it too) and is scored once on its test part. Outputs: OUT/config.yaml, run.json,
fold-XX/ (checkpoint/, history.csv, curves.png, predictions.csv, metrics.json) and, when all
folds are done, OUT/metrics.json, predictions.csv, report.md and confusion.png.

Re-running the same command skips finished folds and resumes an interrupted one. --fold K
(from 0) runs one fold, so a cluster can run the folds as separate jobs; the job finishing
the last fold writes the report (or run `sertk report OUT`). --max-folds N runs the first N
folds and writes a partial report (smoke tests).

examples:
  sertk cv --config configs/paper.yaml --manifest emodb.csv --protocol lospk -o runs/emodb
  sertk cv --manifest iemocap.csv --protocol kfold --fold 2 -o runs/iemocap   # one job
  sertk cv --config configs/smoke.yaml --manifest emodb.csv --max-folds 2 -o /tmp/smoke
"""
from __future__ import annotations

import argparse

from sertk.cli.train import add_config_arguments, config_from_args

EXTRA = {"max_folds": ("--max-folds", int, "run only the first N folds (partial report)")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, extra=EXTRA)


def run(args: argparse.Namespace) -> int:
    from sertk.data.manifest import read_manifest
    from sertk.eval.report import render_report
    from sertk.train import cross_validate
    from sertk.train.fitting import is_global_zero

    config = config_from_args(args, extra=EXTRA)
    metrics = cross_validate(config, read_manifest(config.manifest), args.out)
    if not is_global_zero():
        return 0
    if metrics is None:
        print(f"fold(s) done; other folds still missing. Run `sertk report {args.out}` "
              "when all are finished.")
    else:
        print(render_report(metrics))
        print(f"run directory: {args.out}")
    return 0
