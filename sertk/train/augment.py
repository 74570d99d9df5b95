"""Batch augmentation on normalised log-mel features (all off by default; SPEC section 4).

Everything works on whole padded batches (B, n_mels, T) with real-frame ``lengths`` (B,),
with torch ops on the training device, drawing from torch's global generator (which the
training loop reseeds at every epoch start, so an epoch's augmentation replays exactly after
a resume). Padded frames keep the padding value. Perturbations act on the features, which
already live in memory:

- **gain** of g dB (g uniform in [-gain_db, gain_db]) multiplies the power by 10^(g/10), i.e.
  adds ``g * ln(10) / 10`` to every log-mel value (exact up to the 1e-6 log offset); in
  normalised units that is divided by each band's std. Real frames only.
- **speed** with factor r (uniform in [1 - s, 1 + s]) resamples the time axis by linear
  interpolation: output frame t reads input frame ``t * r``, so the clip lasts ``len / r``
  frames (a tempo change; unlike waveform speed perturbation it keeps the pitch).
- **SpecAugment** (Park et al. 2019): ``n_freq_masks`` bands of width U[0, freq_mask] and
  ``n_time_masks`` spans of width U[0, time_mask] of the real frames are set to 0, the
  normalised mean (padded frames are left alone).
- **mixup** (Zhang et al. 2018) is applied in the training step (it mixes targets too).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Annotated

import torch
from pydantic import Field
from torch import nn


@dataclass(frozen=True)
class AugmentOptions:
    """Which augmentations to apply (the defaults: none); the ``Field`` ranges are checked
    when a recipe is read (:mod:`sertk.train.config`)."""

    spec_augment: bool = False
    freq_mask: Annotated[int, Field(ge=0)] = 8
    time_mask: Annotated[int, Field(ge=0)] = 20
    n_freq_masks: Annotated[int, Field(ge=0)] = 2
    n_time_masks: Annotated[int, Field(ge=0)] = 2
    speed_perturb: Annotated[float, Field(ge=0, lt=0.5)] = 0.0
    gain_perturb_db: Annotated[float, Field(ge=0)] = 0.0

    @property
    def active(self) -> bool:
        return self.spec_augment or self.speed_perturb > 0 or self.gain_perturb_db > 0


class FeatureAugment(nn.Module):
    """Gain, speed and SpecAugment on a normalised training batch.

    Args:
        options: what to apply.
        norm_std: (n_mels,) the normaliser's std (turns a dB gain into normalised units).
        pad_value: (n_mels,) value of a padded frame.
        max_frames: longest allowed clip (a slowed-down clip is cut there).

    Shapes: x (B, n_mels, T), lengths (B,) -> x (B, n_mels, T'), lengths (B,); T' = T
    except that speed perturbation may grow the batch up to ``max_frames``.
    """

    def __init__(self, options: AugmentOptions, norm_std, pad_value: torch.Tensor,
                 max_frames: int):
        super().__init__()
        self.options = options
        self.max_frames = int(max_frames)
        std = torch.as_tensor(norm_std, dtype=torch.float32).clamp_min(1e-5)
        self.register_buffer("gain_scale", (math.log(10.0) / 10.0) / std, persistent=False)
        self.register_buffer("pad_value", torch.as_tensor(pad_value, dtype=torch.float32),
                             persistent=False)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor):
        o = self.options
        if o.gain_perturb_db > 0:
            x = self.gain(x, lengths, o.gain_perturb_db)
        if o.speed_perturb > 0:
            x, lengths = self.speed(x, lengths, o.speed_perturb)
        if o.spec_augment:
            x = self.spec_augment(x, lengths)
        return x, lengths

    def gain(self, x: torch.Tensor, lengths: torch.Tensor, max_db: float) -> torch.Tensor:
        db = (torch.rand(x.shape[0], device=x.device) * 2 - 1) * max_db  # (B,)
        shift = db[:, None, None] * self.gain_scale[None, :, None]  # (B, n_mels, 1)
        return torch.where(_frame_mask(lengths, x.shape[2])[:, None, :], x + shift, x)

    def speed(self, x: torch.Tensor, lengths: torch.Tensor, spread: float):
        batch, _, frames = x.shape
        rate = 1.0 + (torch.rand(batch, device=x.device) * 2 - 1) * spread  # (B,)
        new_lengths = torch.ceil(lengths / rate).long().clamp(1, self.max_frames)
        out_frames = frames if frames >= self.max_frames else max(
            frames, min(self.max_frames, int(new_lengths.max())))
        new_lengths = new_lengths.clamp(max=out_frames)
        t = torch.arange(out_frames, device=x.device, dtype=torch.float32)
        pos = t[None, :] * rate[:, None]  # (B, T') source positions
        last = (lengths - 1).clamp(min=0)[:, None].float()
        pos = torch.minimum(pos, last)
        i0 = pos.floor().long()
        i1 = torch.minimum(i0 + 1, last.long())
        w = (pos - i0.float())[:, None, :]  # (B, 1, T')
        n_mels = x.shape[1]
        g0 = x.gather(2, i0[:, None, :].expand(-1, n_mels, -1))
        g1 = x.gather(2, i1[:, None, :].expand(-1, n_mels, -1))
        out = g0 * (1 - w) + g1 * w
        valid = _frame_mask(new_lengths, out_frames)[:, None, :]
        return torch.where(valid, out, self.pad_value[None, :, None].to(out.dtype)), new_lengths

    def spec_augment(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        o = self.options
        batch, n_mels, frames = x.shape
        real = _frame_mask(lengths, frames)[:, None, :]  # (B, 1, T)
        keep = torch.ones(batch, n_mels, frames, dtype=torch.bool, device=x.device)
        bands = torch.arange(n_mels, device=x.device)[None, :]
        for _ in range(o.n_freq_masks):
            width = torch.randint(0, o.freq_mask + 1, (batch, 1), device=x.device)
            start = (torch.rand(batch, 1, device=x.device) * (n_mels - width + 1)).long()
            keep &= ~(((bands >= start) & (bands < start + width))[:, :, None] & real)
        steps = torch.arange(frames, device=x.device)[None, :]
        for _ in range(o.n_time_masks):
            width = torch.minimum(torch.randint(0, o.time_mask + 1, (batch, 1), device=x.device),
                                  lengths[:, None])
            start = (torch.rand(batch, 1, device=x.device) * (lengths[:, None] - width + 1)).long()
            keep &= ~((steps >= start) & (steps < start + width))[:, None, :]
        return torch.where(keep, x, torch.zeros((), dtype=x.dtype, device=x.device))


def mixup(x: torch.Tensor, lengths: torch.Tensor, alpha: float):
    """Mix each clip with another of the batch: returns (x, lengths, partner index, weight).

    ``weight`` ~ Beta(alpha, alpha) (one per batch); the loss is
    ``weight * CE(y) + (1 - weight) * CE(y[partner])``.
    """
    weight = float(torch.distributions.Beta(alpha, alpha).sample())
    partner = torch.randperm(x.shape[0], device=x.device)
    mixed = weight * x + (1 - weight) * x[partner]
    return mixed, torch.maximum(lengths, lengths[partner]), partner, weight


def _frame_mask(lengths: torch.Tensor, frames: int) -> torch.Tensor:
    """(B,) lengths -> (B, T) True on real frames."""
    return torch.arange(frames, device=lengths.device)[None, :] < lengths[:, None]
