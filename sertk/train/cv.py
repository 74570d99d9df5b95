"""Cross-validation: the same :func:`~sertk.train.fitting.fit` once per fold, then the report.

A run directory (layout in :mod:`sertk.eval.rundir`) holds ``config.yaml`` / ``config.json``
(the resolved recipe), ``run.json`` (the folds), one ``fold-XX/`` per fold and, once every
fold is done, the run-level ``metrics.json``, ``predictions.csv``, ``report.md`` and figures.
Re-running the same command skips finished folds and resumes an interrupted one; ``fold=K``
runs a single fold, so a cluster can train folds as separate jobs (the job that completes
the last fold writes the report; ``sertk report RUN_DIR`` can always do it again).

The whole recipe, the split and the features are checked before anything is written, and
the recipe is compared and saved under the run's lock, so a second command with another
recipe is refused rather than mixed in; each fold trains under its own lock
(:mod:`sertk.train.runlock`).
"""
from __future__ import annotations

import contextlib
import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from sertk.classical import is_classical
from sertk.classical.cv import corpus_vectors, fit_fold_model, run_linear_fold
from sertk.classical.functionals import FunctionalsExtractor
from sertk.data.manifest import Utterance
from sertk.eval.report import aggregate_run
from sertk.eval.rundir import METRICS_FILE, fold_dir, init_run
from sertk.train.config import (ConfigError, TrainConfig, check_same_run, save_config,
                               settle_threads)
from sertk.train.fitting import FoldResult, fit, is_global_zero, load_fold_features, writing
from sertk.train.folds import final_split, protocol_folds
from sertk.train.recipe import check_recipe, linear_config

log = logging.getLogger(__name__)


def cross_validate(config: TrainConfig, utterances: Sequence[Utterance], out_dir: str | Path, *,
                   features: Mapping[str, np.ndarray] | None = None) -> dict | None:
    """Run every fold of ``config.protocol.name`` (or ``config.protocol.fold`` / the first
    ``config.protocol.max_folds``) into ``out_dir`` and aggregate them.

    Returns:
        the run-level metrics (``sertk.eval.report.aggregate_run``; partial when
        ``max_folds`` limits the run), or None while other folds are still missing
        (``fold=K`` jobs of a fan-out).

    Raises:
        ConfigError: ``out_dir`` holds a run of a different recipe, or the fold does not exist.
        LeakageError: a fold's parts share utterances, speakers or sessions.
    """
    if config.protocol.name == "final":
        raise ConfigError("protocol 'final' has no test part to cross-validate; "
                          "use fit() / `sertk train` for it")
    run_dir = Path(out_dir)
    labels = check_recipe(config, utterances)  # nothing is written before this
    folds = protocol_folds(utterances, config)  # checked for leakage by make_folds
    selected = select_folds(folds, config)
    config = settle_threads(config, run_dir)  # recorded with the run, reused on resume
    check_same_run(config, run_dir)
    classical = is_classical(config.model.name)
    todo = [f for f in selected if not _done(run_dir, f.index)]
    if classical and todo:
        vectors = classical_vectors(config, utterances)
    elif features is None and todo:
        features = load_fold_features(config, utterances)
    with contextlib.ExitStack() as claimed:
        for fold in selected:  # every fold this run will train, before writing anything
            if not _done(run_dir, fold.index):
                claimed.enter_context(writing(run_dir, fold_dir(run_dir, fold.index).name))
        if is_global_zero():
            with writing(run_dir):  # the recipe lock: compare and write as one step
                check_same_run(config, run_dir)
                init_run(run_dir, folds, labels, protocol=config.protocol.name,
                         info={"model": config.model.name, "seed": config.runtime.seed,
                               "padding": config.features.padding,
                               "normalisation": config.features.normalisation,
                               "manifest": config.data.manifest})
                save_config(config, run_dir)
        results: list[FoldResult] = []
        for fold in selected:
            log.info("fold %d/%d (%s)", fold.index + 1, len(folds), fold.name)
            if classical:
                if not _done(run_dir, fold.index):
                    run_linear_fold(fold, utterances, vectors, labels, run_dir,
                                    linear_config(config))
                continue
            results.append(fit(config, utterances, fold, out_dir=run_dir, features=features,
                               labels=labels))
    if not is_global_zero():
        return None
    complete = all(_done(run_dir, f.index) for f in folds)
    if complete or config.protocol.max_folds is not None:
        return aggregate_run(run_dir, partial=not complete)
    return None


def select_folds(folds: Sequence, config: TrainConfig) -> list:
    """The folds a run trains: ``config.protocol.fold`` alone, the first ``max_folds``, or all."""
    protocol = config.protocol
    if protocol.fold is not None:
        if protocol.fold >= len(folds):
            raise ConfigError(f"fold {protocol.fold} does not exist: {protocol.name} has "
                              f"{len(folds)} folds, 0..{len(folds) - 1}")
        return [folds[protocol.fold]]
    return list(folds[:protocol.max_folds] if protocol.max_folds else folds)


def fit_classical(config: TrainConfig, utterances: Sequence[Utterance],
                  out_dir: str | Path) -> dict:
    """A deployable classical model on the whole manifest (``protocol: final``): C chosen on
    a stratified ``val_fraction`` of it, saved to ``out_dir/checkpoint/`` with the recipe in
    ``out_dir``. Returns a summary (chosen C, its validation UA, the checkpoint)."""
    labels = check_recipe(config, utterances)  # nothing is written before this
    fold = final_split(utterances, config)
    model = fit_fold_model(fold, utterances, classical_vectors(config, utterances), labels,
                           linear_config(config))
    out_dir = Path(out_dir)
    with writing(out_dir):
        save_config(config, out_dir)
        checkpoint = model.save(out_dir / "checkpoint")
    return {"model": config.model.name, "c": model.c, "val_ua": model.metadata.get("val_ua"),
            "train": len(fold.train_ids), "val": len(fold.val_ids),
            "checkpoint": str(checkpoint)}


def classical_vectors(config: TrainConfig, utterances: Sequence[Utterance]) -> dict:
    """id -> functionals of every utterance for the recipe's classical model (cached)."""
    linear = linear_config(config)
    return corpus_vectors(utterances, linear, FunctionalsExtractor(
        linear.feature_set, cache_root=config.data.cache_dir or None))



def _done(run_dir: Path, index: int) -> bool:
    return (fold_dir(run_dir, index) / METRICS_FILE).is_file()
