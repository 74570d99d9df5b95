"""In-memory feature datasets: padding modes, lengths, truncation; the epoch sampler."""
from __future__ import annotations

import pytest
import torch

from sertk.data.dataset import Batch, EpochSampler, FeatureDataset


def _feats(lengths, n_mels=3):
    return [torch.arange(n_mels * t, dtype=torch.float32).reshape(n_mels, t) + 1 for t in lengths]


def test_batch_padding_pads_to_longest_and_keeps_lengths():
    pad = torch.tensor([-7.0, -8.0, -9.0])
    ds = FeatureDataset(_feats([4, 2, 6]), [0, 1, 2], padding="batch", max_frames=10,
                        pad_value=pad)
    batch = ds.collate([ds[0], ds[1]])
    assert isinstance(batch, Batch)
    assert batch.features.shape == (2, 3, 4)
    assert batch.lengths.tolist() == [4, 2]
    assert batch.targets.tolist() == [0, 1] and batch.index.tolist() == [0, 1]
    assert torch.equal(batch.features[1, :, :2], _feats([2])[0])
    assert torch.equal(batch.features[1, :, 2:], pad[:, None].expand(3, 2))


def test_fixed_padding_gives_max_frames_and_real_lengths():
    ds = FeatureDataset(_feats([4, 12]), [1, 0], padding="fixed", max_frames=10,
                        pad_value=torch.full((3,), -1.0))
    batch = ds.collate([ds[0], ds[1]])
    assert batch.features.shape == (2, 3, 10)
    assert batch.lengths.tolist() == [4, 10]  # the long clip is truncated to max_frames
    assert torch.equal(batch.features[0, :, 4:], torch.full((3, 6), -1.0))
    assert torch.equal(batch.features[1], _feats([12])[0][:, :10])


def test_dataset_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="targets"):
        FeatureDataset(_feats([3]), [0, 1], padding="batch", max_frames=5)
    with pytest.raises(ValueError, match="padding"):
        FeatureDataset(_feats([3]), [0], padding="none", max_frames=5)
    with pytest.raises(ValueError, match="n_mels"):
        FeatureDataset(_feats([3]) + _feats([3], n_mels=4), [0, 1], padding="batch",
                       max_frames=5)


def test_sampler_order_depends_only_on_seed_and_epoch():
    a, b = EpochSampler(50, seed=3), EpochSampler(50, seed=3)
    a.set_epoch(4), b.set_epoch(4)
    assert list(a) == list(b)
    assert sorted(a) == list(range(50))
    b.set_epoch(5)
    assert list(a) != list(b)
    assert list(EpochSampler(50, seed=4)) != list(EpochSampler(50, seed=3))
    assert list(EpochSampler(5, shuffle=False)) == [0, 1, 2, 3, 4]


def test_sampler_shards_cover_everything_with_equal_lengths():
    shards = [EpochSampler(11, seed=1, num_replicas=3, rank=r) for r in range(3)]
    for s in shards:
        s.set_epoch(2)
    items = [list(s) for s in shards]
    assert {len(i) for i in items} == {4} and all(len(s) == 4 for s in shards)
    assert set().union(*map(set, items)) == set(range(11))
    with pytest.raises(ValueError):
        EpochSampler(4, num_replicas=2, rank=2)
