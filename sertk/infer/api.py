"""``sertk.predict``: one call from audio to a prediction, with a cached predictor."""
from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from sertk.infer.predictor import Prediction, Predictor, load_model

_CACHE: dict[tuple[str, str, bool], Predictor] = {}
_LOCK = threading.Lock()


def predict(audio: str | Path | np.ndarray, sample_rate: int | None = None, *,
            model: str | Path | None = None, device: str | None = None,
            vad: bool = True) -> Prediction:
    """Predict the emotion of a file or a waveform.

    Args:
        audio: a path, or an array in one of these layouts (:mod:`sertk.infer.layout`):
            ``(samples,)`` mono; ``(samples, channels)`` or ``(channels, samples)`` with
            at most 8 channels, which are averaged (both layouts of the same audio give
            the same prediction). A 2-D array with more than 8 rows and columns is
            ambiguous and refused. Float or integer PCM.
        sample_rate: the array's rate in Hz (required for arrays, ignored for paths).
        model: a checkpoint directory or bundled name; None = the bundled default.
        device: as :func:`load_model`.
        vad: answer ``no-speech`` (without asking the model) when the voice activity
            detector finds too little speech (:mod:`sertk.vad`); False predicts anything.

    The predictor is loaded once per (model, device, vad) and reused.

    Raises:
        AudioError: the audio cannot be used: unreadable, no samples, NaN/Inf, an
            ambiguous layout, or shorter than one analysis window (25 ms):
            ``too short: N samples < M``.
        ModelOutputError: the model's probabilities are not finite (no label).
    """
    predictor = _cached(model, device, bool(vad))
    if isinstance(audio, (str, Path)):
        return predictor.predict_file(audio)
    if sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    return predictor.predict(audio, sample_rate)


def _cached(model: str | Path | None, device: str | None, vad: bool) -> Predictor:
    key = (str(model), str(device), vad)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_model(model, device, vad=vad)
        return _CACHE[key]
