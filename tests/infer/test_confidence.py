"""Calibrated probabilities (the checkpoint's temperature) and abstention (min_confidence:
``uncertain``) in every prediction path: clips, files, windows, the API and the CLI."""
from __future__ import annotations

import csv

import numpy as np
import pytest

import sertk
from sertk.cli import main as sertk_main
from sertk.infer import Predictor, SegmentOptions, predict_long
from sertk.infer.predictor import UNCERTAIN, Prediction
from sertk.models import load_checkpoint, save_checkpoint
from tests.infer.tiny import make_checkpoint, speech_like, write_clip
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def _with_temperature(source, target, temperature):
    c = load_checkpoint(source)
    return save_checkpoint(target, c.model, model_name=c.model_name, labels=c.labels,
                           feature_config=c.feature_config, norm_mean=c.norm_mean,
                           norm_std=c.norm_std, temperature=temperature)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("conf") / "tiny", padding="batch")


def test_probabilities_are_divided_by_the_checkpoint_temperature(tiny, tmp_path):
    waves = [speech_like(1.0, seed=s) for s in range(3)]
    plain = Predictor(load_checkpoint(tiny), device="cpu").probabilities(waves)
    hot = Predictor(load_checkpoint(_with_temperature(tiny, tmp_path / "t", 3.0)),
                    device="cpu").probabilities(waves)
    expected = np.exp(np.log(plain) / 3.0)
    expected /= expected.sum(1, keepdims=True)
    assert np.allclose(hot, expected, atol=1e-5)
    assert not np.allclose(hot, plain, atol=1e-3)
    assert (hot.argmax(1) == plain.argmax(1)).all()  # same labels, softer probabilities


def test_prediction_below_min_confidence_is_uncertain_with_its_probabilities():
    p = Prediction.from_probabilities(["a", "b"], np.array([0.6, 0.4]))
    assert p.abstaining(0.5) is p
    unsure = p.abstaining(0.7)
    assert unsure.label == UNCERTAIN and unsure.probabilities == p.probabilities
    assert unsure.is_speech and unsure.probability is None
    assert Prediction.no_speech().abstaining(1.0).label == "no-speech"


def test_min_confidence_in_clip_file_and_window_paths(tiny, tmp_path):
    predictor = Predictor(load_checkpoint(tiny), device="cpu")
    clip = write_clip(tmp_path / "a.wav", seconds=3.0)
    before = predictor.predict_file(clip)
    predictor.min_confidence = 1.0  # every emotion is below certainty
    after = predictor.predict_file(clip)
    assert after.label == UNCERTAIN and after.probabilities == before.probabilities
    [row] = predictor.predict_files([str(clip)], progress=False)
    assert row.prediction.label == UNCERTAIN
    assert predictor.predict(speech_like(1.0), 16000).label == UNCERTAIN
    long = predict_long(predictor, clip, SegmentOptions(1.0, 1.0))
    assert long.windows and all(w.prediction.label == UNCERTAIN for w in long.windows)
    assert long.summary.dominant == UNCERTAIN
    predictor.min_confidence = 0.0
    assert predictor.predict_file(clip).label == before.label != UNCERTAIN


def test_api_min_confidence(tiny, tmp_path):
    clip = write_clip(tmp_path / "a.wav")
    assert sertk.predict(clip, model=tiny, vad=False, min_confidence=1.0).label == UNCERTAIN
    top = sertk.predict(clip, model=tiny, vad=False, min_confidence=1.0, top_k=2)
    assert len(top) == 2 and top[0]["label"] != UNCERTAIN  # the ranking stays the model's
    assert sertk.predict(clip, model=tiny, vad=False).label != UNCERTAIN
    for bad in (-0.1, 1.5, float("nan"), "0.5", True):
        with pytest.raises(ValueError, match="min_confidence"):
            sertk.predict(clip, model=tiny, vad=False, min_confidence=bad)


def test_cli_min_confidence(tiny, tmp_path, capsys):
    clip = write_clip(tmp_path / "a.wav")
    out = tmp_path / "p.csv"
    assert sertk_main(["predict", str(clip), "--model", str(tiny), "--no-vad", "--no-progress",
                       "--min-confidence", "1", "--out", str(out)]) == 0
    [row] = list(csv.DictReader(out.open()))
    assert row["label"] == UNCERTAIN and float(row["anger"]) > 0
    capsys.readouterr()
    assert sertk_main(["predict", str(clip), "--model", str(tiny), "--min-confidence",
                       "1.5"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--min-confidence must be a probability in [0, 1]" in err
