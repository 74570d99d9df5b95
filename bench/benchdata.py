"""Inputs for the inference benchmarks: a checkpoint and audio files made from real speech.

Speed does not depend on what a model has learned, so the checkpoint is the
``proposed`` network with its initial weights, saved like a trained one (7 EmoDB
labels, the front-end config, normalisation statistics of real EmoDB clips). Audio
files of any length are real EmoDB-2s speech (22.05 kHz, 16-bit) laid end to end, so
decoding includes resampling to 16 kHz as it does for most users' recordings.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

EMODB_LABELS = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
TINY_MODEL = {"hidden": 16, "n_heads": 2, "blstm_ffn_dim": 32, "transformer_ffn_dim": 32,
              "n_transformer": 1, "n_blstm": 1}


def make_checkpoint(directory: Path, sources: Sequence[Path], *, padding: str = "fixed",
                    tiny: bool = False, seed: int = 0) -> Path:
    """Save an untrained ``proposed`` model with real normalisation statistics."""
    import torch

    from sertk.data.cache import compute_features
    from sertk.features import FeatureConfig, feature_stats
    from sertk.models import create_model, save_checkpoint

    torch.manual_seed(seed)
    model = create_model("proposed", len(EMODB_LABELS), **(TINY_MODEL if tiny else {}))
    mean, std = feature_stats(compute_features(list(sources)[:50]))
    return save_checkpoint(directory, model, model_name="proposed", labels=EMODB_LABELS,
                           feature_config=FeatureConfig(padding=padding), norm_mean=mean,
                           norm_std=std, metadata={"note": "untrained, for benchmarks"})


def speech(sources: Sequence[Path], seconds: float, offset: int = 0) -> tuple[np.ndarray, int]:
    """``seconds`` of real speech: the source clips (from ``offset``) end to end, int16."""
    rate = sf.info(str(sources[0])).samplerate
    need = int(round(seconds * rate))
    parts, have, i = [], 0, offset
    while have < need:
        data, sr = sf.read(str(sources[i % len(sources)]), dtype="int16")
        if sr != rate:
            raise ValueError(f"{sources[i % len(sources)]}: {sr} Hz, expected {rate} Hz")
        parts.append(data if data.ndim == 1 else data[:, 0])
        have += len(parts[-1])
        i += 1
    return np.concatenate(parts)[:need], rate


def write_speech(path: Path, sources: Sequence[Path], seconds: float, offset: int = 0) -> Path:
    """Write ``seconds`` of real speech to ``path`` (16-bit PCM wav), block by block."""
    rate = sf.info(str(sources[0])).samplerate
    path.parent.mkdir(parents=True, exist_ok=True)
    block = 600.0  # write long files in 10-minute blocks (bounded memory)
    with sf.SoundFile(str(path), "w", samplerate=rate, channels=1, subtype="PCM_16") as out:
        done, k = 0.0, offset
        while done < seconds - 1e-9:
            part = min(block, seconds - done)
            data, _ = speech(sources, part, k)
            out.write(data)
            done += part
            k += 1 + int(part // 2)
    return path


def clip_files(directory: Path, sources: Sequence[Path], seconds: float, count: int) -> list[Path]:
    """``count`` files of ``seconds`` of speech each (different clips in each)."""
    per = max(1, int(np.ceil(seconds / 2.0)))
    return [write_speech(directory / f"clip{i:03d}.wav", sources, seconds, offset=i * per)
            for i in range(count)]
