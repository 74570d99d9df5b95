"""Inputs for the benchmarks: a checkpoint, audio files made from real speech, and the
durations of an IEMOCAP-like corpus.

Speed does not depend on what a model has learned, so the checkpoint is the
``proposed`` network with its initial weights, saved like a trained one (7 EmoDB
labels, the front-end config, normalisation statistics of real EmoDB clips). Audio
files of any length are real EmoDB-2s speech (22.05 kHz, 16-bit) laid end to end, so
decoding includes resampling to 16 kHz as it does for most users' recordings.

**IEMOCAP-like durations** (:func:`iemocap_like_seconds`). Real corpora mix lengths; the
benchmarks' variable-length rows draw clip durations from a log-normal distribution,
``ln(d / 1 s) ~ Normal(mu=0.983, sigma=0.598)``, fitted to two quantiles of IEMOCAP's
utterance durations: 5 % of clips under 1 s and 25 % over 4 s (median 2.67 s, mean
before truncation 3.20 s). Durations are then cut to ``max_seconds`` (4 s, the paper's
training length: a quarter of the clips are exactly 4 s) and raised to at least 0.5 s
(0.3 % of draws). After the cut the mean is 2.70 s. Each variable-length row has an
*equal-length twin*: as many clips, every one of the mean duration (:func:`equal_twin`),
so both hold the same total audio (and frames, up to rounding).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import soundfile as sf

EMODB_LABELS = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
IEMOCAP_LOG_MEAN, IEMOCAP_LOG_STD = 0.983, 0.598  # ln(seconds): 5 % < 1 s, 25 % > 4 s
MIN_SECONDS = 0.5
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


def iemocap_like_seconds(count: int, *, seed: int = 0, max_seconds: float = 4.0) -> np.ndarray:
    """``count`` clip durations in seconds (float64), IEMOCAP-like (see the module text):
    log-normal, cut to ``max_seconds`` and raised to at least 0.5 s, rounded to 10 ms frames."""
    rng = np.random.default_rng(seed)
    seconds = np.exp(rng.normal(IEMOCAP_LOG_MEAN, IEMOCAP_LOG_STD, count))
    return np.round(np.clip(seconds, MIN_SECONDS, max_seconds), 2)


def equal_twin(seconds: np.ndarray) -> np.ndarray:
    """The equal-length twin of a set of durations: as many clips, each of their mean
    duration (rounded to 10 ms), so the total audio is the same up to rounding."""
    return np.full(len(seconds), np.round(float(np.mean(seconds)), 2))


def seconds_to_frames(seconds: np.ndarray) -> np.ndarray:
    """Log-mel frames of clips of these durations (10 ms hop, centred: 1 + 100 * s)."""
    return 1 + np.round(np.asarray(seconds) * 100).astype(np.int64)
