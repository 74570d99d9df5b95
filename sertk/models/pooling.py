"""Time pooling and statistics pooling (SPEC 2.3 and 2.5; paper 2.3 and 2.5).

Both work in the (B, T, C) layout and ignore padded frames: they never win a max or enter
an average, and the statistics are over the real frames only.
"""
from __future__ import annotations

import torch
from torch import nn

from sertk.models.masking import valid_mask

POOL_TYPES = ("max", "avg")


class TimePooling(nn.Module):
    """``dropout`` (0.2), then ``pool_type`` pooling over time (``"max"``, the default, as the
    paper does not say which, or ``"avg"``) with kernel 2 and stride 2, ceil mode: an odd
    last frame is pooled alone, so a clip gives the same output alone and padded in a batch.

    Shapes: x (B, T, C), lengths (B,) or None -> (B, ceil(T / 2), C) and lengths
    ceil(lengths / 2) or None. Windows with no real frame are zero.
    """

    def __init__(self, pool_type: str = "max", dropout: float = 0.2):
        super().__init__()
        if pool_type not in POOL_TYPES:
            raise ValueError(f"pool_type must be one of {POOL_TYPES}, got {pool_type!r}")
        self.pool_type = pool_type
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None):
        x = self.dropout(x)
        batch, n_frames, channels = x.shape
        mask = (torch.ones(batch, n_frames, dtype=torch.bool, device=x.device)
                if lengths is None else valid_mask(lengths, n_frames))
        if n_frames % 2:  # one padded frame so every window has two slots
            x = nn.functional.pad(x, (0, 0, 0, 1))
            mask = nn.functional.pad(mask, (0, 1), value=False)
        windows = x.reshape(batch, -1, 2, channels)  # (B, ceil(T/2), 2, C)
        real = mask.reshape(batch, -1, 2, 1)
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        if self.pool_type == "max":
            pooled = windows.masked_fill(~real, float("-inf")).amax(dim=2)
        else:
            pooled = torch.where(real, windows, zero).sum(dim=2) / real.sum(dim=2).clamp_min(1)
        pooled = torch.where(real.any(dim=2), pooled, zero)  # no -inf from empty windows
        new_lengths = None if lengths is None else torch.div(lengths + 1, 2, rounding_mode="floor")
        return pooled, new_lengths


class StatisticsPooling(nn.Module):
    """``P = concat(mean_t(Y), std_t(Y))`` over the real frames (paper Eq. 9).

    The standard deviation divides by the number of frames (not n - 1), so a one-frame clip
    is defined; the variance is floored at ``eps`` to keep the square root's gradient finite.

    Shapes: x (B, T, C), lengths (B,) or None -> (B, 2 * C).
    """

    def __init__(self, eps: float = 1e-6):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            mean = x.mean(dim=1)
            var = (x - mean[:, None, :]).square().mean(dim=1)
        else:
            mask = valid_mask(lengths, x.shape[1])[:, :, None]  # (B, T, 1)
            count = lengths.to(x.dtype)[:, None]  # (B, 1)
            zero = torch.zeros((), dtype=x.dtype, device=x.device)
            mean = torch.where(mask, x, zero).sum(dim=1) / count
            var = torch.where(mask, (x - mean[:, None, :]).square(), zero).sum(dim=1) / count
        std = var.clamp_min(self.eps).sqrt()
        return torch.cat([mean, std], dim=1)
