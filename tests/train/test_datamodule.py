"""The training loader: random or length-bucketed batches, both a function of (seed, epoch)."""
import pytest
import torch

from sertk.data.dataset import FeatureDataset
from sertk.train.datamodule import SERDataModule


def _dataset(n: int = 60) -> FeatureDataset:
    lengths = (torch.randperm(n, generator=torch.Generator().manual_seed(0)) + 5).tolist()
    return FeatureDataset([torch.randn(4, t) for t in lengths], [i % 3 for i in range(n)],
                          padding="batch", max_frames=200)


def _epoch(module: SERDataModule, epoch: int) -> list[list[int]]:
    loader = module.train_dataloader()
    loader.sampler.set_epoch(epoch)  # what Lightning calls before every epoch
    return [batch.lengths.tolist() for batch in loader]


def test_bucketed_batches_hold_neighbouring_lengths_and_change_with_the_epoch():
    data = _dataset()
    bucketed = SERDataModule(data, None, batch_size=8, eval_batch_size=8, seed=1,
                             batching="bucketed")
    random = SERDataModule(data, None, batch_size=8, eval_batch_size=8, seed=1)
    epoch0 = _epoch(bucketed, 0)
    assert sorted(t for b in epoch0 for t in b) == sorted(data.lengths.tolist())
    assert all(max(b) - min(b) <= 7 for b in epoch0)  # 60 distinct lengths, 8 neighbours each
    assert max(max(b) - min(b) for b in _epoch(random, 0)) > 7  # what bucketing removes
    assert _epoch(bucketed, 0) == epoch0 and _epoch(bucketed, 1) != epoch0
    padded = sum(len(b) * max(b) for b in epoch0)
    assert padded < sum(len(b) * max(b) for b in _epoch(random, 0))


def test_unknown_batching_is_refused():
    with pytest.raises(ValueError, match="batching must be 'random' or 'bucketed'"):
        SERDataModule(_dataset(4), None, batch_size=2, eval_batch_size=2, seed=0,
                      batching="sorted")
