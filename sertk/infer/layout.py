"""Which array layouts :meth:`Predictor.predict` and ``sertk.predict(array, sr)`` accept.

- ``(samples,)``: mono.
- ``(samples, channels)`` with at most :data:`MAX_CHANNELS` channels (soundfile's
  layout): the channels are averaged.
- ``(channels, samples)`` with at most :data:`MAX_CHANNELS` channels and more samples
  than that (torchaudio's and librosa's layout): transposed, then averaged the same
  way, so both layouts of the same audio give the same prediction.

A 2-D array with more than :data:`MAX_CHANNELS` rows *and* columns is ambiguous (it
could be a batch of clips, or either layout) and is refused; so are 3-D and higher
arrays. An array with at most :data:`MAX_CHANNELS` rows and columns is read as
``(samples, channels)`` (it is too short to predict either way).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sertk.audio import AudioError

MAX_CHANNELS = 8  # 7.1 surround; more is a batch or a mistake, not one recording

LAYOUTS = (f"(samples,) mono, or (samples, channels) / (channels, samples) with at most "
           f"{MAX_CHANNELS} channels")


def samples_first(waveform, source: str | Path | None = None) -> np.ndarray:
    """``waveform`` as a (samples,) or (samples, channels) array (see the module docstring);
    ``AudioError`` naming the accepted layouts for an ambiguous 2-D array or an array of 3
    or more dimensions."""
    data = np.asarray(waveform)
    if data.ndim == 1:
        return data
    if data.ndim != 2:
        raise AudioError(source, f"expected {LAYOUTS}; got an array of shape {data.shape} "
                                 f"(predict_batch takes a list of clips)")
    rows, columns = data.shape
    if columns <= MAX_CHANNELS:
        return data
    if rows <= MAX_CHANNELS:
        return data.T
    raise AudioError(source, f"ambiguous array of shape {data.shape}: expected {LAYOUTS} "
                             f"(for several clips use predict_batch with a list of arrays)")
