"""Length-bucketed batches: clips of similar length together, so little of a batch is padding.

With ``padding="batch"`` a batch is padded to its longest clip; where durations vary
(IEMOCAP: under 1 s to over 4 s) a random batch is mostly padding for its short clips.
:class:`BucketSampler` sorts the epoch's clips by length (ties in a random order), cuts the
sorted list into *global batches* of ``batch_size * num_replicas`` neighbours, shuffles
their order, and gives rank ``r`` the items ``r, r + R, ...`` of each. So:

- every batch holds clips of neighbouring lengths (the shortest and longest of a batch are at
  most ``batch_size * num_replicas - 1`` places apart in the sorted order);
- the order depends only on ``(seed, epoch)``, so an epoch replays exactly after a resume;
- ranks get disjoint, equal shares (padded by wrapping, like ``DistributedSampler``) and the
  same number of batches, each holding the same lengths range.

The ``DataLoader`` cuts the flat index order into batches of ``batch_size``
(``drop_last=False``); the one short batch (the remainder) comes last, so the cuts fall on
bucket boundaries.
"""
from __future__ import annotations

from typing import Iterator, Sequence

import torch
from torch.utils.data import Sampler

from sertk.data.dataset import epoch_generator, wrap_to


class BucketSampler(Sampler[int]):
    """Indices in batches of similar length, shuffled between batches; DDP-sharded.

    ``lengths``: (N,) frames of every clip; ``batch_size``: the DataLoader's (per process);
    ``seed`` and the epoch (:meth:`set_epoch`) are the only source of the order;
    ``num_replicas``, ``rank``: DDP world size and this process's rank. ``len(sampler)`` is
    this rank's share, ``ceil(N / num_replicas)``.
    """

    def __init__(self, lengths: Sequence[int] | torch.Tensor, batch_size: int, *, seed: int = 0,
                 num_replicas: int = 1, rank: int = 0):
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        if not 0 <= rank < num_replicas:
            raise ValueError(f"rank {rank} outside 0..{num_replicas - 1}")
        self.lengths = torch.as_tensor(lengths, dtype=torch.long).reshape(-1)
        self.batch_size, self.seed = int(batch_size), int(seed)
        self.num_replicas, self.rank = int(num_replicas), int(rank)
        self.epoch = 0
        self.per_rank = -(-len(self.lengths) // self.num_replicas)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.per_rank

    def __iter__(self) -> Iterator[int]:
        return iter(self._rank_order())

    def batches(self) -> list[list[int]]:
        """This rank's batches for the current epoch, in the order they are served."""
        order = self._rank_order()
        return [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]

    def _rank_order(self) -> list[int]:
        size = len(self.lengths)
        if size == 0:
            return []
        gen = epoch_generator(self.seed, self.epoch)
        shuffled = wrap_to(torch.randperm(size, generator=gen).tolist(),
                           self.per_rank * self.num_replicas)
        by_length = sorted(shuffled, key=self.lengths.tolist().__getitem__)  # stable: random ties
        group = self.batch_size * self.num_replicas
        full = len(by_length) // group * group
        groups = [by_length[i:i + group] for i in range(0, full, group)]
        groups = [groups[i] for i in torch.randperm(len(groups), generator=gen).tolist()]
        if full < len(by_length):  # the short global batch goes last (the DataLoader's cut)
            groups.append(by_length[full:])
        return [i for g in groups for i in g[self.rank::self.num_replicas]]
