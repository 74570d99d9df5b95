"""Cross-validate a model: every fold of a protocol, then the report.

Each fold trains on its training part, picks the epoch with the best validation UA (early
stopping on it too) and is scored once on its test part. Outputs: OUT/config.yaml, run.json,
fold-XX/ (checkpoint/, history.csv, curves.png, predictions.csv, metrics.json) and, when all
folds are done, OUT/metrics.json, predictions.csv, report.md and confusion.png.

Re-running the same command skips finished folds and resumes an interrupted one. --fold K
(from 0) runs one fold, so a cluster can run the folds as separate jobs; the job finishing
the last fold writes the report (or run `sertk report OUT`). --max-folds N runs the first N
folds and writes a partial report (smoke tests).

--seeds 0,1,2 trains the whole protocol once per seed into OUT/seed-0, OUT/seed-1, ...
(each an ordinary run directory) and writes OUT/report.md and OUT/metrics.json for the
group: fold-mean and pooled UA per seed, their mean ± std across seeds, and the seed
ensemble (probabilities averaged over seeds). `sertk compare` takes such groups.

examples:
  sertk cv --config configs/paper.yaml --manifest emodb.csv --protocol lospk -o runs/emodb
  sertk cv --manifest iemocap.csv --protocol kfold --fold 2 -o runs/iemocap   # one job
  sertk cv --config configs/smoke.yaml --manifest emodb.csv --max-folds 2 -o /tmp/smoke
  sertk cv --config configs/best.yaml --manifest emodb.csv --protocol lospk --seeds 0,1,2 -o runs/best
"""
from __future__ import annotations

import argparse

from sertk.cli.train import add_config_arguments, config_from_args

EXTRA = {"max_folds": ("--max-folds", int, "run only the first N folds (partial report)")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, extra=EXTRA)
    parser.add_argument("--seeds", default=None, metavar="S,S,...",
                        help="run every fold once per seed into OUT/seed-S and report the "
                             "group (overrides --seed)")


def parse_seeds(text: str | None) -> list[int] | None:
    """``"0,1,2"`` -> ``[0, 1, 2]``; distinct integers >= 0, else ConfigError."""
    from sertk.train.config import ConfigError

    if text is None:
        return None
    try:
        seeds = [int(part) for part in text.split(",")]
    except ValueError:
        raise ConfigError(f"--seeds must be comma-separated integers, got {text!r}") from None
    if not seeds or min(seeds) < 0 or len(set(seeds)) != len(seeds):
        raise ConfigError(f"--seeds must be distinct integers >= 0, got {text!r}")
    return seeds


def run(args: argparse.Namespace) -> int:
    from sertk.data.manifest import read_manifest
    from sertk.eval.report import render_report
    from sertk.train import cross_validate
    from sertk.train.fitting import is_global_zero

    seeds = parse_seeds(args.seeds)
    config = config_from_args(args, extra=EXTRA)
    if seeds is not None:
        return _run_seeds(config, seeds, args.out)
    metrics = cross_validate(config, read_manifest(config.data.manifest), args.out)
    if not is_global_zero():
        return 0
    if metrics is None:
        print(f"fold(s) done; other folds still missing. Run `sertk report {args.out}` "
              "when all are finished.")
    else:
        print(render_report(metrics))
        print(f"run directory: {args.out}")
    return 0


def _run_seeds(config, seeds: list[int], out: str) -> int:
    """The whole protocol once per seed, then the group's report."""
    from pathlib import Path

    from sertk.data.manifest import read_manifest
    from sertk.eval.seeds import aggregate_seeds, render_seeds
    from sertk.train import cross_validate
    from sertk.train.fitting import is_global_zero

    utterances = read_manifest(config.data.manifest)
    complete = True
    for seed in seeds:
        print(f"seed {seed} ({seeds.index(seed) + 1}/{len(seeds)})", flush=True)
        metrics = cross_validate(config.replace(seed=seed), utterances,
                                 Path(out) / f"seed-{seed}")
        complete = complete and metrics is not None and metrics.get("complete", True)
    if not is_global_zero():
        return 0
    if not complete:
        print(f"some folds are still missing; run `sertk cv ... --seeds` again or "
              f"`sertk report` on each of {out}/seed-*")
        return 0
    print(render_seeds(aggregate_seeds(out)))
    print(f"seed group: {out}")
    return 0
