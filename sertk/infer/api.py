"""``sertk.predict`` and ``sertk.predict_frame``: one call from audio to predictions,
with a cached predictor."""
from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from sertk.infer.predictor import Predictor, check_min_confidence, check_top_k, load_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

_CACHE: dict[tuple[str, str, bool], Predictor] = {}
_LOCK = threading.Lock()


def predict(audio: str | Path | np.ndarray, sample_rate: int | None = None, *,
            model: str | Path | None = None, device: str | None = None,
            vad: bool = True, top_k: int | None = None, min_confidence: float = 0.0):
    """Predict the emotion of a file or a waveform.

    Args:
        audio: a path, or an array in a layout of :mod:`sertk.infer.layout`: ``(samples,)``
            mono, or ``(samples, channels)`` / ``(channels, samples)`` with at most 8
            channels (averaged); float or integer PCM.
        sample_rate: the array's rate in Hz (required for arrays, ignored for paths).
        model: a checkpoint directory or bundled name; None = the bundled default.
        device: as :func:`load_model`.
        vad: answer ``no-speech`` (without asking the model) when the voice activity
            detector finds too little speech (:mod:`sertk.vad`); False predicts anything.
        top_k: None returns a :class:`Prediction`; an integer ``k`` returns the ``k`` most
            probable labels as the Hugging Face audio-classification pipeline does,
            ``[{"label": "anger", "score": 0.91}, ...]`` (:meth:`Prediction.top`).
        min_confidence: a probability P in [0, 1]: a prediction whose top probability is
            below P is labelled ``uncertain`` (its probabilities and ranked labels kept).
            0 (default): never.

    The predictor is loaded once per (model, device, vad) and reused.

    Raises:
        AudioError: the audio cannot be used: unreadable, no samples, NaN/Inf, an
            ambiguous layout, or shorter than one analysis window (25 ms):
            ``too short: N samples < M``.
        ModelOutputError: the model's probabilities are not finite (no label).
        ValueError: an array without ``sample_rate``; ``top_k`` not a positive integer;
            ``min_confidence`` outside [0, 1].
    """
    check_top_k(top_k)
    min_confidence = check_min_confidence(min_confidence)
    predictor = _cached(model, device, bool(vad))
    if isinstance(audio, (str, Path)):
        prediction = predictor.predict_file(audio)
    elif sample_rate is None:
        raise ValueError("sample_rate is required when audio is an array")
    else:
        prediction = predictor.predict(audio, sample_rate)
    prediction = prediction.abstaining(min_confidence)
    return prediction if top_k is None else prediction.top(top_k)


def predict_frame(inputs: str | Path | Iterable[str | Path], *, model: str | Path | None = None,
                  device: str | None = None, vad: bool = True, segment: float | None = None,
                  hop: float | None = None, **options) -> "pd.DataFrame":
    """Predict files, folders or list files into a pandas DataFrame indexed by (file, start,
    end), with the columns ``label``, one probability per class and ``error``: one row per
    file (``segment=None``) or per window of ``segment`` seconds every ``hop``. See
    :mod:`sertk.infer.frames`; ``options`` go to :func:`~sertk.infer.frames.predict_frame`.
    """
    from sertk.infer.frames import predict_frame as frame

    return frame(_cached(model, device, bool(vad)), inputs, segment, hop, **options)


def _cached(model: str | Path | None, device: str | None, vad: bool) -> Predictor:
    key = (str(model), str(device), vad)
    with _LOCK:
        if key not in _CACHE:
            _CACHE[key] = load_model(model, device, vad=vad)
        return _CACHE[key]
