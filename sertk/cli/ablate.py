"""Run the paper's ablation study: proposed and base1..base7 under one protocol and seed.

Every model is cross-validated with the same recipe, folds and seed into OUT/<model>/ (as
`sertk cv`); then OUT/ablation.md holds the paper's Table 2 layout (WA and UA mean ± std
across folds, parameters, training time, the paper's IEMOCAP numbers alongside),
OUT/ablation.json the same numbers and OUT/confusion-grid.png the pooled confusion matrices
side by side (the paper's Figure 3). Re-running resumes; --fold K runs one fold of every
model (cluster fan-out).

examples:
  sertk ablate --config configs/paper.yaml --manifest iemocap.csv --protocol kfold -o runs/ablation
  sertk ablate --manifest emodb.csv --protocol lospk --models proposed,base7 -o runs/abl
"""
from __future__ import annotations

import argparse

from sertk.cli.train import add_config_arguments, config_from_args

EXTRA = {"max_folds": ("--max-folds", int, "run only the first N folds of each model")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, extra=EXTRA)
    parser.add_argument("--models", help="comma-separated model names (default: all registered)")


def run(args: argparse.Namespace) -> int:
    from sertk.data.manifest import read_manifest
    from sertk.fileio import read_text
    from sertk.train import ablate
    from sertk.train.fitting import is_global_zero

    models = [m.strip() for m in args.models.split(",") if m.strip()] if args.models else None
    config = config_from_args(args, extra=EXTRA)
    path = ablate(config, read_manifest(config.data.manifest), args.out, models=models)
    if not is_global_zero():
        return 0
    if path is None:
        print("folds done; others still missing. Re-run without --fold to write the table.")
    else:
        print(read_text(path))
    return 0
