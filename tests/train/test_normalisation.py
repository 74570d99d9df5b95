"""Normalisation modes: clip and speaker statistics, the same in training and prediction."""
from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from sertk.data.splits import make_folds
from sertk.features import FeatureConfig, standardise_utterances
from sertk.infer import load_model
from sertk.infer.frontend import SpeakerStatsError
from sertk.infer.speaker import fit_speaker
from sertk.train.config import ConfigError
from sertk.train.datamodule import prenormalise
from sertk.train.fitting import fit
from tests.train.synthetic import write_wav_corpus


def test_standardise_utterances_uses_valid_frames_only():
    rng = np.random.default_rng(0)
    clip = torch.from_numpy(rng.normal(3.0, 2.0, (1, 5, 30)).astype(np.float32))
    alone = standardise_utterances(clip)
    np.testing.assert_allclose(alone.mean(dim=2), 0, atol=1e-5)
    np.testing.assert_allclose(alone.std(dim=2, unbiased=False), 1, atol=1e-4)
    padded = torch.cat([clip, torch.full((1, 5, 20), 99.0)], dim=2)
    inside = standardise_utterances(padded, torch.tensor([30]))
    np.testing.assert_allclose(inside[:, :, :30], alone, atol=1e-5)
    assert torch.all(inside[:, :, 30:] == 0)


def test_prenormalise_per_clip_and_per_speaker(corpus):
    utts, feats = corpus
    config = FeatureConfig(padding="batch", max_seconds=1.0)
    assert all(np.array_equal(prenormalise(feats, utts, config)[u.id], feats[u.id])
               for u in utts)
    per_clip = prenormalise(feats, utts, FeatureConfig(padding="batch", max_seconds=1.0,
                                                       normalisation="utterance"))
    np.testing.assert_allclose(per_clip[utts[0].id].mean(axis=1), 0, atol=1e-5)
    per_speaker = prenormalise(feats, utts, FeatureConfig(padding="batch", max_seconds=1.0,
                                                          normalisation="speaker"))
    frames = np.concatenate([per_speaker[u.id] for u in utts if u.speaker == "s2"], axis=1)
    np.testing.assert_allclose(frames.mean(axis=1), 0, atol=1e-5)
    np.testing.assert_allclose(frames.std(axis=1), 1, atol=1e-4)
    assert not np.allclose(per_speaker[utts[0].id], per_clip[utts[0].id])


def test_normalisation_other_than_fold_needs_batch_padding():
    with pytest.raises(ValueError, match="padding 'batch'"):
        FeatureConfig(normalisation="utterance")


@pytest.fixture(scope="module")
def wav_corpus(tmp_path_factory):
    return write_wav_corpus(tmp_path_factory.mktemp("wavs"), n_speakers=3, per_class=2)


def _fold_probs(directory):
    with open(directory / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return {r["id"]: [float(v) for k, v in r.items() if k.startswith("prob_")] for r in rows}


@pytest.mark.parametrize("mode", ["utterance", "speaker"])
def test_prediction_sees_what_training_saw(tiny, wav_corpus, tmp_path, mode):
    config = tiny.replace(normalisation=mode)
    fold = make_folds(wav_corpus, "lospk")[0]
    result = fit(config, wav_corpus, fold, out_dir=tmp_path / "run")
    expected = _fold_probs(result.directory)
    predictor = load_model(result.directory / "checkpoint", device="cpu", vad=False)
    assert predictor.feature_config.normalisation == mode
    test = [u for u in wav_corpus if u.id in fold.test_ids]
    if mode == "speaker":
        with pytest.raises(SpeakerStatsError, match="speaker normalisation"):
            predictor.probabilities([np.zeros(8000, np.float32)])
        fit_speaker(predictor, [u.path for u in test])  # every recording of the test speaker
    got = predictor.predict_files([u.path for u in test])
    for u, r in zip(test, got):  # float16 cached log-mels in training, float32 here
        np.testing.assert_allclose(list(r.prediction.probabilities.values()), expected[u.id],
                                   atol=2e-3)


def test_speaker_normalisation_needs_speakers(tiny, wav_corpus, tmp_path):
    from dataclasses import replace

    anonymous = [replace(u, speaker="", session="") for u in wav_corpus]
    with pytest.raises(ConfigError, match="needs a speaker"):
        fit(tiny.replace(normalisation="speaker", protocol="kfold", k=2), anonymous, 0,
            out_dir=tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_utterance_models_export_and_speaker_models_are_refused(tiny, wav_corpus, tmp_path):
    from sertk.export import ExportError, export_onnx

    fold = make_folds(wav_corpus, "lospk")[0]
    for mode in ("utterance", "speaker"):
        result = fit(tiny.replace(normalisation=mode), wav_corpus, fold,
                     out_dir=tmp_path / mode)
        if mode == "utterance":
            report = export_onnx(result.directory / "checkpoint", tmp_path / "u.onnx")
            assert report.max_abs_diff <= report.tolerance
        else:
            with pytest.raises(ExportError, match="speaker normalisation"):
                export_onnx(result.directory / "checkpoint", tmp_path / "s.onnx")
            assert not (tmp_path / "s.onnx").exists()


def test_sertk_predict_takes_speaker_statistics_from_its_inputs(tiny, wav_corpus, tmp_path,
                                                                capsys):
    from sertk.cli import main

    fold = make_folds(wav_corpus, "lospk")[1]
    result = fit(tiny.replace(normalisation="speaker"), wav_corpus, fold, out_dir=tmp_path / "r")
    expected = _fold_probs(result.directory)
    test = [u for u in wav_corpus if u.id in fold.test_ids]
    out = tmp_path / "preds.csv"
    assert main(["predict", "--no-vad", *[u.path for u in test], "--model",
                 str(result.directory / "checkpoint"), "--out", str(out)]) == 0
    assert "speaker-normalised" in capsys.readouterr().err
    with open(out, newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    labels = [k[len("prob_"):] for k in next(iter(_rows(result.directory))) if
              k.startswith("prob_")]
    for u in test:  # training read float16 cached log-mels; prediction computes float32 ones
        np.testing.assert_allclose([float(rows[u.path][k]) for k in labels], expected[u.id],
                                   atol=2e-3)


def _rows(directory):
    with open(directory / "predictions.csv", newline="") as fh:
        return list(csv.DictReader(fh))
