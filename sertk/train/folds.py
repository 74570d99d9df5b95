"""The split a run trains on: a protocol's folds, or one final split, checked for leakage.

:func:`protocol_folds` gives the folds of ``config.protocol.name`` (``kfold``, ``loso``, ``lospk``
from :mod:`sertk.data.splits`), or for ``final`` a single stratified train/validation split
of all data with no test part. The leakage checks are :func:`sertk.data.splits.check_folds`
(a plan) and :func:`sertk.data.splits.check_fold` (one fold, whoever made it).
"""
from __future__ import annotations

from typing import Sequence

from sklearn.model_selection import train_test_split

from sertk.data.manifest import Utterance
from sertk.data.splits import Fold, SplitError, make_folds, speaker_holdout
from sertk.train.config import TrainConfig

FINAL_FOLD_NAME = "final"


def final_split(utterances: Sequence[Utterance], config: TrainConfig) -> Fold:
    """All data as one split without a test part, for training the model you ship: a
    stratified ``val_fraction`` held out for validation (none when 0), or with ``final_val:
    speakers`` ``val_speakers`` whole speakers (:func:`sertk.data.splits.speaker_holdout`)."""
    if config.protocol.final_val == "speakers":
        return speaker_holdout(utterances, config.protocol.val_speakers, config.runtime.seed,
                               name=FINAL_FOLD_NAME)
    ids = [u.id for u in utterances]
    if config.protocol.val_fraction == 0:
        return Fold(0, FINAL_FOLD_NAME, tuple(ids), (), ())
    labels = [u.label for u in utterances]
    fraction = config.protocol.val_fraction
    try:
        train, val = train_test_split(ids, test_size=fraction, stratify=labels,
                                      random_state=config.runtime.seed)
    except ValueError as err:  # too few clips for a stratified part of every class
        raise SplitError(f"final split: a stratified validation part of {fraction:g} "
                         f"of {len(ids)} clips cannot hold each of the {len(set(labels))} "
                         f"classes ({err}); raise val_fraction, add data, or set "
                         "val_fraction=0 (no model selection)") from None
    order = {i: n for n, i in enumerate(ids)}
    return Fold(0, FINAL_FOLD_NAME, tuple(sorted(train, key=order.get)),
                tuple(sorted(val, key=order.get)), ())


def protocol_folds(utterances: Sequence[Utterance], config: TrainConfig) -> list[Fold]:
    """The folds of ``config.protocol.name`` (checked for leakage by ``make_folds``)."""
    if config.protocol.name == "final":
        return [final_split(utterances, config)]
    protocol = config.protocol
    return make_folds(utterances, protocol.name, k=protocol.k, seed=config.runtime.seed,
                      val_fraction=protocol.val_fraction, val_speakers=protocol.val_speakers)
