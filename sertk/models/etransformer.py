"""The E-transformer module and the plain transformer block (SPEC 2.4 and 3; paper 2.4).

E-transformer (paper Eq. 5-8)::

    T~  = Conv1d(T)          Conv1d(k=3) -> ReLU -> LayerNorm
    T'  = MHSA(T~)           } one post-norm transformer encoder layer
    T'' = FFN(T')            } (or ``encoder_layers`` of them)
    Y   = Conv1d(T'') + T

The plain transformer block of the ablations is the encoder layer(s) alone,
without the two Conv1d layers and without the outer residual. Attention gets a
key padding mask, so padded frames are never attended to.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from sertk.models.masking import channels_first, channels_last, valid_mask, zero_padding


class ConvLayer(nn.Module):
    """Conv1d ("same" padding, stride 1) -> ReLU -> LayerNorm over channels.

    Args:
        channels: input and output channels (128).
        kernel_size: odd kernel size (3).

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


class EncoderLayer(nn.TransformerEncoderLayer):
    """A post-norm ``nn.TransformerEncoderLayer`` that always computes attention with
    ``scaled_dot_product_attention`` (through ``F.multi_head_attention_forward``, the
    layer's own training path).

    PyTorch's inference "fast path" for this layer computes the same values with separate
    batched matrix products, ~10 % slower for this model on CPU (bench/infer_speed.py).
    Parameters and state-dict keys are the parent's.

    Shapes: src (B, T, d_model), src_key_padding_mask (B, T) or None -> (B, T, d_model).
    """

    def forward(self, src: torch.Tensor, src_mask: torch.Tensor | None = None,
                src_key_padding_mask: torch.Tensor | None = None,
                is_causal: bool = False) -> torch.Tensor:
        x = self.norm1(src + self._sa_block(src, src_mask, src_key_padding_mask, is_causal))
        return self.norm2(x + self._ff_block(x))

    def _sa_block(self, x: torch.Tensor, attn_mask: torch.Tensor | None,
                  key_padding_mask: torch.Tensor | None, is_causal: bool = False) -> torch.Tensor:
        attn = self.self_attn
        h = x.transpose(0, 1)  # (T, B, C), the functional form's layout
        out, _ = F.multi_head_attention_forward(
            h, h, h, attn.embed_dim, attn.num_heads, attn.in_proj_weight, attn.in_proj_bias,
            None, None, False, attn.dropout, attn.out_proj.weight, attn.out_proj.bias,
            training=self.training, key_padding_mask=key_padding_mask, need_weights=False,
            attn_mask=attn_mask, is_causal=is_causal)
        return self.dropout1(out.transpose(0, 1))


def encoder_layers(d_model: int, n_heads: int, ffn_dim: int, dropout: float,
                   n_layers: int) -> nn.ModuleList:
    """``n_layers`` post-norm transformer encoder layers (MHSA and ReLU FFN sub-layers,
    each with a residual and then LayerNorm; paper Fig. 2), inputs (B, T, d_model)."""
    return nn.ModuleList(
        EncoderLayer(d_model, n_heads, dim_feedforward=ffn_dim, dropout=dropout,
                     activation="relu", batch_first=True, norm_first=False)
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
    """The ablations' plain transformer block: encoder layer(s) alone.

    Args: as :class:`ETransformer`, without ``kernel_size``.

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
    """Adds the fixed sine/cosine position signal of "Attention is all you need".

    Off by default (the convolutions carry position); any length works.

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
