"""Embeddings (Predictor.embed, embed_files) from forward_features, on real EmoDB-2s
clips with the bundled model."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sertk.infer.embeddings import embed_files
from tests.infer.emodb import bundled, bundled_no_vad, emodb_clips, read  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def test_embeddings_are_float32_rows_of_the_model_feature_size(bundled, emodb_clips):
    vectors = bundled.embed(emodb_clips)
    hidden = bundled.model.config.hidden
    assert vectors.shape == (len(emodb_clips), 2 * hidden) == (4, 256)
    assert bundled.embedding_size == 2 * hidden
    assert vectors.dtype == np.float32
    assert np.isfinite(vectors).all()
    assert not np.allclose(vectors[0], vectors[1])  # different clips, different vectors


def test_a_clip_alone_equals_the_clip_inside_a_batch(bundled, emodb_clips):
    wave, rate = read(emodb_clips[2])
    short = wave[: int(0.7 * rate)]  # shorter than the others: padded inside the batch
    batch = bundled.embed([emodb_clips[0], short, emodb_clips[1]], [None, rate, None])
    assert np.abs(bundled.embed(short, rate)[0] - batch[1]).max() < 1e-5
    assert np.abs(bundled.embed(emodb_clips[0])[0] - batch[0]).max() < 1e-5
    split = bundled.embed([emodb_clips[0], short, emodb_clips[1]], [None, rate, None],
                          batch_size=1)
    assert np.abs(split - batch).max() < 1e-5


def test_the_head_of_an_embedding_gives_the_model_output(bundled_no_vad, emodb_clips):
    vectors = bundled_no_vad.embed(emodb_clips)
    waves = [bundled_no_vad.load_clip(p) for p in emodb_clips]
    with torch.inference_mode():
        logits = bundled_no_vad.model(*bundled_no_vad.features(waves))
        from_embedding = bundled_no_vad.model.forward_head(torch.from_numpy(vectors))
    assert torch.allclose(from_embedding, logits, atol=1e-4)
    labels = [bundled_no_vad.labels[int(i)] for i in from_embedding.argmax(1)]
    assert labels == [bundled_no_vad.predict_file(p).label for p in emodb_clips]


def test_arrays_and_files_give_the_same_embedding(bundled, emodb_clips, tmp_path):
    wave, rate = read(emodb_clips[3])
    resampled = bundled.load_clip(emodb_clips[3])  # the file at 16 kHz, as prediction reads it
    path16 = tmp_path / "clip16.wav"
    sf.write(path16, resampled, 16_000, subtype="FLOAT")
    from_file = bundled.embed(path16)
    from_array = bundled.embed([resampled], 16_000)
    assert np.abs(from_file - from_array).max() < 1e-6
    stereo = np.stack([resampled, resampled])  # (channels, samples)
    assert np.abs(bundled.embed([stereo], 16_000) - from_array).max() < 1e-5
    assert np.abs(bundled.embed([wave], rate) - bundled.embed(emodb_clips[3])).max() < 1e-3


def test_clips_without_speech_are_embedded_and_flagged(bundled, bundled_no_vad, emodb_clips,
                                                       tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(32_000, np.float32), 16_000)
    missing = tmp_path / "missing.wav"
    results = embed_files(bundled, [emodb_clips[0], silence, missing], batch_size=2)
    assert [r.ok for r in results] == [True, True, False]
    assert [r.speech for r in results[:2]] == [True, False]
    assert bundled.predict_file(silence).label == "no-speech"
    assert results[1].vector.shape == (256,) and np.isfinite(results[1].vector).all()
    assert np.abs(results[0].vector - bundled.embed(emodb_clips[0])[0]).max() < 1e-5
    assert "not found" in results[2].error
    assert [r.speech for r in embed_files(bundled_no_vad, [silence])] == [None]  # no detector


def test_bad_inputs_are_refused_with_a_reason(bundled, emodb_clips):
    with pytest.raises(ValueError, match="sample_rate is required"):
        bundled.embed([np.zeros(16_000, np.float32)])
    with pytest.raises(ValueError, match="ambiguous"):
        bundled.embed(np.zeros((3, 16_000), np.float32), 16_000)
    with pytest.raises(ValueError, match="waveform 1: too short"):
        bundled.embed([np.zeros(16_000, np.float32), np.zeros(5, np.float32)], 16_000)
    with pytest.raises(ValueError, match="batch_size"):
        bundled.embed(emodb_clips, batch_size=0)
    assert bundled.embed([]).shape == (0, 256)


@pytest.mark.parametrize("name", ["ssl-linear", "ssl-proposed"])
def test_ssl_models_embed_like_the_others(tmp_path, name):
    """An SSL model's embedding is the pooled vector its head reads, of the size the
    predictor reports, and a short clip alone equals the same clip inside a batch."""
    from sertk.features import FeatureConfig
    from sertk.infer import load_model
    from sertk.models import create_model, save_checkpoint
    from tests.ssl_encoders import write_tiny_encoder

    encoder = write_tiny_encoder(tmp_path / "enc")
    model = create_model(name, n_classes=3, encoder=str(encoder), hidden=32, n_heads=4).eval()
    path = save_checkpoint(tmp_path / name, model, model_name=name, labels=["a", "b", "c"],
                           feature_config=FeatureConfig(padding="batch", max_seconds=1.0),
                           norm_mean=[], norm_std=[])
    predictor = load_model(path, vad=False)
    rng = np.random.default_rng(3)
    long, short = (rng.standard_normal(n).astype(np.float32) * 0.1 for n in (16000, 5000))
    vectors = predictor.embed([long, short], 16000)
    assert vectors.shape == (2, predictor.embedding_size) and vectors.dtype == np.float32
    assert np.isfinite(vectors).all() and not np.allclose(vectors[0], vectors[1])
    assert np.abs(predictor.embed(short, 16000)[0] - vectors[1]).max() < 1e-5
    with torch.inference_mode():
        logits = predictor.model.forward_head(torch.from_numpy(vectors))
    probs = predictor.probabilities([long, short])
    assert np.abs(torch.softmax(logits, 1).numpy() - probs).max() < 1e-5
