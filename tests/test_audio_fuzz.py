"""Property tests: any signal gives finite log-mels of the right shape or AudioError.

``prepare_waveform`` + ``LogMel`` over sample rates, channel counts, lengths, sample types,
silence, clipping, samples far beyond full scale and NaN/Inf; and the same through
``load_audio`` from files written in every WAV/FLAC sample format, whole or cut short.
Example counts are small so the file runs in seconds.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sertk.audio import MAX_ABS_SAMPLE, SAMPLE_RATE, AudioError, load_audio, prepare_waveform
from sertk.features import FeatureConfig, LogMel

RATES = [8_000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 88_200, 96_000]
DTYPES = [np.uint8, np.int8, np.int16, np.int32, np.float16, np.float32, np.float64]
SHORT_LENGTHS = [0, 1, 2, 5, 399, 400, 401, 1_600]
KINDS = ["noise", "silence", "clipped", "tone", "nan", "inf", "huge", "enormous"]

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
    if kind == "enormous":  # beyond MAX_ABS_SAMPLE: STFT power would overflow float32
        x *= {np.float16: 6e4, np.float32: 1e20}.get(dtype, 1e200)  # float16 cannot go beyond
    if length and kind in ("nan", "inf"):
        x[rng.integers(length), rng.integers(channels)] = np.nan if kind == "nan" else -np.inf
    return x


def _resampled_length(samples: int, rate: int) -> int:
    """soxr's output length: samples * 16000 / rate, rounded half up (exact integer maths)."""
    return (2 * samples * SAMPLE_RATE + rate) // (2 * rate)


def _expected_error(data: np.ndarray, rate: int) -> bool:
    """Whether ``data`` must be refused: NaN/Inf, too short, or far beyond full scale."""
    if data.ndim == 1:
        data = data[:, None]
    if np.issubdtype(data.dtype, np.floating) and not np.isfinite(data).all():
        return True
    if _resampled_length(data.shape[0], rate) == 0:
        return True
    mono = data.astype(np.float64).mean(axis=1) if data.size else np.zeros(0)
    return np.issubdtype(data.dtype, np.floating) and np.abs(mono).max() > MAX_ABS_SAMPLE


def _check(data: np.ndarray, rate: int, stft: str, load=None) -> None:
    """The property: AudioError, or 16 kHz mono audio whose log-mels are finite and shaped.

    ``load()`` decodes ``data`` from a file instead of passing it in memory."""
    try:
        wave = load() if load else prepare_waveform(data, rate, source="fuzz")
    except AudioError as err:
        assert "fuzz" in str(err)
        assert _expected_error(data, rate), f"unexpected AudioError: {err}"
        return
    assert not _expected_error(data, rate), "bad audio was accepted"
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


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", KINDS)
def test_every_kind_and_dtype(kind, dtype):
    """Each kind of signal at least once, whatever the fuzzer happens to draw."""
    _check(_signal(kind, 1_600, 3, dtype, seed=1), 44_100, "conv")


@pytest.mark.parametrize("samples,rate,expected", [
    (1, 32_000, 1), (3, 96_000, 1), (5, 32_000, 3), (1, 48_000, 0), (2, 96_000, 0),
])
def test_half_sample_boundaries(samples, rate, expected):
    """Exactly half a 16 kHz sample rounds up; less than half is too short (AudioError)."""
    assert _resampled_length(samples, rate) == expected
    _check(np.ones(samples, np.float32) * 0.5, rate, "fft")


# --- the same property through files -----------------------------------------------------

# (format, subtype, numpy dtype written): every WAV sample format and FLAC's integer ones
FILE_FORMATS = [("WAV", "PCM_U8", np.float32), ("WAV", "PCM_16", np.int16),
                ("WAV", "PCM_24", np.int32), ("WAV", "PCM_32", np.int32),
                ("WAV", "FLOAT", np.float32), ("WAV", "DOUBLE", np.float64),
                ("FLAC", "PCM_16", np.int16), ("FLAC", "PCM_24", np.int32)]
FILE_KINDS = ["noise", "silence", "clipped", "tone", "nan", "inf", "huge", "enormous"]


def _write(data: np.ndarray, rate: int, fmt: str, subtype: str, folder: str) -> Path:
    path = Path(folder) / f"fuzz.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)
    return path


def _file_signal(kind: str, length: int, channels: int, subtype: str, dtype, seed: int):
    if subtype not in ("FLOAT", "DOUBLE") and kind in ("nan", "inf", "huge", "enormous"):
        kind = "clipped"  # integer formats cannot hold them
    if subtype == "FLOAT" and kind == "enormous":
        return _signal("noise", length, channels, np.float32, seed) * np.float32(1e20)
    return _signal(kind, length, channels, dtype, seed)


@FUZZ
@given(
    rate=st.sampled_from(RATES) | st.integers(8_000, 96_000),
    channels=st.integers(1, 8),
    length=st.sampled_from(SHORT_LENGTHS) | st.integers(0, 20_000),
    form=st.sampled_from(FILE_FORMATS),
    kind=st.sampled_from(FILE_KINDS),
    seed=st.integers(0, 2**16),
)
def test_files_through_load_audio(rate, channels, length, form, kind, seed):
    fmt, subtype, dtype = form
    data = _file_signal(kind, length, channels, subtype, dtype, seed)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(data, rate, fmt, subtype, folder)
        _check(data, rate, "fft", load=lambda: load_audio(path))


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(
    rate=st.sampled_from(RATES),
    channels=st.integers(1, 8),
    length=st.integers(1, 8_000),
    form=st.sampled_from(FILE_FORMATS),
    keep=st.floats(0.0, 0.999),
)
def test_cut_files_are_refused_by_name(rate, channels, length, form, keep):
    """A file cut anywhere (header or data) raises AudioError naming it; never garbage."""
    fmt, subtype, dtype = form
    data = _file_signal("noise", length, channels, subtype, dtype, seed=length)
    with tempfile.TemporaryDirectory() as folder:
        path = _write(data, rate, fmt, subtype, folder)
        raw = path.read_bytes()
        path.write_bytes(raw[: int(len(raw) * keep)])
        with pytest.raises(AudioError) as err:
            load_audio(path)
        assert str(path) in str(err.value)


@pytest.mark.parametrize("kind", FILE_KINDS)
@pytest.mark.parametrize("form", FILE_FORMATS, ids=lambda f: f"{f[0]}-{f[1]}")
def test_every_kind_and_format_from_a_file(tmp_path, form, kind):
    fmt, subtype, dtype = form
    data = _file_signal(kind, 1_000, 2, subtype, dtype, seed=2)
    path = _write(data, 22_050, fmt, subtype, str(tmp_path))
    _check(data, 22_050, "fft", load=lambda: load_audio(path))


@pytest.mark.parametrize("fmt,subtype,rate,channels,minutes", [
    ("WAV", "PCM_16", 44_100, 1, 2.0), ("FLAC", "PCM_16", 8_000, 2, 3.0)])
def test_minutes_long_files(tmp_path, fmt, subtype, rate, channels, minutes):
    """Minutes of audio from disk: decoded whole, finite, features of the first 4 s shaped."""
    data = _signal("noise", int(minutes * 60 * rate), channels, np.int16, seed=3)
    path = _write(data, rate, fmt, subtype, str(tmp_path))
    _check(data, rate, "fft", load=lambda: load_audio(path))
