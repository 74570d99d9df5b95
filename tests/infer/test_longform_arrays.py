"""Long recordings held in memory: predict_long and iter_windows accept arrays and cut
them through the same streaming code as files (real EmoDB-2s speech with pauses)."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import soxr

from sertk.infer import SegmentOptions, iter_windows, predict_long
from sertk.infer.stream import BLOCK_SECONDS
from tests.infer.emodb import bundled, bundled_no_vad, emodb_clips, read  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)

RATE = 16_000


@pytest.fixture(scope="module")
def recording(emodb_clips) -> np.ndarray:
    """About 13 s at 16 kHz (longer than one streaming block): four clips, 1.5 s pauses."""
    pause = np.zeros(int(1.5 * RATE), np.float32)
    parts = []
    for path in emodb_clips:
        wave, rate = read(path)
        parts += [soxr.resample(wave, rate, RATE).astype(np.float32), pause]
    audio = np.concatenate(parts)
    assert audio.size > BLOCK_SECONDS * RATE
    return audio


def _same_windows(a, b):
    assert [(w.start, w.end, w.prediction.label) for w in a] == \
        [(w.start, w.end, w.prediction.label) for w in b]
    for x, y in zip(a, b):
        assert x.prediction.probabilities == pytest.approx(y.prediction.probabilities, abs=1e-6)


def test_an_array_gives_what_the_same_file_gives(bundled, recording, tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, recording, RATE, subtype="FLOAT")
    options = SegmentOptions(2.0, 1.0)
    from_file = predict_long(bundled, path, options)
    from_array = bundled.predict_long(recording, 2.0, 1.0, sample_rate=RATE)
    assert from_file.ok and from_array.ok
    assert from_array.path == "<array>"
    _same_windows(from_array.windows, from_file.windows)
    assert from_array.duration == pytest.approx(from_file.duration)
    assert from_array.regions == from_file.regions
    assert [(s.start, s.end, s.label) for s in from_array.segments] == \
        [(s.start, s.end, s.label) for s in from_file.segments]
    assert from_array.summary == from_file.summary
    labels = {w.prediction.label for w in from_array.windows}
    assert "no-speech" in labels and labels - {"no-speech"}  # pauses and speech both seen


def test_speech_mode_and_other_layouts_and_rates(bundled, recording):
    mono = predict_long(bundled, recording, SegmentOptions(4.0, mode="speech"),
                        sample_rate=RATE, name="talk")
    assert mono.path == "talk" and mono.ok
    assert len(mono.regions) >= 4  # four utterances separated by pauses
    stereo = predict_long(bundled, np.stack([recording, recording]),
                          SegmentOptions(4.0, mode="speech"), sample_rate=RATE)
    _same_windows(stereo.windows, mono.windows)
    at_48k = soxr.resample(recording, RATE, 48_000).astype(np.float32)
    upsampled = predict_long(bundled, at_48k, SegmentOptions(2.0, 1.0), sample_rate=48_000)
    plain = predict_long(bundled, recording, SegmentOptions(2.0, 1.0), sample_rate=RATE)
    assert [(w.start, w.end) for w in upsampled.windows] == \
        [(w.start, w.end) for w in plain.windows]
    agree = np.mean([a.prediction.label == b.prediction.label
                     for a, b in zip(upsampled.windows, plain.windows)])
    assert agree >= 0.8  # the same audio, resampled twice: (nearly) the same labels


def test_iter_windows_takes_an_array(bundled_no_vad, recording, tmp_path):
    path = tmp_path / "talk.wav"
    sf.write(path, recording, RATE, subtype="FLOAT")
    options = SegmentOptions(3.0, 2.5)
    _same_windows(list(iter_windows(bundled_no_vad, recording, options, sample_rate=RATE)),
                  list(iter_windows(bundled_no_vad, path, options)))


def test_bad_arrays(bundled):
    with pytest.raises(ValueError, match="sample_rate is required"):
        predict_long(bundled, np.zeros(RATE, np.float32), SegmentOptions(1.0))
    bad = np.zeros(RATE, np.float32)
    bad[100] = np.nan
    result = predict_long(bundled, bad, SegmentOptions(1.0), sample_rate=RATE)
    assert not result.ok and "NaN" in result.error and result.path == "<array>"
    short = predict_long(bundled, np.zeros(50, np.float32), SegmentOptions(1.0),
                         sample_rate=RATE)
    assert "too short" in short.error
