"""Length-bucketed batches: similar lengths together, deterministic per (seed, epoch), sharded."""
from collections import Counter

import pytest
import torch
from torch.utils.data import DataLoader

from sertk.data.buckets import BucketSampler


def _lengths(n: int, seed: int = 0) -> list[int]:
    """Distinct lengths 1..n in a random order (so neighbours in sorted order are known)."""
    return (torch.randperm(n, generator=torch.Generator().manual_seed(seed)) + 1).tolist()


def test_order_depends_only_on_seed_and_epoch():
    lengths = _lengths(100)
    a, b = BucketSampler(lengths, 8, seed=3), BucketSampler(lengths, 8, seed=3)
    a.set_epoch(2)
    b.set_epoch(2)
    assert list(a) == list(b) and list(a) == list(a)  # twice the same: no hidden state
    b.set_epoch(3)
    assert list(a) != list(b)
    c = BucketSampler(lengths, 8, seed=4)
    c.set_epoch(2)
    assert list(c) != list(a)
    torch.manual_seed(0)
    first = list(a)
    torch.rand(5)  # the global generator (dropout, augmentation) plays no part
    assert list(a) == first


@pytest.mark.parametrize("replicas", [1, 2, 3])
def test_each_batch_holds_neighbouring_lengths(replicas):
    lengths, batch = _lengths(203), 8
    for rank in range(replicas):
        sampler = BucketSampler(lengths, batch, seed=1, num_replicas=replicas, rank=rank)
        sampler.set_epoch(5)
        batches = sampler.batches()
        assert all(len(b) == batch for b in batches[:-1]) and 1 <= len(batches[-1]) <= batch
        for b in batches:
            spread = max(lengths[i] for i in b) - min(lengths[i] for i in b)
            assert spread <= batch * replicas - 1, (rank, b)


def test_batches_are_shuffled_between_buckets():
    lengths = _lengths(400)
    sampler = BucketSampler(lengths, 10, seed=0)
    means = [sum(lengths[i] for i in b) / len(b) for b in sampler.batches()[:-1]]
    assert means != sorted(means) and means != sorted(means, reverse=True)
    sampler.set_epoch(1)
    assert sampler.batches() != BucketSampler(lengths, 10, seed=0).batches()


@pytest.mark.parametrize("size, replicas", [(100, 1), (101, 2), (11, 3), (2, 4)])
def test_shards_are_disjoint_equal_and_cover_everything(size, replicas):
    lengths = _lengths(size, seed=2)
    shards = [BucketSampler(lengths, 4, seed=7, num_replicas=replicas, rank=r)
              for r in range(replicas)]
    for shard in shards:
        shard.set_epoch(3)
    orders = [list(s) for s in shards]
    per_rank = -(-size // replicas)
    assert all(len(o) == per_rank == len(s) for o, s in zip(orders, shards))
    assert len({len(s.batches()) for s in shards}) == 1  # every rank runs as many steps
    counts = Counter(i for o in orders for i in o)
    assert set(counts) == set(range(size))  # every clip is seen
    assert sum(counts.values()) - size == per_rank * replicas - size  # only wrap-around repeats
    if size % replicas == 0:
        assert all(c == 1 for c in counts.values())  # disjoint


def test_the_dataloader_cuts_on_bucket_boundaries():
    lengths = _lengths(37)
    sampler = BucketSampler(lengths, 5, seed=0)
    loader = DataLoader(list(range(37)), batch_size=5, sampler=sampler)
    assert [b.tolist() for b in loader] == sampler.batches()


def test_refuses_bad_arguments():
    with pytest.raises(ValueError, match="rank 2 outside"):
        BucketSampler([1, 2], 2, num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        BucketSampler([1, 2], 0)
    assert list(BucketSampler([], 4)) == []
