"""Features in memory, per-fold normalisation, and the Lightning data module.

All heavy work is done once: :func:`load_features` reads every utterance's unpadded log-mels
from the feature cache (computing missing ones), and :func:`fold_datasets` normalises them
with statistics of the fold's *training part only* (SPEC section 1) into in-memory
:class:`~sertk.data.dataset.FeatureDataset` objects. An epoch only indexes tensors
(``num_workers=0`` is enough).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Mapping, Sequence

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader

from sertk.data.cache import FeatureCache
from sertk.data.buckets import BucketSampler
from sertk.data.dataset import EpochSampler, FeatureDataset
from sertk.data.manifest import Utterance
from sertk.data.splits import Fold
from sertk.features import (FeatureConfig, FeatureNormalizer, feature_stats,
                            standardise_utterances)
from sertk.models.dimensions import DimensionScaling


def load_features(utterances: Sequence[Utterance], feature_config: FeatureConfig, *,
                  cache_dir: str | None = None, progress: bool = True,
                  num_workers: int | None = None) -> dict[str, np.ndarray]:
    """Unpadded log-mels of every utterance, ``{id: float32 (n_mels, frames)}``, from (and
    into) the :class:`~sertk.data.cache.FeatureCache` under ``cache_dir`` (default
    ``$SERTK_CACHE`` or ``~/.cache/sertk/features``).

    Raises:
        FeatureCacheError: naming every file that could not be read (training on a manifest
            with bad files would silently change the data, so nothing is dropped).
    """
    cache = FeatureCache(cache_dir or None, feature_config)
    workers = num_workers or min(4, os.cpu_count() or 1)
    cache.build(utterances, num_workers=workers, progress=progress).raise_for_failures()
    return {u.id: cache.get(u) for u in utterances}


@dataclass
class FoldData:
    """One fold's datasets, normalised with the training part's statistics; ``val`` and
    ``test`` are None without a validation or test part.

    ``mean``/``std``: (n_mels,) statistics over all real frames of the training part;
    ``pad_value``: (n_mels,) normalised value of a silent (zero-padded) frame;
    ``class_counts``: (C,) training utterances per class; ``dimensions``: the scaling of the
    dimensional targets (training part's statistics), None without dimensions.
    """

    train: FeatureDataset
    val: FeatureDataset | None
    test: FeatureDataset | None
    mean: np.ndarray
    std: np.ndarray
    pad_value: torch.Tensor
    class_counts: np.ndarray
    dimensions: DimensionScaling | None = None


def prenormalise(features: Mapping[str, np.ndarray], utterances: Sequence[Utterance],
                 feature_config: FeatureConfig) -> dict[str, np.ndarray]:
    """The log-mels (truncated to ``max_frames``) after ``feature_config.normalisation``'s
    first step: unchanged for ``fold``; each clip standardised with its own statistics for
    ``utterance``; with its speaker's (all of the speaker's clips, whatever part of the
    fold they are in: no labels are used) for ``speaker``."""
    max_frames = feature_config.max_frames
    clipped = {u.id: np.asarray(features[u.id][:, :max_frames], dtype=np.float32)
               for u in utterances}
    mode = feature_config.normalisation
    if mode == "utterance":
        with torch.no_grad():
            return {i: standardise_utterances(torch.from_numpy(f)[None])[0].numpy()
                    for i, f in clipped.items()}
    if mode == "speaker":
        by_speaker: dict[str, list[str]] = {}
        for u in utterances:
            by_speaker.setdefault(u.speaker, []).append(u.id)
        out = {}
        for ids in by_speaker.values():
            mean, std = feature_stats([clipped[i] for i in ids])
            for i in ids:
                out[i] = (clipped[i] - mean[:, None]) / np.maximum(std, 1e-5)[:, None]
        return out
    return clipped


def fold_datasets(features: Mapping[str, np.ndarray], utterances: Sequence[Utterance],
                  fold: Fold, labels: Sequence[str], feature_config: FeatureConfig,
                  dimensions: Sequence[str] = ()) -> FoldData:
    """Normalise and pad one fold's features; statistics come from ``fold.train_ids`` only
    (after the clip- or speaker-level step of :func:`prenormalise`). ``dimensions``: ratings
    to carry as targets, standardised with the training part's mean and std."""
    by_id = {u.id: u for u in utterances}
    index = {label: i for i, label in enumerate(labels)}
    max_frames = feature_config.max_frames
    if feature_config.normalisation != "fold":
        features = prenormalise(features, utterances, feature_config)
    train_feats = [features[i][:, :max_frames] for i in fold.train_ids]
    mean, std = feature_stats(train_feats)
    normalizer = FeatureNormalizer(mean, std)
    pad_value = normalizer.padded_frame(feature_config)  # as the inference front-end's
    scaling = None
    if dimensions:
        scaling = DimensionScaling.fit(dimensions, [by_id[i].dimension_values(dimensions)
                                                    for i in fold.train_ids])

    def dataset(ids: Sequence[str]) -> FeatureDataset | None:
        if not ids:
            return None
        with torch.no_grad():
            feats = [normalizer(torch.from_numpy(features[i][None, :, :max_frames]))[0]
                     for i in ids]
        ratings = None if scaling is None else scaling.scale(
            [by_id[i].dimension_values(dimensions) for i in ids])
        return FeatureDataset(feats, [index[by_id[i].label] for i in ids],
                              padding=feature_config.padding, max_frames=max_frames,
                              pad_value=pad_value, ratings=ratings)

    counts = np.bincount([index[by_id[i].label] for i in fold.train_ids], minlength=len(labels))
    return FoldData(dataset(fold.train_ids), dataset(fold.val_ids), dataset(fold.test_ids),
                    mean, std, pad_value, counts, scaling)


class SERDataModule(L.LightningDataModule):
    """Training and validation loaders over in-memory datasets.

    Training batches come from an :class:`~sertk.data.dataset.EpochSampler` (a shuffle), or
    with ``batching="bucketed"`` a :class:`~sertk.data.buckets.BucketSampler` (batches of
    similar lengths): orders that depend on ``(seed, epoch)`` only, sharded over DDP ranks.
    Validation is not sharded, so all ranks agree on validation UA.
    """

    def __init__(self, train: FeatureDataset, val: FeatureDataset | None, *, batch_size: int,
                 eval_batch_size: int, seed: int, batching: str = "random"):
        super().__init__()
        if batching not in ("random", "bucketed"):
            raise ValueError(f"batching must be 'random' or 'bucketed', got {batching!r}")
        self.train_set, self.val_set = train, val
        self.batch_size, self.eval_batch_size, self.seed = batch_size, eval_batch_size, seed
        self.batching = batching

    def train_dataloader(self) -> DataLoader:
        trainer = self.trainer
        shards = {"num_replicas": trainer.world_size if trainer else 1,
                  "rank": trainer.global_rank if trainer else 0}
        if self.batching == "bucketed":
            sampler = BucketSampler(self.train_set.lengths, self.batch_size, seed=self.seed,
                                    **shards)
        else:
            sampler = EpochSampler(len(self.train_set), shuffle=True, seed=self.seed, **shards)
        return DataLoader(self.train_set, batch_size=self.batch_size, sampler=sampler,
                          collate_fn=self.train_set.collate, num_workers=0,
                          generator=_private_generator())

    def val_dataloader(self) -> DataLoader | list:
        if self.val_set is None:
            return []
        return DataLoader(self.val_set, batch_size=self.eval_batch_size, shuffle=False,
                          collate_fn=self.val_set.collate, num_workers=0,
                          generator=_private_generator())


def _private_generator() -> torch.Generator:
    """A generator for the DataLoader's own seed draw, so that creating an iterator never
    consumes the global generator that dropout and augmentation use (which would make an
    epoch's randomness depend on when Lightning happens to create its iterators)."""
    return torch.Generator().manual_seed(0)
