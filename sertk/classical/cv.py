"""Cross-validation of a classical model in the neural models' run layout.

For each fold: openSMILE functionals of its parts (extracted once for the manifest), ``C``
chosen on the validation part, predictions of the test part written with
:func:`sertk.eval.rundir.write_fold` and the fitted model saved to
``fold-XX/checkpoint/``. The run directory then reads like a neural run's, so
``sertk report`` and comparisons treat both alike.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sertk.classical.functionals import FunctionalsExtractor
from sertk.classical.linear import LinearConfig, LinearModel, fit_linear, normalise_by_group
from sertk.data.cache import FeatureCacheError
from sertk.data.manifest import Utterance
from sertk.data.splits import Fold
from sertk.eval.rundir import fold_dir, write_fold

def corpus_vectors(utterances: Sequence[Utterance], config: LinearConfig,
                   extractor: FunctionalsExtractor | None = None) -> dict[str, np.ndarray]:
    """id -> (D,) functionals of every utterance (``config.feature_set``), speaker-normalised
    if the config says so.

    Raises:
        FeatureCacheError: listing every file that could not be used (and why).
        ValueError: ``speaker`` normalisation on a manifest without speakers.
    """
    if config.normalisation == "speaker" and any(not u.speaker for u in utterances):
        missing = [u.id for u in utterances if not u.speaker][:5]
        raise ValueError(f"normalisation 'speaker' needs a speaker for every utterance; "
                         f"none for {', '.join(missing)}")
    extractor = extractor or FunctionalsExtractor(config.feature_set)
    x, failures = extractor.of_files([u.path for u in utterances])
    if failures:
        raise FeatureCacheError(failures)
    if config.normalisation == "speaker":
        x = normalise_by_group(x, [u.speaker for u in utterances])
    return {u.id: row for u, row in zip(utterances, x)}


def fit_fold_model(fold: Fold, utterances: Sequence[Utterance],
                   vectors: dict[str, np.ndarray], labels: Sequence[str],
                   config: LinearConfig) -> LinearModel:
    """Fit on the fold's training part, C chosen by UA on its validation part (the default
    C without one). The model's metadata names the fold and the normalisation."""
    x_train, y_train = _part(fold.train_ids, utterances, vectors)
    x_val, y_val = _part(fold.val_ids, utterances, vectors)
    model = fit_linear(x_train, y_train, labels, config, x_val=x_val, y_val=y_val)
    model.metadata.update(fold=fold.name, normalisation=config.normalisation,
                          feature_set=config.feature_set)
    return model


def _part(ids: Sequence[str], utterances: Sequence[Utterance],
          vectors: dict[str, np.ndarray]) -> tuple[np.ndarray, list[str]]:
    """(N, D) vectors and N labels of ``ids``; (0, D) for none."""
    by_id = {u.id: u for u in utterances}
    dim = len(next(iter(vectors.values())))
    return (np.stack([vectors[i] for i in ids]) if ids else np.zeros((0, dim)),
            [by_id[i].label for i in ids])


def run_linear_fold(fold: Fold, utterances: Sequence[Utterance], vectors: dict[str, np.ndarray],
                    labels: Sequence[str], run_dir: str | Path, config: LinearConfig) -> dict:
    """Fit, choose C on validation, predict the test part; write the fold. Returns its metrics."""
    model = fit_fold_model(fold, utterances, vectors, labels, config)
    x_test, y_test = _part(fold.test_ids, utterances, vectors)
    out = fold_dir(run_dir, fold.index)
    model.save(out / "checkpoint")
    info = {"c": model.c, "val_ua": model.metadata.get("val_ua"),
            "normalisation": config.normalisation, "params": int(model.weight.size + model.bias.size)}
    return write_fold(run_dir, fold, list(fold.test_ids), y_test, model.probabilities(x_test),
                      labels, info=info)

