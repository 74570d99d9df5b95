"""Run several systems side by side under one protocol and write one comparison table.

A system is a name, a model and/or a recipe file, and KEY=VALUE overrides; list them in a
study file (configs/studies/table2-plus-peers.yaml is the paper's Table 2 plus eGeMAPS-SVM
and an SSL system) and/or with --system NAME=SPEC. Each is cross-validated with the same
manifest, protocol, folds and seed into OUT/<name>/ (an ordinary `sertk cv` run directory);
then OUT/comparison.md and OUT/comparison.json hold every system's WA/UA (fold mean ± std
and pooled) and, against the reference (--reference, else the study file's, else the
first), `sertk compare`'s paired statistics: Wilcoxon signed-rank over per-fold UA and a
paired bootstrap 95 % CI of the pooled UA difference.

Study file: `systems:` a list of {name, model, config, set}; optional top-level `config`
(base recipe), `set` (overrides for all) and `reference`. Recipe paths are relative to the
study file. Order of settings: recipe file, study set, the system's model and set, then
--set and the flags. The protocol keys (manifest, protocol, k, val_fraction, val_speakers,
seed, fold, max_folds) are the study's, never a system's.

--system NAME=SPEC: SPEC is a model, a recipe file (.yaml/.yml/.json/.toml) and/or
KEY=VALUE overrides, space-separated (quote it); a NAME the study file has is amended,
e.g. to give the SSL system its encoder.

Everything is checked before anything trains. A system that fails is marked in the table
with its reason and the others still run (exit status 1). Re-running resumes: finished
systems are skipped, unfinished folds continue.

examples:
  sertk study configs/studies/table2-plus-peers.yaml --manifest emodb.csv --protocol lospk \\
      --system 'wavlm=model_args.encoder=microsoft/wavlm-base-plus' -o runs/study
  sertk study --system proposed=proposed --system svm=egemaps-svm \\
      --system 'best=configs/best.yaml' --manifest emodb.csv --protocol lospk -o runs/s2
"""
from __future__ import annotations

import argparse
import sys

from sertk.cli.train import add_config_arguments, flag_values

EXTRA = {"max_folds": ("--max-folds", int, "run only the first N folds of every system")}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("study", nargs="?", default=None,
                        help="study file (.yaml/.yml/.json/.toml) listing the systems")
    parser.add_argument("--system", dest="systems", action="append", default=[],
                        metavar="NAME=SPEC",
                        help="add a system, or amend one of the study file's (repeatable): "
                             "NAME=MODEL, NAME=RECIPE_FILE or NAME='MODEL KEY=VALUE ...'")
    parser.add_argument("--reference", default=None, metavar="NAME",
                        help="the system the others are compared with (default: first)")
    parser.add_argument("--boot", type=int, default=2000, metavar="N",
                        help="bootstrap resamples (default 2000)")
    add_config_arguments(parser, extra=EXTRA, exclude=("model",))


def run(args: argparse.Namespace) -> int:
    from sertk.data.manifest import read_manifest
    from sertk.devices import check_training_devices
    from sertk.fileio import read_text
    from sertk.train.config import ConfigError
    from sertk.train.study import run_study
    from sertk.train.studyspec import (StudySpec, read_study, reference_name,
                                       resolve_systems, with_system_flags)

    if args.boot < 1:
        raise ConfigError(f"--boot must be >= 1, got {args.boot}")
    spec = read_study(args.study) if args.study else StudySpec()
    spec = with_system_flags(spec, args.systems)
    configs = resolve_systems(spec, recipe=args.config, overrides=args.overrides,
                              values=flag_values(args, EXTRA))
    reference = reference_name(spec, args.reference)
    first = next(iter(configs.values()))
    check_training_devices(first.runtime.accelerator, first.runtime.devices)
    outcome = run_study(configs, read_manifest(first.data.manifest), args.out,
                        reference=reference, n_boot=args.boot)
    if outcome is None:  # a DDP rank other than 0
        return 0
    if outcome.table is None:
        print("fold(s) done; other folds still missing. Re-run without --fold to write "
              "the table.")
    else:
        print(read_text(outcome.table), end="")
        print(f"study: {args.out}")
    for name, reason in outcome.failed.items():
        print(f"sertk study: system {name} failed: {reason}", file=sys.stderr)
    return 1 if outcome.failed else 0
