"""sertk.audio: decoding, mono mix, resampling, padding and every kind of bad file."""
from __future__ import annotations

import struct
import tracemalloc

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import (
    MAX_ABS_SAMPLE,
    MAX_FILE_SECONDS,
    SAMPLE_RATE,
    AudioError,
    audio_info,
    load_audio,
    prepare_waveform,
)


def _tone(rate: int, seconds: float, channels: int, freq: float = 440.0) -> np.ndarray:
    """(samples, channels) float32 sine at amplitude 0.5, a different phase per channel."""
    t = np.arange(int(round(rate * seconds))) / rate
    phases = np.linspace(0, np.pi / 2, channels)
    return (0.5 * np.sin(2 * np.pi * freq * t[:, None] + phases)).astype(np.float32)


@pytest.mark.parametrize(
    "fmt,subtype,rate,channels",
    [
        ("WAV", "PCM_16", 16_000, 1),
        ("WAV", "PCM_24", 44_100, 2),
        ("WAV", "FLOAT", 8_000, 1),
        ("WAV", "PCM_U8", 22_050, 1),
        ("FLAC", "PCM_16", 48_000, 2),
        ("FLAC", "PCM_16", 22_050, 6),
        ("OGG", "VORBIS", 32_000, 2),
    ],
)
def test_load_audio_gives_float32_mono_16k_of_the_right_length(tmp_path, fmt, subtype, rate,
                                                                channels):
    seconds = 0.75
    data = _tone(rate, seconds, channels)
    path = tmp_path / f"clip.{fmt.lower()}"
    sf.write(path, data, rate, format=fmt, subtype=subtype)

    wave = load_audio(path)

    assert wave.dtype == np.float32 and wave.ndim == 1
    assert wave.shape[0] == (2 * data.shape[0] * SAMPLE_RATE + rate) // (2 * rate)  # half up
    # The mono mix of 0.5-amplitude channels stays within [-0.5, 0.5] (plus codec error)
    # and is not silent.
    assert np.abs(wave).max() <= 0.55
    assert np.sqrt(np.mean(wave**2)) > 0.1


def test_load_audio_averages_channels(tmp_path):
    left = np.full(1600, 0.5, dtype=np.float32)
    right = np.full(1600, -0.25, dtype=np.float32)
    path = tmp_path / "stereo.wav"
    sf.write(path, np.stack([left, right], axis=1), SAMPLE_RATE, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(path), 0.125, rtol=0, atol=1e-7)


def test_load_audio_at_another_rate(tmp_path):
    path = tmp_path / "a.wav"
    sf.write(path, _tone(16_000, 1.0, 1), 16_000)
    assert load_audio(path, sample_rate=8_000).shape == (8_000,)


@pytest.mark.parametrize("dtype", [np.int16, np.int32, np.uint8])
def test_integer_pcm_is_scaled_to_unit_range(dtype):
    info = np.iinfo(dtype)
    data = np.array([info.min, (int(info.min) + int(info.max) + 1) // 2, info.max], dtype=dtype)
    wave = prepare_waveform(data, SAMPLE_RATE)
    assert wave.dtype == np.float32
    np.testing.assert_allclose(wave, [-1.0, 0.0, 1.0], atol=2.0 / (int(info.max) + 1))
    assert np.abs(wave).max() <= 1.0


def test_int16_matches_soundfile_float_decoding(tmp_path):
    rng = np.random.default_rng(0)
    pcm = rng.integers(-32768, 32767, size=(4000, 2), dtype=np.int16)
    path = tmp_path / "pcm.wav"
    sf.write(path, pcm, SAMPLE_RATE, subtype="PCM_16")
    np.testing.assert_allclose(prepare_waveform(pcm, SAMPLE_RATE), load_audio(path), atol=1e-6)


def test_prepare_waveform_rejects_bad_arrays():
    with pytest.raises(AudioError, match="shape"):
        prepare_waveform(np.zeros((2, 3, 4), np.float32), SAMPLE_RATE)
    with pytest.raises(AudioError, match="sample rate"):
        prepare_waveform(np.zeros(10, np.float32), 0)
    with pytest.raises(AudioError, match="sample type"):
        prepare_waveform(np.zeros(10, dtype=complex), SAMPLE_RATE)
    with pytest.raises(AudioError, match="no audio channels"):
        prepare_waveform(np.zeros((10, 0), np.float32), SAMPLE_RATE)
    for huge in (1e300, 1e20, 2 * MAX_ABS_SAMPLE):  # NaN log-mels from 1e19 on
        with pytest.raises(AudioError, match="implausibly large"):
            prepare_waveform(np.full(10, huge), SAMPLE_RATE)
    assert np.isfinite(prepare_waveform(np.full(10, MAX_ABS_SAMPLE), SAMPLE_RATE)).all()
    with pytest.raises(AudioError, match="too short"):
        prepare_waveform(np.zeros(1, np.float32), 96_000)  # 1/6 of a sample at 16 kHz


def test_prepare_waveform_error_names_the_source():
    with pytest.raises(AudioError) as err:
        prepare_waveform(np.array([0.0, np.nan]), SAMPLE_RATE, source="mem://clip")
    assert "mem://clip" in str(err.value) and err.value.path == "mem://clip"


def test_real_emodb_clip(emodb_dir):
    """EmoDB-2s files are 22.05 kHz, exactly 2 s: 32000 samples at 16 kHz, speech-like range."""
    path = sorted((emodb_dir / "wav").glob("*.wav"))[0]
    info = audio_info(path)
    assert (info.sample_rate, info.channels, info.duration) == (22_050, 1, 2.0)

    wave = load_audio(path)

    assert wave.shape == (32_000,) and wave.dtype == np.float32
    assert np.isfinite(wave).all()
    assert 0.1 < np.abs(wave).max() <= 1.05  # soxr may overshoot full scale slightly
    assert 1e-3 < np.sqrt(np.mean(wave**2)) < 0.5
    assert abs(float(wave.mean())) < 0.05  # no large DC offset


# --- bad files: every one raises AudioError naming the path ---------------------------------

def _expect_error(path, match: str) -> AudioError:
    with pytest.raises(AudioError, match=match) as err:
        load_audio(path)
    assert str(path) in str(err.value) and err.value.path == str(path)
    return err.value


def _pcm16_wav(path, samples: int, rate: int = SAMPLE_RATE) -> bytes:
    sf.write(path, np.zeros(samples, np.int16), rate, subtype="PCM_16")
    return path.read_bytes()


def test_missing_file(tmp_path):
    _expect_error(tmp_path / "nope.wav", "not found")


def test_directory(tmp_path):
    (tmp_path / "dir.wav").mkdir()
    _expect_error(tmp_path / "dir.wav", "directory")


def test_zero_bytes(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    _expect_error(tmp_path / "empty.wav", "empty")


def test_truncated_header(tmp_path):
    data = _pcm16_wav(tmp_path / "ok.wav", 1000)
    (tmp_path / "hdr.wav").write_bytes(data[:20])
    _expect_error(tmp_path / "hdr.wav", "not a readable audio file")


def test_truncated_data_is_refused(tmp_path):
    """libsndfile alone would read a cut WAV as a shorter clip; the header says otherwise."""
    rng = np.random.default_rng(1)
    pcm = rng.integers(-1000, 1000, size=16000, dtype=np.int16)
    sf.write(tmp_path / "ok.wav", pcm, SAMPLE_RATE, subtype="PCM_16")
    data = (tmp_path / "ok.wav").read_bytes()
    (tmp_path / "cut.wav").write_bytes(data[: 44 + 2 * 500 + 1])  # 500.5 frames of data
    _expect_error(tmp_path / "cut.wav", "truncated: the WAV header declares 32000 bytes")


def test_random_bytes_named_wav(tmp_path):
    (tmp_path / "noise.wav").write_bytes(np.random.default_rng(2).bytes(4096))
    _expect_error(tmp_path / "noise.wav", "not a readable audio file")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_samples(tmp_path, bad):
    wave = np.zeros(1000, np.float32)
    wave[500] = bad
    path = tmp_path / "bad.wav"
    sf.write(path, wave, SAMPLE_RATE, subtype="FLOAT")
    _expect_error(path, "NaN or infinite")


def test_zero_sample_file(tmp_path):
    _pcm16_wav(tmp_path / "none.wav", 0)
    _expect_error(tmp_path / "none.wav", "no audio samples")


def test_too_short_to_resample(tmp_path):
    path = tmp_path / "one.wav"
    sf.write(path, np.ones(1, np.float32), 96_000, subtype="FLOAT")
    _expect_error(path, "too short")


def _assert_cheap(fn) -> None:
    """``fn()`` must raise AudioError having allocated under 10 MB (it refuses from the
    header, before decoding anything)."""
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match="over the limit"):
            fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


def test_wav_header_claiming_hours_is_refused_without_reading(tmp_path):
    """A sparse 8-bit wav whose data chunk really spans 7 hours (25 MB, mostly holes)."""
    rate, frames = 1000, int((MAX_FILE_SECONDS + 3600) * 1000)
    header = struct.pack("<4sI4s4sIHHIIHH4sI", b"RIFF", 36 + frames, b"WAVE", b"fmt ", 16, 1, 1,
                         rate, rate, 1, 8, b"data", frames)
    path = tmp_path / "hours.wav"
    with open(path, "wb") as fh:
        fh.write(header)
        fh.truncate(len(header) + frames)
    assert audio_info(path).duration > MAX_FILE_SECONDS
    _assert_cheap(lambda: load_audio(path))


def test_flac_header_claiming_years_is_refused_without_reading(tmp_path):
    """A tiny FLAC whose STREAMINFO says 2**36 - 1 samples (about 50 days at 16 kHz)."""
    path = tmp_path / "years.flac"
    sf.write(path, np.zeros(1000, np.float32), SAMPLE_RATE, format="FLAC")
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC"
    field = int.from_bytes(data[18:26], "big")  # low 36 bits: total samples
    data[18:26] = (field | (2**36 - 1)).to_bytes(8, "big")
    path.write_bytes(bytes(data))
    _assert_cheap(lambda: load_audio(path))


def test_wav_header_overstating_its_data_is_refused_cheaply(tmp_path):
    """A data chunk claiming 4 GB in a short file: refused as truncated, nothing allocated."""
    data = bytearray(_pcm16_wav(tmp_path / "ok.wav", 50))
    struct.pack_into("<I", data, 40, 0xFFFFFFF0)
    (tmp_path / "liar.wav").write_bytes(bytes(data))
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match="truncated") as err:
            load_audio(tmp_path / "liar.wav")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(tmp_path / "liar.wav") in str(err.value)
    assert peak < 10 * 2**20


def test_max_seconds_limit_is_a_parameter(tmp_path):
    path = tmp_path / "two.wav"
    sf.write(path, np.zeros(2 * SAMPLE_RATE, np.float32), SAMPLE_RATE)
    assert load_audio(path, max_seconds=None).shape == (2 * SAMPLE_RATE,)
    with pytest.raises(AudioError, match="over the limit"):
        load_audio(path, max_seconds=1.0)
