"""The network of the paper (Fig. 1) and every ablation of Table 2, from one config.

:class:`SERNetConfig` is a flat dataclass of plain values (saved as JSON next to the
weights); :class:`SERNet` builds the blocks it names. The proposed system reads, in
``forward_features``::

    3-Conv -> 2 x residual-BLSTM -> time pooling -> 3 x E-transformer -> stats pooling

and ``forward_head`` maps the 256-d embedding to class logits (SPEC 2). With ``n_dims`` > 0
a second head, ``forward_dimensions``, maps the same embedding to dimensional ratings
(arousal, valence, dominance; multi-task training, :mod:`sertk.train.module`).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
from torch import nn

from sertk.audio import N_MELS
from sertk.configfields import bounded, check_fields
from sertk.models.blocks import PlainBLSTM, ResidualBLSTM, ThreeConv
from sertk.models.etransformer import ETransformer, SinusoidalPositionalEncoding, TransformerBlock
from sertk.models.masking import channels_last, check_lengths, drop_unpadded
from sertk.models.pooling import POOL_TYPES, StatisticsPooling, TimePooling

BLSTM_TYPES = ("residual", "plain")
TRANSFORMER_TYPES = ("etransformer", "plain", "none")
POSITIONAL_ENCODINGS = ("none", "sinusoidal")
# Bounds of a SERNetConfig (a checkpoint's JSON is not trusted): each field's range keeps
# counting cheap; MAX_PARAMETERS (400 MB of float32) bounds what a config may build.
MAX_CLASSES = 1_000
MAX_N_MELS = 512
MAX_WIDTH = 65_536
MAX_BLOCKS = 64
MAX_KERNEL = 63
MAX_PARAMETERS = 100_000_000
MAX_DIMS = 3  # arousal, valence, dominance (sertk.data.manifest.DIMENSIONS)


@dataclass(frozen=True)
class SERNetConfig:
    """Every number of the network; defaults are the paper's proposed system (SPEC 2).

    ``hidden`` is the conv channels, the BLSTM units per direction and d_model (128); the
    embedding is ``2 * hidden`` (256). ``blstm``: ``"residual"`` (H = FFN(BLSTM(X)) + X) or
    ``"plain"`` (BLSTM then Linear). ``transformer``: ``"etransformer"``, ``"plain"`` (encoder
    layers only) or ``"none"``. ``n_dims``: outputs of the dimensional regression head (0:
    none, the paper's network).
    """

    n_classes: int = bounded(4, 1, MAX_CLASSES)
    n_mels: int = bounded(N_MELS, 1, MAX_N_MELS)
    hidden: int = bounded(128, 1, MAX_WIDTH)
    conv_front: bool = True
    conv_kernel_sizes: tuple[int, int, int] = bounded((5, 3, 3), 1, MAX_KERNEL)
    blstm: str = "residual"
    n_blstm: int = bounded(2, 1, MAX_BLOCKS)
    blstm_ffn_dim: int = bounded(512, 1, MAX_WIDTH)
    blstm_dropout: float = bounded(0.2, 0.0, 1.0, high_open=True)
    time_pooling: bool = True
    pool_type: str = "max"
    pool_dropout: float = bounded(0.2, 0.0, 1.0, high_open=True)
    transformer: str = "etransformer"
    n_transformer: int = bounded(3, 1, MAX_BLOCKS)
    encoder_layers: int = bounded(1, 1, MAX_BLOCKS)
    n_heads: int = bounded(8, 1, MAX_WIDTH)
    transformer_ffn_dim: int = bounded(512, 1, MAX_WIDTH)
    transformer_dropout: float = bounded(0.1, 0.0, 1.0, high_open=True)
    transformer_kernel_size: int = bounded(3, 1, MAX_KERNEL)
    positional_encoding: str = "none"
    n_dims: int = bounded(0, 0, MAX_DIMS)

    def __post_init__(self):
        check_fields(self)  # types, finite numbers, ranges (before anything else looks at them)
        _check_choice("blstm", self.blstm, BLSTM_TYPES)
        _check_choice("pool_type", self.pool_type, POOL_TYPES)
        _check_choice("transformer", self.transformer, TRANSFORMER_TYPES)
        _check_choice("positional_encoding", self.positional_encoding, POSITIONAL_ENCODINGS)
        for name, size in [("conv_kernel_sizes", k) for k in self.conv_kernel_sizes] + [
                ("transformer_kernel_size", self.transformer_kernel_size)]:
            if size % 2 != 1:
                raise ValueError(f"SERNetConfig.{name} must be odd ('same' padding), got {size}")
        if self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} is not divisible by n_heads={self.n_heads}")
        if self.blstm == "residual" and not self.conv_front and self.n_mels != self.hidden:
            raise ValueError("a residual-BLSTM first block needs n_mels == hidden "
                             "(use the conv front or blstm='plain')")
        if self.positional_encoding != "none" and self.transformer == "none":
            raise ValueError("positional_encoding needs a transformer (transformer='none')")
        params = self.parameter_count()
        if params > MAX_PARAMETERS:
            raise ValueError(f"this SERNetConfig needs {params:,} parameters, more than the "
                             f"{MAX_PARAMETERS:,} sertk builds (hidden={self.hidden}, "
                             f"n_blstm={self.n_blstm}, n_transformer={self.n_transformer}, "
                             f"encoder_layers={self.encoder_layers})")

    def parameter_count(self) -> int:
        """Parameters of ``SERNet(self)``, counted without allocating: one block of each kind
        is built on the ``meta`` device and repeated blocks are multiplied."""
        with torch.device("meta"):
            total = _count(build_head(self))
            if self.n_dims:
                total += _count(build_dimension_head(self))
            if self.conv_front:
                total += _count(build_conv(self))
            total += sum(_count(build_blstm_block(self, i)) * repeats
                         for i, repeats in _distinct_blstm_blocks(self))
            if self.transformer != "none":
                total += _count(build_transformer_block(self)) * self.n_transformer
            if self.time_pooling:
                total += _count(build_pool(self))
            if self.positional_encoding == "sinusoidal":
                total += _count(build_position(self))
        return total

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON values (the kernel-size tuple becomes a list; ``n_dims`` only when set,
        so a categorical model's config is what it was before dimensions existed)."""
        data = asdict(self)
        data["conv_kernel_sizes"] = list(self.conv_kernel_sizes)
        if not self.n_dims:
            del data["n_dims"]
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


# The blocks of a SERNet, one builder each: used by SERNet and by
# SERNetConfig.parameter_count (which builds one of each on the meta device).

def build_conv(c: SERNetConfig) -> nn.Module:
    return ThreeConv(c.n_mels, c.hidden, c.conv_kernel_sizes)


def build_blstm_block(c: SERNetConfig, index: int) -> nn.Module:
    """BLSTM block ``index`` (from 0): residual blocks are all alike; a plain first block
    without the conv front reads the mel bands."""
    if c.blstm == "residual":
        return ResidualBLSTM(c.hidden, c.blstm_ffn_dim, c.blstm_dropout)
    first_in = c.hidden if c.conv_front else c.n_mels
    return PlainBLSTM(first_in if index == 0 else c.hidden, c.hidden, c.blstm_dropout)


def _distinct_blstm_blocks(c: SERNetConfig) -> list[tuple[int, int]]:
    """(index of a representative block, how many blocks are like it)."""
    return [(0, 1)] + ([(1, c.n_blstm - 1)] if c.n_blstm > 1 else [])


def build_pool(c: SERNetConfig) -> nn.Module:
    return TimePooling(c.pool_type, c.pool_dropout)


def build_position(c: SERNetConfig) -> nn.Module:
    return SinusoidalPositionalEncoding(c.hidden)


def build_transformer_block(c: SERNetConfig) -> nn.Module:
    if c.transformer == "etransformer":
        return ETransformer(c.hidden, c.n_heads, c.transformer_ffn_dim, c.transformer_dropout,
                            c.encoder_layers, c.transformer_kernel_size)
    return TransformerBlock(c.hidden, c.n_heads, c.transformer_ffn_dim, c.transformer_dropout,
                            c.encoder_layers)


def build_head(c: SERNetConfig) -> nn.Module:
    return nn.Linear(2 * c.hidden, c.n_classes)


def build_dimension_head(c: SERNetConfig) -> nn.Module:
    return nn.Linear(2 * c.hidden, c.n_dims)


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


class SERNet(nn.Module):
    """The proposed network and its ablations, built from ``config``.

    Shapes:
        x: (B, n_mels, T) log-mel features, T >= 1.
        lengths: optional (B,) int64 real frames per row, 1 <= lengths <= T;
            padded frames never change the result.
        forward -> logits (B, n_classes); forward_features -> (B, 2 * hidden);
        forward_dimensions (with ``n_dims`` > 0) -> (B, n_dims).

    Example:
        >>> model = SERNet(SERNetConfig(n_classes=4)).eval()
        >>> tuple(model(torch.randn(2, 40, 101), torch.tensor([101, 57])).shape)
        (2, 4)
    """

    def __init__(self, config: SERNetConfig):
        super().__init__()
        self.config = c = config
        self.conv = build_conv(c) if c.conv_front else None
        self.blstm = nn.ModuleList(build_blstm_block(c, i) for i in range(c.n_blstm))
        self.pool = build_pool(c) if c.time_pooling else None
        self.position = build_position(c) if c.positional_encoding == "sinusoidal" else None
        self.transformer = nn.ModuleList(build_transformer_block(c) for _ in range(
            0 if c.transformer == "none" else c.n_transformer))
        self.stats = StatisticsPooling()
        self.head = build_head(c)
        self.dimension_head = build_dimension_head(c) if c.n_dims else None

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_mels, T), lengths (B,) or None -> logits (B, n_classes):
        :meth:`forward_features`, then :meth:`forward_head`."""
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

    def forward_dimensions(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 2 * hidden) -> dimensional ratings (B, n_dims), on the training targets'
        standardised scale (the checkpoint's ``dimensions`` scaling undoes it)."""
        if self.dimension_head is None:
            raise ValueError("this model has no dimension head (n_dims=0)")
        return self.dimension_head(embedding)

    def forward_outputs(self, x: torch.Tensor, lengths: torch.Tensor | None = None
                        ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, n_mels, T), lengths -> (logits (B, n_classes), ratings (B, n_dims) or None
        without a dimension head), from one pass through the network."""
        embedding = self.forward_features(x, lengths)
        dims = self.forward_dimensions(embedding) if self.dimension_head is not None else None
        return self.forward_head(embedding), dims

    def _check_inputs(self, x: torch.Tensor, lengths: torch.Tensor | None):
        if x.dim() != 3 or x.shape[1] != self.config.n_mels or x.shape[2] < 1:
            raise ValueError(f"expected features of shape (B, {self.config.n_mels}, T>=1), "
                             f"got {tuple(x.shape)}")
        return check_lengths(lengths, x.shape[0], x.shape[2], x.device)
