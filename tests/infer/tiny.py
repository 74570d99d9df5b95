"""Tiny randomly initialised checkpoints and audio files for the inference and export tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sertk.data.manifest import DIMENSIONS
from sertk.features import FeatureConfig
from sertk.models import create_model, save_checkpoint
from sertk.models.dimensions import DimensionScaling

LABELS = ["anger", "boredom", "happiness", "neutral", "sadness"]
TINY = dict(hidden=16, n_heads=2, n_blstm=1, blstm_ffn_dim=32, n_transformer=1,
            transformer_ffn_dim=32)


def make_checkpoint(path: Path, padding: str = "fixed", seed: int = 0, **overrides) -> Path:
    """A small ``proposed`` model saved with ``save_checkpoint``.

    The classifier weights are scaled up so that probabilities are far from uniform and
    differences between two implementations show. ``n_dims`` (an override) adds a
    dimension head for the first ``n_dims`` of arousal, valence, dominance (scaled as
    ratings of mean 3, std 0.5).
    """
    torch.manual_seed(seed)
    model = create_model("proposed", len(LABELS), **{**TINY, **overrides}).eval()
    with torch.no_grad():
        model.head.weight.mul_(20.0)
    rng = np.random.default_rng(seed)
    mean = rng.uniform(-8, -3, 40).astype(np.float32)
    std = rng.uniform(1.5, 3.0, 40).astype(np.float32)
    return save_checkpoint(path, model, model_name="proposed", labels=LABELS,
                           feature_config=FeatureConfig(padding=padding), norm_mean=mean,
                           norm_std=std, metadata={"test": True},
                           dimensions=_scaling(overrides.get("n_dims", 0)))


def _scaling(n_dims: int) -> DimensionScaling | None:
    return DimensionScaling(DIMENSIONS[:n_dims], (3.0,) * n_dims, (0.5,) * n_dims) \
        if n_dims else None


def assert_label_changes_only_on_near_ties(reference: np.ndarray, other: np.ndarray,
                                           margin: float) -> None:
    """Where ``other`` (N, C) probabilities pick another label than ``reference``'s, the
    reference's two best probabilities were within ``margin`` of each other (a near tie)."""
    top2 = np.sort(reference, axis=1)[:, -2:]
    changed = reference.argmax(1) != other.argmax(1)
    assert np.all(top2[changed, 1] - top2[changed, 0] < margin), top2[changed]


def speech_like(seconds: float, rate: int = 16_000, seed: int = 0) -> np.ndarray:
    """A voiced-sounding signal (gliding harmonics, syllable-rate envelope, noise)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * rate))) / rate
    pitch = 110 + 30 * seed % 90 + 40 * np.sin(2 * np.pi * 0.5 * t + seed)
    phase = 2 * np.pi * np.cumsum(pitch) / rate
    voiced = sum(np.sin(k * phase) / k for k in range(1, 10))
    envelope = 0.5 + 0.5 * np.sin(2 * np.pi * (3 + seed % 3) * t) ** 2
    return (0.1 * voiced * envelope + 0.005 * rng.standard_normal(t.size)).astype(np.float32)


def write_clip(path: Path, seconds: float = 1.5, rate: int = 16_000, seed: int = 0,
               subtype: str = "PCM_16") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, speech_like(seconds, rate, seed), rate, subtype=subtype)
    return path


@pytest.fixture(autouse=True)
def single_thread():
    """One torch thread: the tensors are tiny, and two OpenMP threads on cores shared with
    other jobs make each op wait on a descheduled thread (20-50x slower under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class NaNForSound(torch.nn.Module):
    """Wraps a model: NaN logits for every clip whose features vary over time (sound),
    the real logits for clips that do not (digital silence)."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.inner = model

    def forward(self, feats: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        logits = self.inner(feats, lengths)
        sound = feats.std(dim=2).amax(dim=1) > 1e-3  # (B,)
        return torch.where(sound[:, None], torch.full_like(logits, float("nan")), logits)


def nan_for_sound(checkpoint: Path):
    """A CPU predictor of ``checkpoint`` whose model outputs NaN for any non-silent clip."""
    from sertk.infer import load_model

    predictor = load_model(checkpoint, device="cpu", vad=False)
    predictor.model = NaNForSound(predictor.model)
    return predictor
