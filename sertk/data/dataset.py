"""In-memory feature datasets, their padded batches, and an epoch-seeded sampler.

Training never touches audio: log-mels are computed once (feature cache), normalised once per
fold with training-part statistics, and held in memory. A :class:`FeatureDataset` serves
``(features (n_mels, T_i), target)`` pairs; its ``collate`` pads them into a :class:`Batch`
as its :class:`~sertk.padding.Padding` mode says (to ``max_frames`` with the feature value of
digital silence, exactly what zero-padded audio would give, or to the batch's longest clip).

:class:`EpochSampler` shuffles with a permutation that is a function of ``(seed, epoch)``
only, sharded across DDP ranks, so an epoch replays exactly after a resume
(:class:`~sertk.data.buckets.BucketSampler` does the same with batches of similar lengths).
"""
from __future__ import annotations

from typing import Iterator, NamedTuple, Sequence

import torch
from torch.utils.data import Dataset, Sampler

from sertk.padding import Padding


class Batch(NamedTuple):
    """A padded batch: features (B, n_mels, T) float32, lengths (B,) int64 real frames of
    each clip (<= T), targets (B,) int64 class indices, index (B,) int64 dataset positions;
    ratings (B, D) float32 standardised dimensional targets, or None without dimensions.

    ``lengths`` are always here (augmentation needs them); the model gets them only if
    :attr:`~sertk.padding.Padding.gives_lengths`."""

    features: torch.Tensor
    lengths: torch.Tensor
    targets: torch.Tensor
    index: torch.Tensor
    ratings: torch.Tensor | None = None


class FeatureDataset(Dataset):
    """Utterance features held in memory; ``dataset[i]`` is ``(features (n_mels, T), length,
    target, i)``.

    Args:
        features: one (n_mels, T_i) tensor per utterance, already normalised; clips longer
            than ``max_frames`` are truncated.
        targets: (N,) class indices.
        padding: a :class:`~sertk.padding.Padding` mode, ``"fixed"`` or ``"batch"``.
        max_frames: frames of a full-length clip (``FeatureConfig.max_frames``).
        pad_value: (n_mels,) value of a padded frame (normalised silence); zeros if None.
        ratings: (N, D) dimensional targets (already scaled), or None.
    """

    def __init__(self, features: Sequence[torch.Tensor], targets: Sequence[int], *,
                 padding: str, max_frames: int, pad_value: torch.Tensor | None = None,
                 ratings=None):
        self.padding = Padding(padding)
        if len(features) != len(targets):
            raise ValueError(f"{len(features)} feature arrays but {len(targets)} targets")
        self.max_frames = int(max_frames)
        feats = [torch.as_tensor(f, dtype=torch.float32)[:, :self.max_frames] for f in features]
        n_mels = feats[0].shape[0] if feats else 0
        if any(f.dim() != 2 or f.shape[0] != n_mels or f.shape[1] < 1 for f in feats):
            raise ValueError("every feature array must be (n_mels, T >= 1) with the same n_mels")
        self.pad_value = (torch.zeros(n_mels) if pad_value is None
                          else torch.as_tensor(pad_value, dtype=torch.float32).reshape(n_mels))
        self.lengths = torch.tensor([f.shape[1] for f in feats], dtype=torch.long)
        self.targets = torch.as_tensor(list(targets), dtype=torch.long)
        self.ratings = None if ratings is None else torch.as_tensor(
            ratings, dtype=torch.float32).reshape(len(self.targets), -1)
        self.features = feats

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int, int, int]:
        return self.features[i], int(self.lengths[i]), int(self.targets[i]), i

    def collate(self, samples: Sequence[tuple]) -> Batch:
        """Pad a list of ``dataset[i]`` items into a :class:`Batch`."""
        feats, lengths, targets, index = zip(*samples)
        x, _ = self.padding.pad(feats, self.max_frames, self.pad_value)
        index = torch.tensor(index, dtype=torch.long)
        return Batch(x, torch.tensor(lengths, dtype=torch.long),
                     torch.tensor(targets, dtype=torch.long), index,
                     None if self.ratings is None else self.ratings[index])


class EpochSampler(Sampler[int]):
    """Shuffled (or ordered) indices that depend only on ``(seed, epoch)``; DDP-sharded.

    Like ``DistributedSampler``: with ``num_replicas`` > 1 each rank takes every
    ``num_replicas``-th index of the permutation, padded by wrapping so all ranks see the
    same number of batches. Lightning calls :meth:`set_epoch` before every epoch.
    """

    def __init__(self, size: int, *, shuffle: bool = True, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.size, self.shuffle, self.seed = size, shuffle, seed
        self.num_replicas, self.rank = num_replicas, rank
        self.epoch = 0
        self.per_rank = -(-size // num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[int]:
        if self.shuffle:
            order = torch.randperm(self.size, generator=epoch_generator(self.seed, self.epoch))
            order = order.tolist()
        else:
            order = list(range(self.size))
        total = self.per_rank * self.num_replicas
        return iter(wrap_to(order, total)[self.rank:total:self.num_replicas])


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The private generator of one epoch's order: a function of ``(seed, epoch)`` only."""
    return torch.Generator().manual_seed(seed * 100_003 + epoch)


def wrap_to(order: list[int], total: int) -> list[int]:
    """``order`` repeated from its start until it is ``total`` long (``total >= len(order)``):
    how every DDP rank gets an equal share of a dataset whose size it does not divide."""
    if not order or total <= len(order):
        return order
    return (order * (total // len(order) + 1))[:total]
