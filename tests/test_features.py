"""sertk.features: the log-mel front-end against librosa, its two kernels, shapes and stats."""
from __future__ import annotations

import json

import librosa
import numpy as np
import pytest
import torch

from sertk.audio import load_audio
from sertk.features import (
    FeatureConfig,
    FeatureNormalizer,
    LogMel,
    feature_stats,
    hz_to_mel,
    mel_filterbank,
    mel_to_hz,
)

# Max abs difference allowed between our log-mels and librosa's (float32 arithmetic on both
# sides; in practice the difference is ~1e-5).
LIBROSA_ATOL = 1e-3
# Max abs difference between the "fft" and "conv" kernels' log-mels.
KERNEL_ATOL = 1e-3


def _librosa_logmel(wave: np.ndarray) -> np.ndarray:
    power = librosa.feature.melspectrogram(
        y=wave, sr=16000, n_fft=512, hop_length=160, win_length=400, window="hamming",
        center=True, pad_mode="constant", power=2.0, n_mels=40, htk=False, norm="slaney")
    return np.log(power + 1e-6)


def _logmel(wave: np.ndarray, stft: str = "fft") -> np.ndarray:
    feats, _ = LogMel(stft=stft)(torch.from_numpy(wave)[None])
    return feats[0].numpy()


@pytest.fixture(scope="module")
def emodb_waves(emodb_dir) -> list[np.ndarray]:
    paths = sorted((emodb_dir / "wav").glob("*.wav"))[:: 107]  # 5 files, several speakers
    return [load_audio(p) for p in paths]


@pytest.fixture(scope="module")
def noise() -> np.ndarray:
    return (np.random.default_rng(0).standard_normal(24_000) * 0.1).astype(np.float32)


def test_filterbank_matches_librosa():
    ref = librosa.filters.mel(sr=16000, n_fft=512, n_mels=40, htk=False, norm="slaney")
    np.testing.assert_allclose(mel_filterbank(FeatureConfig()), ref, rtol=1e-5, atol=1e-8)


def test_mel_scale_round_trip():
    hz = np.array([0.0, 500.0, 1000.0, 3000.0, 8000.0])
    np.testing.assert_allclose(mel_to_hz(hz_to_mel(hz)), hz, rtol=1e-12, atol=1e-9)
    assert hz_to_mel(np.array([1000.0]))[0] == pytest.approx(15.0)  # Slaney: 1 kHz = 15 mel


@pytest.mark.parametrize("stft", ["fft", "conv"])
def test_logmel_matches_librosa_on_emodb(emodb_waves, stft):
    for wave in emodb_waves:
        ref = _librosa_logmel(wave)
        ours = _logmel(wave, stft)
        assert ours.shape == ref.shape == (40, 201)
        assert np.abs(ours - ref).max() < LIBROSA_ATOL


@pytest.mark.parametrize("stft", ["fft", "conv"])
def test_logmel_matches_librosa_on_noise(noise, stft):
    ref = _librosa_logmel(noise)
    ours = _logmel(noise, stft)
    assert ours.shape == ref.shape
    assert np.abs(ours - ref).max() < LIBROSA_ATOL


def test_fft_and_conv_kernels_agree(emodb_waves, noise):
    batch = [noise, *emodb_waves, np.zeros(1000, np.float32)]
    width = max(len(w) for w in batch)
    waves = torch.from_numpy(np.stack([np.pad(w, (0, width - len(w))) for w in batch]))
    lengths = torch.tensor([len(w) for w in batch])
    fft, n_fft = LogMel(stft="fft")(waves, lengths)
    conv, n_conv = LogMel(stft="conv")(waves, lengths)
    assert torch.equal(n_fft, n_conv)
    assert (fft - conv).abs().max().item() < KERNEL_ATOL


def test_log_floor_on_silence():
    feats, _ = LogMel()(torch.zeros(1, 1600))
    np.testing.assert_allclose(feats.numpy(), np.log(1e-6), rtol=1e-6)


@pytest.mark.parametrize("samples", [1, 159, 160, 399, 400, 401, 16000, 64000])
def test_frame_count_formula(samples):
    config = FeatureConfig()
    feats, lengths = LogMel(config)(torch.randn(2, samples))
    expected = 1 + samples // 160
    assert config.num_frames(samples) == expected
    assert tuple(feats.shape) == (2, 40, expected)
    assert lengths.tolist() == [expected, expected]


@pytest.mark.parametrize("samples,frames", [(1, 1), (399, 3), (400, 3)])
@pytest.mark.parametrize("stft", ["fft", "conv"])
def test_shapes_for_tiny_clips(samples, frames, stft):
    feats, lengths = LogMel(stft=stft)(torch.randn(1, samples))
    assert tuple(feats.shape) == (1, 40, frames)
    assert lengths.tolist() == [frames]
    assert torch.isfinite(feats).all()


def test_max_frames():
    assert FeatureConfig().max_samples == 64_000
    assert FeatureConfig().max_frames == 401
    assert FeatureConfig(max_seconds=2.0).max_frames == 201


@pytest.mark.parametrize("stft", ["fft", "conv"])
def test_padding_invariance(stft):
    """A clip alone and the same clip zero-padded in a batch give identical valid frames."""
    rng = np.random.default_rng(3)
    clips = [rng.standard_normal(n).astype(np.float32) * 0.3 for n in (4_321, 16_000, 401)]
    width = 20_000
    batch = torch.from_numpy(np.stack([np.pad(c, (0, width - len(c))) for c in clips]))
    lengths = torch.tensor([len(c) for c in clips])
    logmel = LogMel(stft=stft)

    feats, frame_lengths = logmel(batch, lengths)

    assert feats.shape[-1] == 1 + width // 160
    for i, clip in enumerate(clips):
        alone, n = logmel(torch.from_numpy(clip)[None])
        assert frame_lengths[i].item() == n.item() == alone.shape[-1]
        torch.testing.assert_close(feats[i, :, : n.item()], alone[0], rtol=0, atol=1e-5)


@pytest.mark.filterwarnings("ignore")  # torch.jit.trace's deprecation and tracer warnings
@pytest.mark.parametrize("rows,samples", [(7, 64000), (5, 16000), (3, 200_000)])
def test_cpu_chunking_gives_the_whole_batch_result(rows, samples, monkeypatch):
    """On CPU a batch is computed a few clips at a time (cache-friendly); the result is the
    batch computed at once, row for row."""
    import sertk.features as features

    waves = torch.randn(rows, samples) * 0.1
    chunked, n_chunked = LogMel()(waves)
    monkeypatch.setattr(features, "CPU_CHUNK_SAMPLES", 10**12)  # one call for the batch
    whole, n_whole = LogMel()(waves)
    assert torch.equal(n_chunked, n_whole) and chunked.shape == whole.shape
    torch.testing.assert_close(chunked, whole, rtol=0, atol=1e-5)
    traced = torch.jit.trace(LogMel(), waves[:2])  # a traced graph has no loop
    torch.testing.assert_close(traced(waves)[0], whole, rtol=0, atol=1e-5)


def test_logmel_rejects_bad_shapes():
    with pytest.raises(ValueError, match="B, samples"):
        LogMel()(torch.zeros(16000))
    with pytest.raises(ValueError, match="stft"):
        LogMel(stft="dct")


def test_logmel_accepts_float64_and_keeps_float32_out():
    feats, _ = LogMel()(torch.randn(1, 800, dtype=torch.float64))
    assert feats.dtype == torch.float32


# --- FeatureConfig ---------------------------------------------------------------------------

def test_feature_config_round_trips_through_json():
    config = FeatureConfig(n_mels=64, f_min=20.0, f_max=7600.0, max_seconds=3.5, padding="batch")
    again = FeatureConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert FeatureConfig.from_dict(FeatureConfig().to_dict()) == FeatureConfig()


def test_feature_config_rejects_unknown_keys():
    data = FeatureConfig().to_dict() | {"n_mfcc": 13}
    with pytest.raises(ValueError, match="n_mfcc"):
        FeatureConfig.from_dict(data)


def test_feature_config_normalises_number_types():
    """4 and 4.0 seconds are the same config with the same dict (cache keys depend on it)."""
    assert FeatureConfig(max_seconds=4).to_dict() == FeatureConfig(max_seconds=4.0).to_dict()
    assert isinstance(FeatureConfig(max_seconds=4).max_seconds, float)
    assert isinstance(FeatureConfig(n_mels=np.int64(40)).n_mels, int)


@pytest.mark.parametrize("bad", [
    {"padding": "none"}, {"win_length": 600}, {"win_length": 0}, {"hop_length": 0},
    {"n_mels": 0}, {"max_seconds": 0}, {"n_mels": 40.5}, {"sample_rate": "16000"},
    {"f_max": 9000.0}, {"f_min": 8000.0}, {"log_offset": 0.0},
    {"max_seconds": float("inf")}, {"log_offset": float("nan")}, {"f_max": float("nan")},
    {"n_fft": 10**9}, {"hop_length": 600}, {"n_mels": 300}, {"sample_rate": True},
    {"max_seconds": 0.01}, {"n_fft": 512.5}, {"win_length": None},
])
def test_feature_config_rejects_bad_values(bad):
    with pytest.raises(ValueError):
        FeatureConfig(**bad)


# --- normalisation ---------------------------------------------------------------------------

def test_feature_stats_match_numpy():
    rng = np.random.default_rng(4)
    feats = [rng.normal(loc=np.arange(40)[:, None], scale=2.0, size=(40, n)).astype(np.float32)
             for n in (5, 101, 37)]
    mean, std = feature_stats(feats)
    frames = np.concatenate(feats, axis=1).astype(np.float64)
    np.testing.assert_allclose(mean, frames.mean(axis=1), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, frames.std(axis=1), rtol=1e-5, atol=1e-5)
    assert mean.dtype == std.dtype == np.float32
    # Tensors work too and give the same numbers.
    mean_t, std_t = feature_stats([torch.from_numpy(f) for f in feats])
    np.testing.assert_array_equal(mean_t, mean)


def test_feature_stats_keep_precision_with_large_offsets():
    """Float64 accumulation: a large offset must not wipe out a small variance."""
    feats = [np.full((2, 1000), 1000.0, np.float32) + np.float32(0.01) * (np.arange(1000) % 2)]
    _, std = feature_stats(feats)
    np.testing.assert_allclose(std, 0.005, rtol=0.05)


def test_feature_stats_need_utterances():
    with pytest.raises(ValueError, match="no utterances"):
        feature_stats([])


def test_normalizer_standardises_per_band():
    rng = np.random.default_rng(5)
    feats = [rng.normal(3.0, 4.0, size=(40, 50)).astype(np.float32) for _ in range(3)]
    mean, std = feature_stats(feats)
    norm = FeatureNormalizer(mean, std)
    out = norm(torch.from_numpy(np.stack(feats))).numpy()
    expected = (np.stack(feats) - mean[None, :, None]) / std[None, :, None]
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)
    pooled = out.transpose(1, 0, 2).reshape(40, -1)
    np.testing.assert_allclose(pooled.mean(axis=1), 0.0, atol=1e-4)
    np.testing.assert_allclose(pooled.std(axis=1), 1.0, atol=1e-4)


def test_a_padded_frame_is_normalised_silence_or_normalised_zeros():
    norm = FeatureNormalizer(np.linspace(-12, -2, 40), np.linspace(1, 3, 40))
    silence = (np.log(1e-6) - np.linspace(-12, -2, 40)) / np.linspace(1, 3, 40)
    value = norm.padded_frame(FeatureConfig())
    assert value.shape == (40,)
    np.testing.assert_allclose(value.numpy(), silence, rtol=1e-5)
    masked = norm.padded_frame(FeatureConfig(padding="batch", normalisation="utterance"))
    np.testing.assert_allclose(masked.numpy(), np.linspace(12, 2, 40) / np.linspace(1, 3, 40),
                               rtol=1e-5)


def test_normalizer_guards_zero_std():
    norm = FeatureNormalizer(np.zeros(40), np.zeros(40))
    out = norm(torch.ones(1, 40, 3))
    assert torch.isfinite(out).all()
    assert "mean" in norm.state_dict() and "std" in norm.state_dict()
