"""Feature-level augmentation: gain, speed, SpecAugment, mixup; padding stays padding."""
from __future__ import annotations

import math

import torch

from sertk.train.augment import AugmentOptions, FeatureAugment, mixup

PAD = -9.0


def _batch(lengths=(10, 6), n_mels=8, frames=10):
    torch.manual_seed(0)
    x = torch.randn(len(lengths), n_mels, frames)
    lengths = torch.tensor(lengths)
    for i, n in enumerate(lengths.tolist()):
        x[i, :, n:] = PAD
    return x, lengths


def _augment(max_frames=12, **options):
    return FeatureAugment(AugmentOptions(**options), torch.full((8,), 2.0),
                          torch.full((8,), PAD), max_frames)


def test_nothing_is_active_by_default():
    assert not AugmentOptions().active
    x, n = _batch()
    y, m = _augment()(x, n)
    assert torch.equal(x, y) and torch.equal(n, m)


def test_gain_adds_one_constant_per_clip_on_real_frames_only():
    x, n = _batch()
    y, m = _augment(gain_perturb_db=6.0)(x, n)
    shift = y - x
    for i, length in enumerate(n.tolist()):
        real = shift[i, :, :length]
        assert torch.allclose(real, real[0, 0].expand_as(real))
        # 6 dB of power gain is 0.6 ln 10 in log-mel, divided by the band std (2)
        assert abs(real[0, 0]) <= 0.6 * math.log(10) / 2 + 1e-6
        assert torch.all(shift[i, :, length:] == 0)
    assert torch.equal(m, n)


def test_speed_changes_lengths_and_keeps_padding():
    x, n = _batch(lengths=(10, 6), frames=10)
    torch.manual_seed(1)
    y, m = _augment(max_frames=12, speed_perturb=0.3)(x, n)
    assert y.shape[0] == 2 and 10 <= y.shape[2] <= 12
    for i in range(2):
        assert 1 <= m[i] <= y.shape[2]
        assert abs(m[i].item() - n[i].item()) <= math.ceil(0.45 * n[i].item())
        assert torch.all(y[i, :, m[i]:] == PAD)
        # interpolated values stay within the clip's own range
        real = x[i, :, :n[i]]
        assert y[i, :, :m[i]].max() <= real.max() + 1e-5
        assert y[i, :, :m[i]].min() >= real.min() - 1e-5
        assert torch.equal(y[i, :, 0], x[i, :, 0])  # frame 0 reads frame 0


def test_speed_at_rate_one_is_identity():
    x, n = _batch()
    aug = _augment(speed_perturb=1e-9)
    y, m = aug(x, n)
    assert torch.allclose(y[:, :, :10], x, atol=1e-5) and torch.equal(m, n)


def test_spec_augment_zeroes_bounded_bands_and_spans_of_real_frames():
    x, n = _batch(frames=10)
    torch.manual_seed(3)
    y, _ = _augment(spec_augment=True, freq_mask=2, time_mask=3, n_freq_masks=1,
                    n_time_masks=1)(x, n)
    changed = y != x
    assert torch.all(y[changed] == 0) and changed.any()
    for i, length in enumerate(n.tolist()):
        assert not changed[i, :, length:].any()  # padding untouched
        real = changed[i, :, :length]
        assert (real.all(dim=1)).sum() <= 2  # at most freq_mask whole bands
        assert (real.all(dim=0)).sum() <= 3  # at most time_mask whole frames


def test_mixup_mixes_inputs_and_keeps_the_longer_length():
    x, n = _batch()
    torch.manual_seed(0)
    mixed, lengths, partner, w = mixup(x, n, alpha=0.4)
    assert 0 <= w <= 1
    assert torch.allclose(mixed, w * x + (1 - w) * x[partner])
    assert torch.equal(lengths, torch.maximum(n, n[partner]))
