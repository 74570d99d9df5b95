"""Property tests: any in-memory signal gives finite log-mels of the right shape or AudioError.

``prepare_waveform`` + ``LogMel`` over sample rates, channel counts, lengths, sample types,
silence, clipping and NaN/Inf. Example counts are small so the file runs in seconds.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sertk.audio import SAMPLE_RATE, AudioError, prepare_waveform
from sertk.features import FeatureConfig, LogMel

RATES = [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000]
DTYPES = [np.int16, np.int32, np.float32, np.float64]
SHORT_LENGTHS = [0, 1, 2, 5, 399, 400, 401, 1_600]
KINDS = ["noise", "silence", "clipped", "tone", "nan", "inf", "huge"]

LOGMEL = {"fft": LogMel(stft="fft"), "conv": LogMel(stft="conv")}
CONFIG = FeatureConfig()


def _signal(kind: str, length: int, channels: int, dtype, seed: int) -> np.ndarray:
    """(length, channels) array of ``dtype``; floats in [-1, 1] unless the kind says otherwise."""
    rng = np.random.default_rng(seed)
    if kind == "silence":
        x = np.zeros((length, channels))
    elif kind == "tone":
        t = np.arange(length)[:, None] / 1000.0
        x = 0.9 * np.sin(2 * np.pi * 3.0 * t + np.arange(channels))
    else:
        x = rng.uniform(-1.0, 1.0, size=(length, channels))
    if kind == "clipped":
        x = np.clip(4.0 * x, -1.0, 1.0)
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(np.round(x * info.max), info.min, info.max).astype(dtype)
    x = x.astype(dtype)
    if kind == "huge":  # float "PCM" far beyond full scale: legal, must stay finite
        x *= dtype(1e4)
    if length and kind in ("nan", "inf"):
        x[rng.integers(length), rng.integers(channels)] = np.nan if kind == "nan" else -np.inf
    return x


def _resampled_length(samples: int, rate: int) -> int:
    """soxr's output length: samples * 16000 / rate, rounded half up (exact integer maths)."""
    return (2 * samples * SAMPLE_RATE + rate) // (2 * rate)


def _check(data: np.ndarray, rate: int, stft: str) -> None:
    """The property: AudioError, or 16 kHz mono audio whose log-mels are finite and shaped."""
    try:
        wave = prepare_waveform(data, rate, source="fuzz")
    except AudioError as err:
        assert "fuzz" in str(err)
        non_finite = np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all()
        too_short = _resampled_length(data.shape[0], rate) == 0
        assert non_finite or too_short, f"unexpected AudioError: {err}"
        return
    assert np.issubdtype(data.dtype, np.integer) or np.isfinite(data).all()
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.shape[0] == _resampled_length(data.shape[0], rate)
    assert np.isfinite(wave).all()
    wave = wave[: CONFIG.max_samples]
    feats, lengths = LOGMEL[stft](torch.from_numpy(wave)[None])
    frames = CONFIG.num_frames(wave.shape[0])
    assert tuple(feats.shape) == (1, CONFIG.n_mels, frames)
    assert lengths.tolist() == [frames]
    assert torch.isfinite(feats).all(), "NaN/Inf in features"
    assert feats.min().item() >= np.log(CONFIG.log_offset) - 1e-3


FUZZ = settings(max_examples=40, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(
    rate=st.sampled_from(RATES),
    channels=st.integers(1, 8),
    length=st.sampled_from(SHORT_LENGTHS) | st.integers(0, 20_000),
    dtype=st.sampled_from(DTYPES),
    kind=st.sampled_from(KINDS),
    stft=st.sampled_from(["fft", "conv"]),
    seed=st.integers(0, 2**16),
)
def test_short_signals(rate, channels, length, dtype, kind, stft, seed):
    _check(_signal(kind, length, channels, dtype, seed), rate, stft)


@settings(max_examples=6, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.sampled_from(RATES),
    channels=st.integers(1, 2),
    seconds=st.sampled_from([4.0, 20.0, 60.0]),
    dtype=st.sampled_from(DTYPES),
    kind=st.sampled_from(["noise", "silence", "nan"]),
)
def test_long_signals(rate, channels, seconds, dtype, kind):
    """Up to a minute of audio resamples fine; features use the first 4 s, as in training."""
    length = int(seconds * rate)
    _check(_signal(kind, length, channels, dtype, seed=7), rate, "fft")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("length", [0, 1, 399, 400])
def test_edge_lengths_at_16k(dtype, length):
    """The boundary lengths, every dtype, no resampling: explicit, not left to chance."""
    _check(_signal("noise", length, 1, dtype, seed=0), SAMPLE_RATE, "fft")


@pytest.mark.parametrize("samples,rate,expected", [
    (1, 32_000, 1), (3, 96_000, 1), (5, 32_000, 3), (1, 48_000, 0), (2, 96_000, 0),
])
def test_half_sample_boundaries(samples, rate, expected):
    """Exactly half a 16 kHz sample rounds up; less than half is too short (AudioError)."""
    assert _resampled_length(samples, rate) == expected
    _check(np.ones(samples, np.float32) * 0.5, rate, "fft")
