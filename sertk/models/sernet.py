"""The network of the paper (Fig. 1) and every ablation of Table 2, from one config.

:class:`SERNetConfig` is a flat dataclass of plain values (it round-trips through
JSON and is saved next to the weights); :class:`SERNet` builds the blocks it
names. The proposed system reads, in ``forward_features``::

    3-Conv -> 2 x residual-BLSTM -> time pooling -> 3 x E-transformer -> stats pooling

and ``forward_head`` maps the 256-d embedding to class logits (SPEC 2).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from sertk.audio import N_MELS
from sertk.models.blocks import PlainBLSTM, ResidualBLSTM, ThreeConv
from sertk.models.etransformer import ETransformer, SinusoidalPositionalEncoding, TransformerBlock
from sertk.models.masking import channels_last, check_lengths, drop_unpadded
from sertk.models.pooling import POOL_TYPES, StatisticsPooling, TimePooling

BLSTM_TYPES = ("residual", "plain")
TRANSFORMER_TYPES = ("etransformer", "plain", "none")
POSITIONAL_ENCODINGS = ("none", "sinusoidal")


@dataclass(frozen=True)
class SERNetConfig:
    """Every number of the network; defaults are the paper's proposed system (SPEC 2).

    ``hidden`` is the conv channels, the BLSTM units per direction and d_model
    (128); the embedding is ``2 * hidden`` (256). ``blstm``: ``"residual"``
    (H = FFN(BLSTM(X)) + X) or ``"plain"`` (BLSTM then Linear). ``transformer``:
    ``"etransformer"``, ``"plain"`` (encoder layers only) or ``"none"``.
    """

    n_classes: int = 4
    n_mels: int = N_MELS
    hidden: int = 128
    conv_front: bool = True
    conv_kernel_sizes: tuple[int, int, int] = (5, 3, 3)
    blstm: str = "residual"
    n_blstm: int = 2
    blstm_ffn_dim: int = 512
    blstm_dropout: float = 0.2
    time_pooling: bool = True
    pool_type: str = "max"
    pool_dropout: float = 0.2
    transformer: str = "etransformer"
    n_transformer: int = 3
    encoder_layers: int = 1
    n_heads: int = 8
    transformer_ffn_dim: int = 512
    transformer_dropout: float = 0.1
    transformer_kernel_size: int = 3
    positional_encoding: str = "none"

    def __post_init__(self):
        object.__setattr__(self, "conv_kernel_sizes", tuple(self.conv_kernel_sizes))
        _check_choice("blstm", self.blstm, BLSTM_TYPES)
        _check_choice("pool_type", self.pool_type, POOL_TYPES)
        _check_choice("transformer", self.transformer, TRANSFORMER_TYPES)
        _check_choice("positional_encoding", self.positional_encoding, POSITIONAL_ENCODINGS)
        for name in ("n_classes", "n_mels", "hidden", "n_blstm", "blstm_ffn_dim",
                     "n_transformer", "encoder_layers", "n_heads", "transformer_ffn_dim"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"SERNetConfig.{name} must be a positive integer, got {value!r}")
        for name in ("blstm_dropout", "pool_dropout", "transformer_dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"SERNetConfig.{name} must lie in [0, 1), got {value}")
        if len(self.conv_kernel_sizes) != 3:
            raise ValueError(f"conv_kernel_sizes needs 3 sizes, got {self.conv_kernel_sizes}")
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} is not divisible by n_heads={self.n_heads}")
        if self.blstm == "residual" and not self.conv_front and self.n_mels != self.hidden:
            raise ValueError("a residual-BLSTM first block needs n_mels == hidden "
                             "(use the conv front or blstm='plain')")
        if self.positional_encoding != "none" and self.transformer == "none":
            raise ValueError("positional_encoding needs a transformer (transformer='none')")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the kernel-size tuple becomes a list)."""
        data = asdict(self)
        data["conv_kernel_sizes"] = list(self.conv_kernel_sizes)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SERNetConfig":
        """Inverse of :meth:`to_dict`. Unknown keys are refused; missing keys take defaults."""
        if not isinstance(data, dict):
            raise ValueError(f"SERNetConfig.from_dict expects a dict, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown SERNetConfig keys {unknown}; known keys are {known}")
        return cls(**data)


def _check_choice(name: str, value: str, choices: tuple[str, ...]):
    if value not in choices:
        raise ValueError(f"SERNetConfig.{name} must be one of {choices}, got {value!r}")


class SERNet(nn.Module):
    """The proposed network and its ablations, built from ``config``.

    Shapes:
        x: (B, n_mels, T) log-mel features, T >= 1.
        lengths: optional (B,) int64 real frames per row, 1 <= lengths <= T;
            padded frames never change the result.
        forward -> logits (B, n_classes); forward_features -> (B, 2 * hidden).

    Example:
        >>> model = SERNet(SERNetConfig(n_classes=4)).eval()
        >>> tuple(model(torch.randn(2, 40, 101), torch.tensor([101, 57])).shape)
        (2, 4)
    """

    def __init__(self, config: SERNetConfig):
        super().__init__()
        self.config = c = config
        width = c.hidden
        self.conv = ThreeConv(c.n_mels, width, c.conv_kernel_sizes) if c.conv_front else None
        first_in = width if c.conv_front else c.n_mels
        if c.blstm == "residual":
            blocks = [ResidualBLSTM(width, c.blstm_ffn_dim, c.blstm_dropout)
                      for _ in range(c.n_blstm)]
        else:
            blocks = [PlainBLSTM(first_in if i == 0 else width, width, c.blstm_dropout)
                      for i in range(c.n_blstm)]
        self.blstm = nn.ModuleList(blocks)
        self.pool = TimePooling(c.pool_type, c.pool_dropout) if c.time_pooling else None
        self.position = (SinusoidalPositionalEncoding(width)
                         if c.positional_encoding == "sinusoidal" else None)
        self.transformer = nn.ModuleList(self._transformer_block() for _ in range(
            0 if c.transformer == "none" else c.n_transformer))
        self.stats = StatisticsPooling()
        self.head = nn.Linear(2 * width, c.n_classes)

    def _transformer_block(self) -> nn.Module:
        c = self.config
        if c.transformer == "etransformer":
            return ETransformer(c.hidden, c.n_heads, c.transformer_ffn_dim, c.transformer_dropout,
                                c.encoder_layers, c.transformer_kernel_size)
        return TransformerBlock(c.hidden, c.n_heads, c.transformer_ffn_dim,
                                c.transformer_dropout, c.encoder_layers)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_mels, T), lengths (B,) or None -> logits (B, n_classes).

        conv, residual-BLSTM, pool, E-transformer, stats pool (``forward_features``),
        then the head (``forward_head``).
        """
        return self.forward_head(self.forward_features(x, lengths))

    def forward_features(self, x: torch.Tensor,
                         lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_mels, T), lengths (B,) or None -> pooled embedding (B, 2 * hidden)."""
        lengths = drop_unpadded(self._check_inputs(x, lengths), x.shape[2])  # no padding: no masks
        h = x  # (B, n_mels, T)
        if self.conv is not None:
            h = self.conv(h, lengths)  # 3-Conv: (B, hidden, T)
        h = channels_last(h)  # (B, T, C)
        for block in self.blstm:
            h = block(h, lengths)  # residual-BLSTM: (B, T, hidden)
        if self.pool is not None:
            h, lengths = self.pool(h, lengths)  # time pooling: (B, ceil(T/2), hidden)
        if self.position is not None:
            h = self.position(h)
        for block in self.transformer:
            h = block(h, lengths)  # E-transformer: (B, T', hidden)
        return self.stats(h, lengths)  # statistics pooling: (B, 2 * hidden)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 2 * hidden) -> logits (B, n_classes); softmax lives in the loss."""
        return self.head(embedding)

    def _check_inputs(self, x: torch.Tensor, lengths: torch.Tensor | None):
        if x.dim() != 3 or x.shape[1] != self.config.n_mels or x.shape[2] < 1:
            raise ValueError(f"expected features of shape (B, {self.config.n_mels}, T>=1), "
                             f"got {tuple(x.shape)}")
        return check_lengths(lengths, x.shape[0], x.shape[2], x.device)
