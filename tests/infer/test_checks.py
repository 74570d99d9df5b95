"""The checks every prediction path shares: minimum length, finite outputs, array layouts.

Each is held for every path: an array (``predict``), a file (``predict_file``), a batch
(``predict_files``), sliding windows (``predict_long``) and the lazy window stream
(``iter_windows``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf

import sertk
from sertk.audio import AudioError
from sertk.infer import Prediction, SegmentOptions, iter_windows, predict_long
from sertk.infer.output import write_results
from sertk.infer.predictor import ModelOutputError
from tests.infer.tiny import LABELS, nan_for_sound, speech_like, write_clip

TOO_SHORT = "too short"


def _strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)


# --- inputs shorter than one analysis window ---------------------------------------------

@pytest.mark.parametrize("samples, rate", [(1, 16_000), (399, 16_000), (8, 8_000),
                                           (1, 44_100)])
def test_arrays_shorter_than_one_analysis_window_are_refused(predictor, samples, rate):
    wave = speech_like(samples / rate + 1e-9, rate=rate)[:samples]
    with pytest.raises(AudioError, match=TOO_SHORT):
        predictor.predict(wave, rate)
    with pytest.raises(AudioError, match=TOO_SHORT):
        predictor.predict_batch([speech_like(1.0), wave], rate)


def test_one_analysis_window_is_enough(predictor):
    min_samples = predictor.feature_config.min_samples
    assert min_samples == 400  # 25 ms at 16 kHz
    prediction = predictor.predict(speech_like(1.0)[:min_samples], 16_000)
    assert prediction.label in LABELS


@pytest.mark.parametrize("samples", [1, 10, 399])
def test_short_files_are_refused_by_every_file_path(predictor, tmp_path, samples):
    path = tmp_path / "short.wav"
    sf.write(path, speech_like(1.0)[:samples], 16_000, subtype="FLOAT")
    message = f"too short: {samples} samples < 400"
    with pytest.raises(AudioError, match=message):
        predictor.predict_file(path)
    result = predictor.predict_files([path])[0]
    assert result.prediction is None and message in result.error
    long = predict_long(predictor, path, SegmentOptions(2.0, min_last=0.0))
    assert long.prediction is None and long.windows == () and message in long.error
    with pytest.raises(AudioError, match=message):
        list(iter_windows(predictor, path, SegmentOptions(2.0)))


def test_a_last_window_shorter_than_one_analysis_window_is_dropped(predictor, tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, speech_like(2.1)[:32_000 + 100], 16_000, subtype="FLOAT")  # 2 s + 100 samples
    result = predict_long(predictor, path, SegmentOptions(1.0, min_last=0.0))
    assert result.ok and [(w.start, w.end) for w in result.windows] == [(0.0, 1.0), (1.0, 2.0)]
    sf.write(path, speech_like(2.1)[:32_000 + 400], 16_000, subtype="FLOAT")  # one window more
    result = predict_long(predictor, path, SegmentOptions(1.0, min_last=0.0))
    assert len(result.windows) == 3 and result.windows[-1].end == pytest.approx(2.025)


# --- non-finite model output ---------------------------------------------------------------

@pytest.fixture()
def nan_predictor(fixed_checkpoint):
    return nan_for_sound(fixed_checkpoint)


def test_a_prediction_cannot_hold_non_finite_probabilities():
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ModelOutputError, match="model produced non-finite output"):
            Prediction.from_probabilities(LABELS[:2], np.array([bad, 0.5]))
        with pytest.raises(ModelOutputError):
            Prediction("anger", {"anger": bad, "sadness": 0.0})


def test_non_finite_output_is_an_error_in_every_path(nan_predictor, tmp_path):
    sound = write_clip(tmp_path / "sound.wav", 1.5)
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(24_000, np.int16), 16_000)
    with pytest.raises(ModelOutputError, match="model produced non-finite output"):
        nan_predictor.predict(speech_like(1.0), 16_000)
    with pytest.raises(ModelOutputError):
        nan_predictor.predict_file(sound)
    assert nan_predictor.predict_file(silence).label in LABELS  # the model itself works

    results = nan_predictor.predict_files([sound, silence, sound], batch_size=3)
    assert [r.error for r in results] == ["model produced non-finite output", None,
                                          "model produced non-finite output"]
    assert results[0].prediction is None and results[1].prediction.label in LABELS


def test_non_finite_windows_end_the_file_with_an_error_naming_the_window(nan_predictor, tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, np.concatenate([np.zeros(32_000, np.float32), speech_like(2.0)]), 16_000,
             subtype="FLOAT")
    result = predict_long(nan_predictor, path, SegmentOptions(1.0, batch_size=4))
    assert not result.ok and result.prediction is None
    assert result.error == "model produced non-finite output (window 2.00-3.00 s)"
    assert [(w.start, w.end) for w in result.windows] == [(0.0, 1.0), (1.0, 2.0)]
    with pytest.raises(ModelOutputError, match=r"window 2\.00-3\.00 s"):
        list(iter_windows(nan_predictor, path, SegmentOptions(1.0)))
    records = _strict_json(write_results([result], tmp_path / "o.json", LABELS).read_text())
    assert records[0]["label"] is None and "non-finite" in records[0]["error"]


# --- array layouts ---------------------------------------------------------------------------

def _probs(prediction: Prediction) -> list[float]:
    return list(prediction.probabilities.values())


@pytest.mark.parametrize("channels", [1, 2, 6, 8])
def test_channels_first_and_samples_first_arrays_give_the_same_prediction(predictor, channels):
    wave = speech_like(1.5, rate=22_050)
    samples_first = np.stack([wave * (1 - 0.1 * c) for c in range(channels)], axis=1)
    expected = predictor.predict(samples_first.mean(axis=1), 22_050)
    for layout in (samples_first, samples_first.T, np.ascontiguousarray(samples_first.T)):
        np.testing.assert_allclose(_probs(predictor.predict(layout, 22_050)), _probs(expected),
                                   atol=1e-4)


@pytest.mark.parametrize("shape", [(9, 16_000), (16_000, 9), (100, 100), (40, 24_000)])
def test_ambiguous_2d_arrays_are_refused_saying_which_layouts_are_accepted(predictor, shape):
    data = np.random.default_rng(0).standard_normal(shape).astype(np.float32) * 0.1
    with pytest.raises(AudioError, match=r"ambiguous array .*\(samples,\) mono, or "
                                         r"\(samples, channels\) / \(channels, samples\)"):
        predictor.predict(data, 16_000)


def test_sertk_predict_accepts_the_documented_layouts(fixed_checkpoint):
    stereo = np.stack([speech_like(1.0), speech_like(1.0, seed=3)])  # (2, samples)
    a = sertk.predict(stereo, 16_000, model=fixed_checkpoint, device="cpu")
    b = sertk.predict(stereo.T, 16_000, model=fixed_checkpoint, device="cpu")
    np.testing.assert_allclose(_probs(a), _probs(b), atol=1e-5)
    with pytest.raises(AudioError, match="ambiguous"):
        sertk.predict(np.zeros((32, 16_000), np.float32), 16_000, model=fixed_checkpoint,
                      device="cpu")
    with pytest.raises(AudioError, match=TOO_SHORT):
        sertk.predict(np.zeros(1, np.float32), 16_000, model=fixed_checkpoint, device="cpu")
