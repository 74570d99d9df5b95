"""Predictor: probabilities, training-equal features, batches, bad files, threads, devices."""
from __future__ import annotations

import math
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import sertk
from sertk.audio import AudioError, prepare_waveform
from sertk.data.cache import logmel_batch
from sertk.features import FeatureNormalizer, LogMel
from sertk.infer import ModelNotFoundError, Prediction, Predictor, bundled, load_model
from sertk.models import CheckpointError
from sertk.padding import pad_features
from tests.infer.bad_files import write_all
from tests.infer.tiny import LABELS, make_checkpoint, speech_like, write_clip


def test_predict_gives_a_distribution_over_the_checkpoint_labels(predictor):
    prediction = predictor.predict(speech_like(1.3), 16_000)
    assert list(prediction.probabilities) == LABELS
    probs = np.array(list(prediction.probabilities.values()))
    assert np.all(probs >= 0) and math.isclose(probs.sum(), 1.0, abs_tol=1e-6)
    assert prediction.label == LABELS[int(np.argmax(probs))]
    assert prediction.probability == max(probs)


def test_features_are_the_training_features(predictor):
    """Log-mels of the clip alone, normalised, padded with normalised silence (fixed) or
    to the batch's longest clip (batch), exactly as sertk.data and sertk.train build them."""
    waves = [speech_like(s, seed=i) for i, s in enumerate([0.7, 2.2, 5.0])]
    ckpt = predictor.checkpoint
    cfg = ckpt.feature_config
    clipped = [w[: cfg.max_samples] for w in waves]
    normalizer = FeatureNormalizer(ckpt.norm_mean, ckpt.norm_std)
    feats = [normalizer(torch.from_numpy(f)[None])[0] for f in logmel_batch(clipped, LogMel(cfg))]
    silence = normalizer(torch.full((1, 40, 1), math.log(cfg.log_offset)))[0, :, 0]
    frames = max(f.shape[1] for f in feats) if cfg.padding == "batch" else cfg.max_frames
    expected = pad_features(feats, frames, silence)

    got, lengths = predictor.features(waves)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    if cfg.padding == "batch":
        assert lengths.tolist() == [f.shape[1] for f in feats]
    else:
        assert lengths is None and got.shape[2] == cfg.max_frames


def test_a_clip_gets_the_same_prediction_alone_and_in_a_batch(predictor):
    waves = [speech_like(s, seed=i) for i, s in enumerate([0.4, 1.9, 3.1, 6.0])]
    together = predictor.probabilities(waves)
    alone = np.concatenate([predictor.probabilities([w]) for w in waves])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    assert not np.allclose(together[0], together[1], atol=1e-3)  # the clips differ


def test_predict_prepares_any_rate_and_channels(predictor):
    wave = speech_like(1.5, rate=44_100)
    stereo = (np.stack([wave, wave], axis=1) * 32767).astype(np.int16)
    got = predictor.predict(stereo, 44_100)
    expected = predictor.probabilities([prepare_waveform(wave, 44_100)])[0]
    np.testing.assert_allclose(list(got.probabilities.values()), expected, atol=1e-3)


@pytest.mark.parametrize("bad", [np.zeros(0, np.float32), np.full(100, np.nan, np.float32),
                                 np.zeros((10, 2, 2), np.float32)])
def test_predict_refuses_unusable_waveforms(predictor, bad):
    with pytest.raises(AudioError):
        predictor.predict(bad, 16_000)


def test_predict_files_reports_each_bad_file_and_predicts_the_rest(predictor, tmp_path):
    expected = write_all(tmp_path / "bad")
    good = [write_clip(tmp_path / f"good{i}.wav", 0.5 + i, seed=i) for i in range(3)]
    paths = [good[0], *expected, good[1], good[2]]
    results = predictor.predict_files(paths, batch_size=4)

    assert [r.path for r in results] == [str(p) for p in paths]
    for path, result in zip(paths, results):
        words = expected.get(path)
        if words is None:  # a good, silent, 8-bit, float64... file
            assert result.ok and result.error is None, (path, result.error)
            probs = list(result.prediction.probabilities.values())
            assert np.isfinite(probs).all() and math.isclose(sum(probs), 1.0, abs_tol=1e-6)
        else:
            assert not result.ok and result.prediction is None
            assert words.lower() in result.error.lower(), (path, result.error)
    for path, result in zip(good, [results[0], results[-2], results[-1]]):
        single = predictor.predict_file(path)
        np.testing.assert_allclose(list(result.prediction.probabilities.values()),
                                   list(single.probabilities.values()), atol=1e-5)


def test_long_files_are_predicted_from_their_first_max_seconds(predictor, tmp_path):
    path = write_clip(tmp_path / "long.wav", seconds=30.0)
    result = predictor.predict_files([path])[0]
    assert result.duration == pytest.approx(30.0)
    expected = predictor.predict(speech_like(30.0)[: 4 * 16_000], 16_000)
    np.testing.assert_allclose(list(result.prediction.probabilities.values()),
                               list(expected.probabilities.values()), atol=1e-4)


def test_a_failing_batch_is_retried_file_by_file(predictor, tmp_path, monkeypatch):
    paths = [write_clip(tmp_path / f"c{i}.wav", 1.0 + i, seed=i) for i in range(3)]
    real = Predictor.outputs  # the one model call of every prediction path

    def flaky(self, waves):
        if len(waves) > 1 or len(waves[0]) == 32_000:  # the batch and the 2 s clip fail
            raise RuntimeError("simulated out of memory")
        return real(self, waves)

    monkeypatch.setattr(Predictor, "outputs", flaky)
    results = predictor.predict_files(paths, batch_size=8)
    assert [r.ok for r in results] == [True, False, True]
    assert "simulated out of memory" in results[1].error


def test_predictions_from_several_threads_equal_the_serial_ones(predictor, tmp_path):
    paths = [write_clip(tmp_path / f"c{i}.wav", 0.6 + 0.45 * i, seed=i) for i in range(6)]
    waves = [speech_like(0.3 + 0.7 * i, seed=i) for i in range(6)]
    serial_files = predictor.predict_files(paths, batch_size=3)
    serial_waves = [predictor.predict_batch(waves[i:], 16_000) for i in range(3)]
    results: dict[int, object] = {}
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(k: int):
        try:
            start.wait()
            for _ in range(2):
                results[k] = (predictor.predict_files(paths, batch_size=3) if k % 2 == 0
                              else predictor.predict_batch(waves[k // 2:], 16_000))
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 6
    for k, got in results.items():
        if k % 2 == 0:
            assert [r.prediction for r in got] == [r.prediction for r in serial_files]
        else:
            expected = serial_waves[k // 2]
            for a, b in zip(got, expected):
                assert a.label == b.label
                np.testing.assert_allclose(list(a.probabilities.values()),
                                           list(b.probabilities.values()), atol=1e-6)


def test_load_model_reads_a_checkpoint_directory(fixed_checkpoint):
    predictor = load_model(fixed_checkpoint, device="cpu", vad=False)
    assert isinstance(predictor, Predictor)
    assert predictor.labels == tuple(LABELS) and predictor.device.type == "cpu"
    assert not predictor.model.training


def test_load_model_without_a_bundled_model_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(ModelNotFoundError, match="emodb.*bundled models: none installed"):
        load_model()
    with pytest.raises(ModelNotFoundError, match="nope"):
        load_model("nope")


def test_load_model_finds_bundled_models_by_name(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "PRETRAINED_DIR", tmp_path / "pretrained")
    make_checkpoint(tmp_path / "pretrained" / "emodb")
    make_checkpoint(tmp_path / "pretrained" / "other", seed=3)
    assert bundled.list_bundled() == ["emodb", "other"]
    default = load_model(device="cpu", vad=False)
    by_name = load_model("emodb", device="cpu", vad=False)
    other = load_model("other", device="cpu", vad=False)
    wave = speech_like(1.0)
    assert default.predict(wave, 16_000) == by_name.predict(wave, 16_000)
    assert other.predict(wave, 16_000) != default.predict(wave, 16_000)


def test_a_bundled_name_wins_over_a_folder_that_is_not_a_checkpoint(tmp_path, monkeypatch):
    monkeypatch.setattr(bundled, "PRETRAINED_DIR", tmp_path / "pretrained")
    make_checkpoint(tmp_path / "pretrained" / "emodb")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "emodb" / "wav").mkdir(parents=True)  # a corpus folder, not a checkpoint
    assert bundled.resolve_model("emodb") == tmp_path / "pretrained" / "emodb"
    make_checkpoint(tmp_path / "local" / "emodb")
    monkeypatch.chdir(tmp_path / "local")  # a checkpoint directory wins over the bundled one
    assert bundled.resolve_model("emodb").resolve() == (tmp_path / "local" / "emodb").resolve()


def test_load_model_refuses_a_directory_that_is_not_a_checkpoint(tmp_path):
    (tmp_path / "junk").mkdir()
    with pytest.raises(CheckpointError, match="junk"):
        load_model(tmp_path / "junk")


def test_sertk_predict_loads_once_and_predicts_paths_and_arrays(fixed_checkpoint, tmp_path):
    path = write_clip(tmp_path / "a.wav", 1.2)
    from_path = sertk.predict(path, model=fixed_checkpoint, device="cpu")
    from_array = sertk.predict(speech_like(1.2), 16_000, model=fixed_checkpoint, device="cpu")
    assert isinstance(from_path, Prediction)
    np.testing.assert_allclose(list(from_path.probabilities.values()),
                               list(from_array.probabilities.values()), atol=1e-4)
    with pytest.raises(ValueError, match="sample_rate"):
        sertk.predict(speech_like(1.0), model=fixed_checkpoint, device="cpu")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_predictions_equal_cpu_predictions(batch_checkpoint):
    waves = [speech_like(s, seed=i) for i, s in enumerate([0.5, 2.0, 4.5])]
    cpu = load_model(batch_checkpoint, device="cpu", vad=False).probabilities(waves)
    cuda = load_model(batch_checkpoint, device="cuda")
    assert next(cuda.model.parameters()).is_cuda
    np.testing.assert_allclose(cuda.probabilities(waves), cpu, atol=1e-4)


def test_real_emodb_clips_get_confident_distinct_predictions(emodb_dir, fixed_checkpoint):
    paths = sorted((emodb_dir / "wav").glob("*.wav"))[:6]
    results = load_model(fixed_checkpoint, device="cpu", vad=False).predict_files(paths)
    assert all(r.ok for r in results)
    probs = np.array([list(r.prediction.probabilities.values()) for r in results])
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-6)
    assert len({tuple(np.round(p, 4)) for p in probs}) == len(paths)
    assert all(r.duration == pytest.approx(2.0) for r in results)
    assert Path(results[0].path).name.endswith(".wav")
