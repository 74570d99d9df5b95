"""The split a run trains on: a protocol's folds, or one final split, checked for leakage.

:func:`protocol_folds` gives the folds of ``config.protocol`` (``kfold``, ``loso``, ``lospk``
from :mod:`sertk.data.splits`), or for ``final`` a single stratified train/validation split
of all data with no test part. :func:`check_fold` is the fold runner's own leakage check,
applied to every fold it trains, whoever made it.
"""
from __future__ import annotations

from typing import Sequence

from sklearn.model_selection import train_test_split

from sertk.data.manifest import Utterance
from sertk.data.splits import PROTOCOLS, Fold, LeakageError, SplitError, make_folds
from sertk.train.config import TrainConfig

FINAL_FOLD_NAME = "final"


def final_split(utterances: Sequence[Utterance], config: TrainConfig) -> Fold:
    """All data as one split without a test part: a stratified ``val_fraction`` held out for
    validation (none when 0), for training the model you ship."""
    ids = [u.id for u in utterances]
    if config.val_fraction == 0:
        return Fold(0, FINAL_FOLD_NAME, tuple(ids), (), ())
    labels = [u.label for u in utterances]
    train, val = train_test_split(ids, test_size=config.val_fraction, stratify=labels,
                                  random_state=config.seed)
    order = {i: n for n, i in enumerate(ids)}
    return Fold(0, FINAL_FOLD_NAME, tuple(sorted(train, key=order.get)),
                tuple(sorted(val, key=order.get)), ())


def protocol_folds(utterances: Sequence[Utterance], config: TrainConfig) -> list[Fold]:
    """The folds of ``config.protocol`` (checked for leakage by ``make_folds``)."""
    if config.protocol == "final":
        return [final_split(utterances, config)]
    return make_folds(utterances, config.protocol, k=config.k, seed=config.seed,
                      val_fraction=config.val_fraction, val_speakers=config.val_speakers)


def check_fold(utterances: Sequence[Utterance], fold: Fold, protocol: str) -> None:
    """Raise :class:`~sertk.data.splits.LeakageError` if anything crosses the fold's parts
    (:class:`~sertk.data.splits.SplitError` for unknown ids or an empty training part).

    Test ids never occur in train or validation, train and validation are disjoint, every
    id is in the manifest, and the protocol's fields (``lospk``: speakers, ``loso``:
    sessions) are disjoint between test and train+validation (and speakers between
    validation and train), as :func:`sertk.data.splits.check_folds` demands of a whole plan.
    """
    by_id = {u.id: u for u in utterances}
    parts = {"train": set(fold.train_ids), "validation": set(fold.val_ids),
             "test": set(fold.test_ids)}
    unknown = set().union(*parts.values()) - set(by_id)
    if unknown:
        raise SplitError(f"{fold.name}: {len(unknown)} id(s) not in the manifest: "
                         f"{sorted(unknown)[:5]}")
    if not parts["train"]:
        raise SplitError(f"{fold.name}: empty training part")
    for a, b in (("train", "validation"), ("train", "test"), ("validation", "test")):
        shared = parts[a] & parts[b]
        if shared:
            raise LeakageError(f"{fold.name}: {len(shared)} utterance(s) in both {a} and {b}: "
                               f"{sorted(shared)[:5]}")
    spec = PROTOCOLS.get(protocol)
    for field in spec.test_disjoint if spec else ():
        _check_disjoint(fold, field, by_id, parts["test"], parts["train"] | parts["validation"],
                        "test", "train/validation")
    for field in spec.val_disjoint if spec else ():
        _check_disjoint(fold, field, by_id, parts["validation"], parts["train"],
                        "validation", "train")


def _check_disjoint(fold: Fold, field: str, by_id: dict[str, Utterance], ids_a: set[str],
                    ids_b: set[str], name_a: str, name_b: str) -> None:
    shared = ({getattr(by_id[i], field) for i in ids_a}
              & {getattr(by_id[i], field) for i in ids_b})
    if shared:
        raise LeakageError(f"{fold.name}: {field}(s) {sorted(shared)[:5]} in both {name_a} "
                           f"and {name_b}")
