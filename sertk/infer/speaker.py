"""Speaker statistics for models trained with ``normalisation="speaker"``.

Such a model saw every clip standardised with its speaker's log-mel statistics (all of
that speaker's recordings). To predict, it needs the same for the new speaker: the mean
and std per mel band over the frames of several recordings of that speaker, computed
here with the model's own front-end (first ``max_seconds`` of each recording, as in
training). The more (and the more varied) the recordings, the closer to training.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from sertk.features import feature_stats


def speaker_stats(predictor, recordings: Sequence[str | Path | np.ndarray],
                  sample_rate: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(n_mels,) mean and std of the log-mels of one speaker's ``recordings``.

    Args:
        predictor: a :class:`~sertk.infer.predictor.Predictor` (its front-end is used).
        recordings: paths, or (samples,) arrays at ``sample_rate`` (resampled as in
            :meth:`Predictor.prepare`).

    Raises:
        AudioError: a recording cannot be read or is too short.
        ValueError: no recordings.
    """
    if not len(recordings):
        raise ValueError("speaker statistics need at least one recording of the speaker")
    max_samples = predictor.feature_config.max_samples
    feats = []
    for item in recordings:
        if sample_rate is None and not isinstance(item, (str, Path)):
            raise ValueError("sample_rate is required for arrays")
        wave = predictor.load_clip(item, sample_rate)
        wave = torch.from_numpy(np.ascontiguousarray(wave[:max_samples]))[None]
        with torch.inference_mode():
            logmel, frames = predictor.frontend.logmel(wave.to(predictor.device))
        feats.append(logmel[0, :, : int(frames[0])].cpu().numpy())
    return feature_stats(feats)


def fit_speaker(predictor, recordings: Sequence[str | Path | np.ndarray],
                sample_rate: int | None = None) -> None:
    """Set ``predictor``'s speaker statistics from ``recordings`` (see :func:`speaker_stats`)."""
    predictor.frontend.set_speaker_stats(*speaker_stats(predictor, recordings, sample_rate))
