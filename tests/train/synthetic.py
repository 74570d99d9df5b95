"""Small synthetic corpora for training tests: learnable features, optional real wav files."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from sertk.data.manifest import Utterance

LABELS = ("ang", "hap", "neu", "sad")


def synthetic_corpus(n_speakers: int = 4, per_class: int = 3, n_mels: int = 40,
                     seed: int = 0, min_frames: int = 30, max_frames: int = 80):
    """Utterances (speakers s1.., sessions = speakers) and ``{id: (n_mels, T)}`` log-mel-like
    features whose per-band mean depends on the label, so a model can learn them."""
    rng = np.random.default_rng(seed)
    utterances, features = [], {}
    for s in range(1, n_speakers + 1):
        for c, label in enumerate(LABELS):
            for k in range(per_class):
                uid = f"s{s}_{label}_{k}"
                frames = int(rng.integers(min_frames, max_frames + 1))
                feats = rng.normal(-5.0, 1.0, (n_mels, frames)).astype(np.float32)
                feats[c * 8:(c + 1) * 8] += 3.0
                utterances.append(Utterance(uid, f"/nonexistent/{uid}.wav", label,
                                            speaker=f"s{s}", session=f"s{s}"))
                features[uid] = feats
    return utterances, features


def write_wav_corpus(root: Path, n_speakers: int = 3, per_class: int = 2,
                     seconds: float = 0.5, seed: int = 0) -> list[Utterance]:
    """Real 16 kHz wav files: each label is a tone of its own pitch plus noise."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * 16000)) / 16000
    utterances = []
    for s in range(1, n_speakers + 1):
        for c, label in enumerate(LABELS):
            for k in range(per_class):
                uid = f"s{s}_{label}_{k}"
                wave = 0.3 * np.sin(2 * np.pi * (200 + 300 * c) * t) + 0.05 * rng.normal(size=t.size)
                path = root / f"{uid}.wav"
                sf.write(path, wave.astype(np.float32), 16000)
                utterances.append(Utterance(uid, str(path), label, speaker=f"s{s}",
                                            session=f"s{s}", duration=seconds))
    return utterances
