"""Convolution and BLSTM blocks of the model (SPEC sections 2.1, 2.2 and 3; paper 2.1-2.2):
:class:`ThreeConv`, :class:`ResidualBLSTM` (paper Eq. 1-3) and the ablations' :class:`PlainBLSTM`.

Each block takes optional ``lengths`` (B,) and keeps padded frames out of its results:
convolutions see zeros past the end of every clip, batch-norm statistics use real frames
only, and the BLSTM runs each direction densely with the padding after the real frames
(:mod:`sertk.models.varlen_lstm`, exact and without packing).
"""
from __future__ import annotations

import torch
from torch import nn

from sertk.models.masking import valid_mask, zero_padding
from sertk.models.varlen_lstm import bidirectional_lstm


class MaskedBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d whose training statistics come from real frames only.

    With ``lengths`` in training mode the batch mean/variance (and the running estimates)
    are computed over the valid frames; otherwise it is exactly ``nn.BatchNorm1d`` (same
    parameters and buffers, so state dicts match).

    Shapes: x (B, C, T), lengths (B,) or None -> (B, C, T).
    """

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if not self.training or lengths is None:
            return super().forward(x)
        mask = valid_mask(lengths, x.shape[2])[:, None, :]  # (B, 1, T)
        count = mask.sum()
        zero = torch.zeros((), dtype=x.dtype, device=x.device)
        mean = torch.where(mask, x, zero).sum(dim=(0, 2)) / count  # (C,)
        centred = x - mean[None, :, None]
        var = torch.where(mask, centred.square(), zero).sum(dim=(0, 2)) / count
        if self.track_running_stats and self.running_mean is not None:
            self._update_running_stats(mean.detach(), var.detach(), count)
        y = centred / torch.sqrt(var[None, :, None] + self.eps)
        if self.affine:
            y = y * self.weight[None, :, None] + self.bias[None, :, None]
        return y

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, var: torch.Tensor, count: torch.Tensor):
        self.num_batches_tracked += 1
        momentum = (1.0 / float(self.num_batches_tracked) if self.momentum is None
                    else self.momentum)
        unbiased = var * count / (count - 1).clamp_min(1)  # as nn.BatchNorm1d stores it
        # under autocast (bf16/fp16 mixed precision) the batch statistics are half precision
        self.running_mean.lerp_(mean.to(self.running_mean.dtype), momentum)
        self.running_var.lerp_(unbiased.to(self.running_var.dtype), momentum)


class ConvBNReLU(nn.Module):
    """Conv1d ("same" padding, stride 1, odd ``kernel_size``) -> BatchNorm1d -> ReLU.

    Shapes: x (B, in_channels, T), lengths (B,) or None -> (B, out_channels, T).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"'same' padding needs an odd kernel size, got {kernel_size}")
        self.conv = nn.Conv1d(in_channels, out_channels, kernel_size, padding=kernel_size // 2)
        self.norm = MaskedBatchNorm1d(out_channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        x = zero_padding(x, lengths, time_dim=2)
        return torch.relu(self.norm(self.conv(x), lengths))


class ThreeConv(nn.Module):
    """The 3-Conv-layers module: ``out = block3(h2) + h2``, ``h2 = block2(block1(x))``.

    The first block changes ``in_channels`` -> ``channels``, so the residual spans the last
    block only (SPEC 2.1).

    Args:
        in_channels: input features (40 mel bands).
        channels: output channels of every block (128).
        kernel_sizes: the three kernel sizes, (5, 3, 3).

    Shapes: x (B, in_channels, T), lengths (B,) or None -> (B, channels, T).
    """

    def __init__(self, in_channels: int, channels: int, kernel_sizes: tuple[int, int, int]):
        super().__init__()
        if len(kernel_sizes) != 3:
            raise ValueError(f"ThreeConv needs three kernel sizes, got {tuple(kernel_sizes)}")
        k1, k2, k3 = kernel_sizes
        self.block1 = ConvBNReLU(in_channels, channels, k1)
        self.block2 = ConvBNReLU(channels, channels, k2)
        self.block3 = ConvBNReLU(channels, channels, k3)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h2 = self.block2(self.block1(x, lengths), lengths)
        return self.block3(h2, lengths) + h2


class BLSTM(nn.Module):
    """Bidirectional LSTM, exact on variable lengths (no packing), then dropout.

    Args:
        input_size: input features per frame.
        hidden_size: units per direction (output is ``2 * hidden_size``).
        dropout: dropout on the output.

    Shapes: x (B, T, input_size), lengths (B,) or None -> (B, T, 2 * hidden_size),
    zero on padded frames when lengths are given.
    """

    def __init__(self, input_size: int, hidden_size: int, dropout: float):
        super().__init__()
        self.lstm = nn.LSTM(input_size, hidden_size, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None:
            out, _ = self.lstm(x)
        else:
            out = bidirectional_lstm(self.lstm, x, lengths)
        return self.dropout(out)


class FeedForward(nn.Module):
    """``max(0, x W1 + b1) W2 + b2`` (paper Eq. 3): (..., in_features) -> (..., out_features)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int):
        super().__init__()
        self.linear1 = nn.Linear(in_features, hidden_features)
        self.linear2 = nn.Linear(hidden_features, out_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # ReLU in place: one activation-sized buffer less (~7 % of inference on CPU)
        return self.linear2(torch.relu_(self.linear1(x)))


class ResidualBLSTM(nn.Module):
    """Residual-BLSTM: ``H = FFN(BLSTM(X)) + X`` (paper Eq. 1).

    Args:
        size: input and output width, also the BLSTM units per direction (128).
        ffn_dim: FFN middle width (512); the FFN maps 2 * size -> ffn_dim -> size.
        dropout: dropout on the BLSTM output (0.2).

    Shapes: x (B, T, size), lengths (B,) or None -> (B, T, size).
    """

    def __init__(self, size: int, ffn_dim: int, dropout: float):
        super().__init__()
        self.blstm = BLSTM(size, size, dropout)
        self.ffn = FeedForward(2 * size, ffn_dim, size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.ffn(self.blstm(x, lengths)) + x


class PlainBLSTM(nn.Module):
    """The ablations' plain BLSTM block: BLSTM then Linear (256 -> 128), no FFN and no
    residual (SPEC 3).

    Args:
        input_size: input width (128, or 40 mel bands for base7's first block).
        size: BLSTM units per direction and output width (128).
        dropout: dropout on the BLSTM output (0.2).

    Shapes: x (B, T, input_size), lengths (B,) or None -> (B, T, size).
    """

    def __init__(self, input_size: int, size: int, dropout: float):
        super().__init__()
        self.blstm = BLSTM(input_size, size, dropout)
        self.proj = nn.Linear(2 * size, size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.proj(self.blstm(x, lengths))
