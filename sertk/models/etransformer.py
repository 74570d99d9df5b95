"""The E-transformer module and the plain transformer block (SPEC 2.4 and 3; paper 2.4).

E-transformer (paper Eq. 5-8)::

    T~  = Conv1d(T)          Conv1d(k=3) -> ReLU -> LayerNorm
    T'  = MHSA(T~)           } one post-norm transformer encoder layer
    T'' = FFN(T')            } (or ``encoder_layers`` of them)
    Y   = Conv1d(T'') + T

The ablations' plain transformer block is the encoder layer(s) alone, without the two
Conv1d layers and the outer residual. Padded frames are never attended to (key padding mask).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sertk.models.masking import channels_first, channels_last, valid_mask, zero_padding


class ConvLayer(nn.Module):
    """Conv1d ("same" padding, stride 1, odd ``kernel_size``) -> ReLU -> LayerNorm over
    channels.

    Shapes: x (B, T, channels), lengths (B,) or None -> (B, T, channels).
    """

    def __init__(self, channels: int, kernel_size: int = 3):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"'same' padding needs an odd kernel size, got {kernel_size}")
        self.conv = nn.Conv1d(channels, channels, kernel_size, padding=kernel_size // 2)
        self.norm = nn.LayerNorm(channels)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        h = channels_first(zero_padding(x, lengths, time_dim=1))  # (B, C, T)
        h = torch.relu(self.conv(h))
        return self.norm(channels_last(h))  # (B, T, C)


class SelfAttention(nn.Module):
    """Multi-head self-attention computed by ``F.scaled_dot_product_attention`` (as
    whisper's ``MultiHeadAttention``), with ``nn.MultiheadAttention``'s parameters, names,
    shapes and initialisation (so its checkpoints load and a seed gives the same weights):
    ``in_proj_weight`` (3C, C) and ``in_proj_bias`` (3C,), the query, key and value
    projections stacked, and ``out_proj`` Linear(C, C). ``d_model`` C is divisible by
    ``n_heads``; ``dropout`` applies to the attention weights while training.

    Shapes: x (B, T, C), key_padding_mask (B, T) bool (True on padded frames) or None
    -> (B, T, C).
    """

    def __init__(self, d_model: int, n_heads: int, dropout: float = 0.0):
        super().__init__()
        if d_model % n_heads:
            raise ValueError(f"d_model {d_model} is not divisible by n_heads {n_heads}")
        self.n_heads, self.dropout = n_heads, dropout
        self.in_proj_weight = nn.Parameter(torch.empty(3 * d_model, d_model))
        self.in_proj_bias = nn.Parameter(torch.empty(3 * d_model))
        self.out_proj = nn.Linear(d_model, d_model)
        nn.init.xavier_uniform_(self.in_proj_weight)  # nn.MultiheadAttention's order and init
        nn.init.zeros_(self.in_proj_bias)
        nn.init.zeros_(self.out_proj.bias)

    def forward(self, x: torch.Tensor, key_padding_mask: torch.Tensor | None = None
                ) -> torch.Tensor:
        batch, frames, width = x.shape
        qkv = F.linear(x, self.in_proj_weight, self.in_proj_bias)  # (B, T, 3C)
        q, k, v = qkv.view(batch, frames, 3, self.n_heads, -1).permute(2, 0, 3, 1, 4)  # (B, H, T, C/H)
        mask = None
        if key_padding_mask is not None:  # additive: -inf on padded keys, (B, 1, 1, T)
            mask = torch.zeros(key_padding_mask.shape, dtype=x.dtype, device=x.device)
            mask = mask.masked_fill(key_padding_mask, float("-inf"))[:, None, None, :]
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                             dropout_p=self.dropout if self.training else 0.0)
        # time-major like nn.MultiheadAttention's output, so that a dropout after this layer
        # draws the same mask for the same seed (its mask follows the memory layout)
        out = self.out_proj(out.permute(2, 0, 1, 3).reshape(frames, batch, width))
        return out.transpose(0, 1)


class EncoderLayer(nn.Module):
    """A post-norm transformer encoder layer (paper Fig. 2): ``x + MHSA(x)`` -> LayerNorm,
    then ``x + FFN(x)`` -> LayerNorm, FFN = Linear -> ReLU -> dropout -> Linear.

    Parameters, state-dict keys and initialisation are ``nn.TransformerEncoderLayer``'s
    (``self_attn.*``, ``linear1/2``, ``norm1/2``), so its checkpoints load unchanged;
    attention always runs through ``scaled_dot_product_attention`` (PyTorch's inference
    fast path for that layer is ~10 % slower for this model on CPU, bench/infer_speed.py).

    Shapes: src (B, T, d_model), src_key_padding_mask (B, T) bool or None -> (B, T, d_model).
    """

    norm_first = False  # post-norm

    def __init__(self, d_model: int, n_heads: int, dim_feedforward: int, dropout: float):
        super().__init__()
        self.self_attn = SelfAttention(d_model, n_heads, dropout)
        self.linear1 = nn.Linear(d_model, dim_feedforward)
        self.dropout = nn.Dropout(dropout)
        self.linear2 = nn.Linear(dim_feedforward, d_model)
        self.norm1 = nn.LayerNorm(d_model)
        self.norm2 = nn.LayerNorm(d_model)
        self.dropout1 = nn.Dropout(dropout)
        self.dropout2 = nn.Dropout(dropout)

    def forward(self, src: torch.Tensor,
                src_key_padding_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.norm1(src + self.dropout1(self.self_attn(src, src_key_padding_mask)))
        ffn = self.linear2(self.dropout(torch.relu(self.linear1(x))))
        return self.norm2(x + self.dropout2(ffn))


def encoder_layers(d_model: int, n_heads: int, ffn_dim: int, dropout: float,
                   n_layers: int) -> nn.ModuleList:
    """``n_layers`` :class:`EncoderLayer` modules, for inputs (B, T, d_model)."""
    return nn.ModuleList(
        EncoderLayer(d_model, n_heads, dim_feedforward=ffn_dim, dropout=dropout)
        for _ in range(n_layers))


def padding_mask(lengths: torch.Tensor | None, n_frames: int) -> torch.Tensor | None:
    """(B,) lengths -> (B, T) bool key padding mask, True on padded frames."""
    return None if lengths is None else ~valid_mask(lengths, n_frames)


class ETransformer(nn.Module):
    """E-transformer: ``Y = Conv1d(Encoder(Conv1d(T))) + T``.

    Args:
        d_model: width (128).
        n_heads: attention heads (8).
        ffn_dim: encoder FFN width (512).
        dropout: encoder dropout (0.1).
        n_layers: encoder layers between the two Conv1d layers (1).
        kernel_size: Conv1d kernel size (3).

    Shapes: x (B, T, d_model), lengths (B,) or None -> (B, T, d_model).
    """

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float,
                 n_layers: int = 1, kernel_size: int = 3):
        super().__init__()
        self.conv_in = ConvLayer(d_model, kernel_size)
        self.encoder = encoder_layers(d_model, n_heads, ffn_dim, dropout, n_layers)
        self.conv_out = ConvLayer(d_model, kernel_size)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        pad = padding_mask(lengths, x.shape[1])
        h = self.conv_in(x, lengths)  # T~
        for layer in self.encoder:
            h = layer(h, src_key_padding_mask=pad)  # T' = MHSA(T~), T'' = FFN(T')
        return self.conv_out(h, lengths) + x  # Y


class TransformerBlock(nn.Module):
    """The ablations' plain transformer block: encoder layer(s) alone. Arguments as
    :class:`ETransformer`'s, without ``kernel_size``.

    Shapes: x (B, T, d_model), lengths (B,) or None -> (B, T, d_model).
    """

    def __init__(self, d_model: int, n_heads: int, ffn_dim: int, dropout: float,
                 n_layers: int = 1):
        super().__init__()
        self.encoder = encoder_layers(d_model, n_heads, ffn_dim, dropout, n_layers)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        pad = padding_mask(lengths, x.shape[1])
        for layer in self.encoder:
            x = layer(x, src_key_padding_mask=pad)
        return x


class SinusoidalPositionalEncoding(nn.Module):
    """Adds the fixed sine/cosine position signal of "Attention is all you need"; off by
    default (the convolutions carry position); any length works.

    Shapes: x (B, T, d_model) -> (B, T, d_model).
    """

    def __init__(self, d_model: int):
        super().__init__()
        if d_model % 2:
            raise ValueError(f"sinusoidal positions need an even width, got {d_model}")
        freqs = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        self.register_buffer("freqs", freqs, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(x.shape[1], device=x.device, dtype=self.freqs.dtype)
        angles = positions[:, None] * self.freqs[None, :]  # (T, d_model / 2)
        signal = torch.stack([angles.sin(), angles.cos()], dim=-1).flatten(1)  # (T, d_model)
        return x + signal.to(x.dtype)[None]
