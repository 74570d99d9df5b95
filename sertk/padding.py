"""How clips of different lengths become one batch, and whether the model gets their lengths.

The one home of the padding modes (SPEC section 1), for training, inference and export:
``"fixed"`` (the paper) pads every clip to ``max_frames`` and the model sees it whole;
``"batch"`` pads to the longest clip of the batch and the model gets the frame lengths, so
it masks the padding. Saved as ``FeatureConfig.padding``; not in the feature-cache key.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch

PADDING_MODES = ("fixed", "batch")


@dataclass(frozen=True)
class Padding:
    """One padding mode; any other ``mode`` raises ``ValueError`` naming the modes."""

    mode: str = "fixed"

    def __post_init__(self):
        if self.mode not in PADDING_MODES:
            raise ValueError(f"padding must be one of {PADDING_MODES}, got {self.mode!r}")

    @property
    def gives_lengths(self) -> bool:
        """Whether the model is given each clip's real frames (and masks the rest)."""
        return self.mode == "batch"

    def model_lengths(self, lengths: torch.Tensor | None) -> torch.Tensor | None:
        """The (B,) ``lengths`` if the model gets them, else None."""
        return lengths if self.gives_lengths else None

    def pad(self, features: Sequence[torch.Tensor], max_frames: int, pad_value: torch.Tensor
            ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(n_mels, T_i) clips, each cut at ``max_frames`` -> the batch (B, n_mels, T) padded
        with ``pad_value`` (n_mels,), T = ``max_frames`` (fixed) or the longest clip (batch),
        and the model's lengths (:meth:`model_lengths` of the (B,) int64 real frames)."""
        lengths = torch.tensor([min(f.shape[1], max_frames) for f in features], dtype=torch.long)
        frames = int(lengths.max()) if self.gives_lengths else max_frames
        return pad_features(features, frames, pad_value), self.model_lengths(lengths)


def pad_features(features: Sequence[torch.Tensor], frames: int,
                 pad_value: torch.Tensor) -> torch.Tensor:
    """Stack (n_mels, T_i) tensors into (B, n_mels, frames), padding with ``pad_value`` (n_mels,)."""
    out = pad_value[None, :, None].expand(len(features), -1, frames).clone()
    for row, feat in enumerate(features):
        t = min(feat.shape[1], frames)
        out[row, :, :t] = feat[:, :t]
    return out
