"""top_k in the Hugging Face audio-classification shape, and batches of clips at
different sample rates, on real EmoDB-2s clips with the bundled model."""
from __future__ import annotations

import numpy as np
import pytest
import soxr

import sertk
from sertk.infer import Prediction
from tests.infer.emodb import bundled, bundled_no_vad, emodb_clips, read  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def _ranked(prediction: Prediction) -> list[tuple[str, float]]:
    """The labels by probability, highest first, computed without Prediction.top."""
    labels = list(prediction.probabilities)
    probs = np.array([prediction.probabilities[k] for k in labels])
    order = np.argsort(-probs, kind="stable")
    return [(labels[i], float(probs[i])) for i in order]


def test_top_k_is_the_probabilities_sorted_highest_first(bundled_no_vad, emodb_clips):
    for path in emodb_clips:
        prediction = bundled_no_vad.predict_file(path)
        top = prediction.top(3)
        assert [set(item) for item in top] == [{"label", "score"}] * 3
        assert [(t["label"], t["score"]) for t in top] == _ranked(prediction)[:3]
        assert top[0]["label"] == prediction.label
        assert top[0]["score"] >= top[1]["score"] >= top[2]["score"]


def test_top_k_above_the_label_count_or_none_gives_every_label(bundled_no_vad, emodb_clips):
    prediction = bundled_no_vad.predict_file(emodb_clips[0])
    labels = bundled_no_vad.labels
    for k in (None, len(labels), 100):
        top = prediction.top(k)
        assert sorted(t["label"] for t in top) == sorted(labels)
        assert sum(t["score"] for t in top) == pytest.approx(1.0, abs=1e-5)


def test_api_and_predictor_return_the_pipeline_shape(bundled_no_vad, emodb_clips):
    path = emodb_clips[1]
    expected = bundled_no_vad.predict_file(path).top(2)
    assert sertk.predict(path, model=None, device="cpu", vad=False, top_k=2) == expected
    wave, rate = read(path)
    from_array = sertk.predict(wave, rate, device="cpu", vad=False, top_k=2)
    assert [t["label"] for t in from_array] == [t["label"] for t in expected]
    assert bundled_no_vad.predict(wave, rate, top_k=2) == from_array
    assert isinstance(bundled_no_vad.predict(wave, rate), Prediction)  # no top_k: unchanged


def test_a_clip_without_speech_is_no_speech_with_score_one(bundled):
    silence = np.zeros(16_000, np.float32)
    assert bundled.predict(silence, 16_000, top_k=3) == [{"label": "no-speech", "score": 1.0}]
    assert sertk.predict(silence, 16_000, device="cpu", top_k=1) == [
        {"label": "no-speech", "score": 1.0}]


def test_equal_scores_keep_the_model_label_order():
    prediction = Prediction("b", {"a": 0.2, "b": 0.4, "c": 0.4})
    assert [t["label"] for t in prediction.top()] == ["b", "c", "a"]


@pytest.mark.parametrize("k", [0, -1, 1.5, True, "2"])
def test_a_bad_top_k_is_refused(bundled_no_vad, k):
    with pytest.raises(ValueError, match="top_k must be a positive integer"):
        Prediction("a", {"a": 1.0}).top(k)
    with pytest.raises(ValueError, match="top_k"):
        bundled_no_vad.predict(np.zeros(8000, np.float32), 16_000, top_k=k)


# --- batches of clips at different sample rates ------------------------------------------

def test_a_batch_may_give_one_rate_per_clip(bundled_no_vad, emodb_clips):
    clips = []
    for path, rate in zip(emodb_clips[:3], (8_000, 22_050, 44_100)):
        wave, native = read(path)
        clips.append((soxr.resample(wave, native, rate).astype(np.float32), rate))
    clips[0] = (clips[0][0][: len(clips[0][0]) // 2], clips[0][1])  # lengths differ too
    batch = bundled_no_vad.predict_batch([w for w, _ in clips], [r for _, r in clips])
    for (wave, rate), got in zip(clips, batch):
        alone = bundled_no_vad.predict(wave, rate)
        assert got.label == alone.label
        for label in bundled_no_vad.labels:
            assert got.probabilities[label] == pytest.approx(alone.probabilities[label],
                                                             abs=1e-5)
    # the per-clip rate matters: the 44.1 kHz clip read as 8 kHz is another signal
    wrong = bundled_no_vad.predict(clips[2][0], 8_000)
    assert wrong.probabilities != pytest.approx(batch[2].probabilities, abs=1e-3)
    tops = bundled_no_vad.predict_batch([w for w, _ in clips], [r for _, r in clips], top_k=1)
    assert [t[0]["label"] for t in tops] == [p.label for p in batch]


def test_rates_must_match_the_clips(bundled_no_vad):
    clips = [np.zeros(8000, np.float32)] * 3
    with pytest.raises(ValueError, match="2 rates for 3 waveforms"):
        bundled_no_vad.predict_batch(clips, [16_000, 8_000])


def test_a_bad_clip_of_a_batch_is_named(bundled_no_vad):
    with pytest.raises(ValueError, match="waveform 1: too short"):
        bundled_no_vad.predict_batch([np.zeros(8000, np.float32), np.zeros(10, np.float32)],
                                     [16_000, 16_000])
