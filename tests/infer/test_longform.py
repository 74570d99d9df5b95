"""Sliding-window prediction over long recordings: window policy, times, flat memory."""
from __future__ import annotations

import gc
import itertools
import math
import tracemalloc

import re

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import prepare_waveform
from sertk.infer import SegmentOptions, iter_windows, predict_long
from sertk.features import FeatureConfig
from sertk.infer.longform import WindowOptionError, cut_windows
from tests.infer.tiny import speech_like


def _blocks(signal: np.ndarray, sizes: list[int]):
    start = 0
    for size in sizes * (signal.size // max(1, sum(sizes)) + 2):
        if start >= signal.size:
            return
        yield signal[start:start + size]
        start += size


@pytest.mark.parametrize("total, segment, hop, min_last, expected", [
    (100, 20, 20, 5, [(0, 20), (20, 20), (40, 20), (60, 20), (80, 20)]),  # exact fit
    (107, 20, 20, 5, [(0, 20), (20, 20), (40, 20), (60, 20), (80, 20), (100, 7)]),  # tail kept
    (103, 20, 20, 5, [(0, 20), (20, 20), (40, 20), (60, 20), (80, 20)]),  # tail < min_last
    (50, 20, 10, 5, [(0, 20), (10, 20), (20, 20), (30, 20), (40, 10)]),  # overlapping
    (12, 20, 10, 15, [(0, 12)]),  # shorter than one window: the only window is kept
    (75, 10, 30, 0, [(0, 10), (30, 10), (60, 10)]),  # hop > segment leaves gaps
])
@pytest.mark.parametrize("sizes", [[1], [7], [13, 2, 40], [1000]])
def test_cut_windows_follows_the_policy_whatever_the_block_sizes(total, segment, hop, min_last,
                                                                 expected, sizes):
    signal = np.arange(total, dtype=np.float32)
    windows = list(cut_windows(_blocks(signal, sizes), segment, hop, min_last))
    assert [(start, w.size) for start, w in windows] == expected
    for start, w in windows:
        np.testing.assert_array_equal(w, signal[start:start + w.size])


def test_windows_have_times_and_equal_predictions_of_the_same_samples(predictor, tmp_path):
    wave = speech_like(9.3, seed=4)
    path = tmp_path / "talk.wav"
    sf.write(path, wave, 16_000, subtype="FLOAT")
    result = predict_long(predictor, path, SegmentOptions(2.0, 1.0, batch_size=3))

    assert result.ok and result.duration == pytest.approx(9.3)
    starts = [w.start for w in result.windows]
    ends = [w.end for w in result.windows]
    assert starts == [float(s) for s in range(9)]
    assert ends == [float(s + 2) for s in range(8)] + [pytest.approx(9.3)]
    for window in result.windows:
        clip = wave[round(window.start * 16_000):round(window.end * 16_000)]
        expected = predictor.predict(clip, 16_000)
        np.testing.assert_allclose(list(window.prediction.probabilities.values()),
                                   list(expected.probabilities.values()), atol=1e-5)
    # the whole file: each window owns the time up to the midpoints between window centres
    centres = np.array([(w.start + w.end) / 2 for w in result.windows])
    bounds = np.concatenate([[0.0], (centres[:-1] + centres[1:]) / 2, [9.3]])
    owned = np.diff(bounds)
    probs = np.array([list(w.prediction.probabilities.values()) for w in result.windows])
    mean = (probs * owned[:, None]).sum(axis=0) / owned.sum()
    np.testing.assert_allclose(list(result.prediction.probabilities.values()), mean, atol=1e-9)
    time_per_label = {}
    for w, t in zip(result.windows, owned):
        time_per_label[w.prediction.label] = time_per_label.get(w.prediction.label, 0) + t
    assert result.prediction.label == max(time_per_label, key=time_per_label.get)
    assert result.summary.shares == pytest.approx({k: v / 9.3 for k, v in time_per_label.items()})
    assert sum(s.duration for s in result.segments) == pytest.approx(9.3)


def test_resampled_stereo_recordings_match_the_prepared_audio(predictor, tmp_path):
    wave = speech_like(6.0, rate=44_100, seed=2)
    stereo = np.stack([wave, 0.5 * wave], axis=1)
    path = tmp_path / "stereo.flac"
    sf.write(path, stereo, 44_100, subtype="PCM_24")
    result = predict_long(predictor, path, SegmentOptions(3.0))
    assert [(w.start, w.end) for w in result.windows] == [(0.0, 3.0), (3.0, 6.0)]
    prepared = prepare_waveform(stereo, 44_100)
    for window, clip in zip(result.windows, [prepared[:48_000], prepared[48_000:]]):
        expected = predictor.predict(clip, 16_000)
        np.testing.assert_allclose(list(window.prediction.probabilities.values()),
                                   list(expected.probabilities.values()), atol=1e-3)


def test_silence_and_a_short_file_still_get_predictions(predictor, tmp_path):
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16_000 * 5, np.int16), 16_000)
    short = tmp_path / "short.wav"
    sf.write(short, speech_like(0.3), 16_000)
    for path, n_windows in [(silent, 3), (short, 1)]:
        result = predict_long(predictor, path, SegmentOptions(2.0))
        assert result.ok and len(result.windows) == n_windows
        for window in result.windows:
            assert math.isclose(sum(window.prediction.probabilities.values()), 1.0, abs_tol=1e-6)


def test_a_bad_block_ends_the_file_with_an_error_naming_the_time(predictor, tmp_path):
    wave = speech_like(25.0)
    wave[16_000 * 21] = np.nan
    path = tmp_path / "nan.wav"
    sf.write(path, wave, 16_000, subtype="FLOAT")
    result = predict_long(predictor, path, SegmentOptions(4.0))
    assert not result.ok and "NaN" in result.error and "21.00 s" in result.error
    assert result.prediction is None
    assert [w.start for w in result.windows] == [0.0, 4.0, 8.0, 12.0, 16.0]  # the first block


@pytest.mark.parametrize("kind, words", [("missing", "file not found"), ("text", "not a readable")])
def test_unreadable_files_give_an_error_result(predictor, tmp_path, kind, words):
    path = tmp_path / "x.wav"
    if kind == "text":
        path.write_text("hello")
    result = predict_long(predictor, path, SegmentOptions(2.0))
    assert not result.ok and words in result.error and result.windows == ()


def test_windows_longer_than_the_model_sees_are_refused(predictor, tmp_path):
    with pytest.raises(ValueError, match="longer than the 4 s"):
        predict_long(predictor, tmp_path / "any.wav", SegmentOptions(4.5))
    with pytest.raises(ValueError):
        SegmentOptions(2.0, hop=0.0)


@pytest.mark.parametrize("options, option, words", [
    (dict(segment=2.0, hop=0.00001), "hop", "less than one sample"),  # 0.16 samples: no progress
    (dict(segment=2.0, hop=0.00003), "hop", "less than one sample"),  # rounds to 0
    (dict(segment=2.0, hop=math.inf), "hop", "finite"),
    (dict(segment=2.0, hop=-math.inf), "hop", "finite"),
    (dict(segment=2.0, hop=math.nan), "hop", "finite"),
    (dict(segment=2.0, hop=1e305), "hop", "too large"),  # finite, but not in samples
    (dict(segment=2.0, min_last=math.inf), "min_last", "finite"),
    (dict(segment=2.0, min_last=math.nan), "min_last", "finite"),
    (dict(segment=2.0, min_last=2.5), "min_last", "within [0, segment"),
    (dict(segment=2.0, min_last=-0.1), "min_last", "within [0, segment"),
    (dict(segment=1e-5), "segment", "shorter than one analysis window"),
    (dict(segment=0.0249), "segment", "shorter than one analysis window"),  # 398 samples
    (dict(segment=math.nan), "segment", "finite"),
    (dict(segment=math.inf), "segment", "finite"),
    (dict(segment=0.0), "segment", "positive"),
    (dict(segment="2"), "segment", "number"),
    (dict(segment=2.0, batch_size=0), "batch_size", ">= 1"),
])
def test_window_options_are_checked_in_samples_before_any_audio_is_read(predictor, tmp_path,
                                                                       options, option, words):
    """A missing file would give an error result: raising proves nothing was read."""
    with pytest.raises(WindowOptionError, match=re.escape(words)) as info:
        predict_long(predictor, tmp_path / "missing.wav", SegmentOptions(**options))
    assert info.value.option == option and str(info.value).startswith(option)
    with pytest.raises(WindowOptionError):
        iter_windows(predictor, tmp_path / "missing.wav", SegmentOptions(**options))
    with pytest.raises(ValueError):  # and through the Predictor method
        predictor.predict_long(tmp_path / "missing.wav", **options)


def test_the_smallest_valid_window_options_are_accepted():
    config = FeatureConfig()
    samples = SegmentOptions(0.025, hop=1 / 16_000, min_last=0.025).samples(config)
    assert tuple(samples) == (400, 1, 400)
    # min_last below one analysis window is raised to it: no window of a few samples
    assert SegmentOptions(4.0, min_last=0.0).samples(config).min_last == 400
    # the default min_last (0.5 s) never exceeds a shorter segment
    assert SegmentOptions(0.3).samples(config) == (4_800, 4_800, 4_800)


def test_cut_windows_refuses_a_hop_that_would_never_advance():
    with pytest.raises(ValueError, match="at least one sample"):
        list(itertools.islice(cut_windows(iter([np.zeros(100, np.float32)]), 10, 0), 1000))
    with pytest.raises(ValueError, match="at least one sample"):
        list(itertools.islice(cut_windows(iter([np.zeros(100, np.float32)]), 0, 5), 1000))


def _write_long(path, minutes: float, rate: int = 8_000) -> None:
    """A long int16 file written in one-minute chunks (never held in memory)."""
    minute = (speech_like(60.0, rate=rate) * 32767).astype(np.int16)
    with sf.SoundFile(path, "w", rate, 1, subtype="PCM_16") as f:
        for _ in range(int(minutes)):
            f.write(minute)


def _peak_traced(predictor, path, options) -> tuple[int, int]:
    gc.collect()
    tracemalloc.start()
    try:
        count = sum(1 for _ in iter_windows(predictor, path, options))
        return tracemalloc.get_traced_memory()[1], count
    finally:
        tracemalloc.stop()


def test_memory_stays_flat_as_the_recording_grows(fixed_checkpoint, tmp_path):
    """Peak traced memory (numpy buffers included) for 12 minutes is that of 2 minutes."""
    from sertk.infer import load_model

    predictor = load_model(fixed_checkpoint, device="cpu", vad=False)
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    _write_long(short, 2)
    _write_long(long, 12)
    options = SegmentOptions(4.0, batch_size=16)
    peak_short, n_short = _peak_traced(predictor, short, options)
    peak_long, n_long = _peak_traced(predictor, long, options)
    assert (n_short, n_long) == (30, 180)
    print(f"peak traced memory: 2 min {peak_short / 1e6:.1f} MB, 12 min {peak_long / 1e6:.1f} MB")
    assert peak_long < 1.05 * peak_short + 250_000, (peak_short, peak_long)
    assert peak_long < 20_000_000  # 12 minutes at 16 kHz would be 46 MB of float32
