"""Speech first: silence and noise are no-speech in every path; timelines cut at pauses."""
from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import soxr

from sertk.cli import main
from sertk.features import FeatureConfig
from sertk.infer import SegmentOptions, load_model, predict_long
from sertk.infer.longform import cut_spans, speech_spans
from sertk.vad import NO_SPEECH, VADOptions

RATE = 16_000
HOP = 0.5


@pytest.fixture(scope="module")
def speech(emodb_dir) -> np.ndarray:
    """A real EmoDB-2s utterance (anger) at 16 kHz."""
    wave, rate = sf.read(emodb_dir / "wav" / "03a01Wa.wav", dtype="float32")
    return soxr.resample(wave, rate, RATE).astype(np.float32)


@pytest.fixture(scope="module")
def talk(speech, tmp_path_factory):
    """speech, 3 s of digital silence, speech: the file and where the pause lies."""
    pause = np.zeros(3 * RATE, np.float32)
    path = tmp_path_factory.mktemp("talk") / "talk.wav"
    sf.write(path, np.concatenate([speech, pause, speech]), RATE)
    return path, speech.size / RATE, speech.size / RATE + 3.0


@pytest.fixture(scope="module")
def predictor(fixed_checkpoint):
    return load_model(fixed_checkpoint, device="cpu")  # voice activity detection on


def _non_speech(kind: str, seconds: float = 3.0) -> np.ndarray:
    n = int(seconds * RATE)
    if kind == "digital silence":
        return np.zeros(n, np.float32)
    return (0.003 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)


@pytest.mark.parametrize("kind", ["digital silence", "low noise"])
def test_non_speech_is_no_speech_in_utterance_mode_and_every_window(predictor, tmp_path, kind):
    wave = _non_speech(kind)
    path = tmp_path / "quiet.wav"
    sf.write(path, wave, RATE)
    assert predictor.predict(wave, RATE).label == NO_SPEECH
    assert predictor.predict_file(path).label == NO_SPEECH
    (result,) = predictor.predict_files([path])
    assert result.ok and result.prediction.label == NO_SPEECH
    assert result.prediction.probabilities == {} and result.prediction.probability is None
    long = predict_long(predictor, path, SegmentOptions(1.0, HOP))
    assert long.ok and len(long.windows) >= 4
    assert {w.prediction.label for w in long.windows} == {NO_SPEECH}
    assert long.prediction.label == NO_SPEECH and long.summary.shares == {NO_SPEECH: 1.0}


def test_without_vad_silence_gets_an_emotion(fixed_checkpoint):
    """The reason for the detector: the model alone answers silence with an emotion."""
    bare = load_model(fixed_checkpoint, device="cpu", vad=False)
    assert bare.predict(_non_speech("digital silence"), RATE).label != NO_SPEECH


def test_speech_is_asked_about(predictor, speech):
    prediction = predictor.predict(speech, RATE)
    assert prediction.label != NO_SPEECH and sum(prediction.probabilities.values()) == \
        pytest.approx(1.0)


def test_the_pause_gets_no_emotion_and_segments_cut_at_its_edges(predictor, talk):
    path, pause_start, pause_end = talk
    result = predict_long(predictor, path, SegmentOptions(1.0, HOP))
    assert result.ok
    inside = [w for w in result.windows if w.start >= pause_start and w.end <= pause_end]
    assert inside and all(w.prediction.label == NO_SPEECH for w in inside)
    silent = [s for s in result.segments if s.label == NO_SPEECH and s.duration > 1.0]
    assert len(silent) == 1
    assert silent[0].start == pytest.approx(pause_start, abs=HOP)
    assert silent[0].end == pytest.approx(pause_end, abs=HOP)
    for segment in result.segments:  # no emotion inside the pause
        if segment.label != NO_SPEECH:
            overlap = min(segment.end, pause_end) - max(segment.start, pause_start)
            assert overlap <= HOP
    assert result.summary.dominant != NO_SPEECH
    assert result.summary.shares[NO_SPEECH] == pytest.approx(
        sum(s.duration for s in result.segments if s.label == NO_SPEECH) / result.duration)


def test_speech_mode_predicts_each_speech_region(predictor, talk):
    path, pause_start, pause_end = talk
    result = predict_long(predictor, path, SegmentOptions(4.0, mode="speech"))
    assert result.ok and len(result.windows) == 2
    first, second = result.windows
    assert first.end == pytest.approx(pause_start, abs=HOP)
    assert second.start == pytest.approx(pause_end, abs=HOP)
    assert all(w.prediction.label != NO_SPEECH for w in result.windows)
    pause = [s for s in result.segments if s.label == NO_SPEECH and s.duration > 1.0]
    assert len(pause) == 1


def test_speech_spans_merge_short_gaps_and_split_long_regions():
    config = FeatureConfig()
    options = SegmentOptions(2.0, mode="speech", min_gap=0.3)
    regions = [(0.0, 1.0), (1.2, 2.0), (3.0, 8.0), (9.0, 9.01)]
    spans = speech_spans(regions, options, config)
    # 0-2 s (gap of 0.2 merged), 3-8 s in three equal pieces, the 10 ms region dropped
    assert spans == [(0, 32000), (48000, 74667), (74667, 101333), (101333, 128000)]


@pytest.mark.parametrize("sizes", [[1000], [7, 13, 999], [50000]])
def test_cut_spans_cuts_what_was_asked_whatever_the_blocks(sizes):
    signal = np.arange(20000, dtype=np.float32)
    blocks, i, k = [], 0, 0
    while i < signal.size:
        size = sizes[k % len(sizes)]
        blocks.append(signal[i:i + size])
        i, k = i + size, k + 1
    spans = [(10, 500), (500, 900), (5000, 19000), (19500, 25000)]
    got = list(cut_spans(iter(blocks), spans))
    assert [(s, w.size) for s, w in got] == [(10, 490), (500, 400), (5000, 14000), (19500, 500)]
    for start, wave in got:
        np.testing.assert_array_equal(wave, signal[start:start + wave.size])


def test_cli_timeline_json_and_plot(fixed_checkpoint, talk, tmp_path, capsys):
    path, pause_start, pause_end = talk
    out = tmp_path / "talk.json"
    assert main(["predict", str(path), "--model", str(fixed_checkpoint), "--segment", "1",
                 "--hop", str(HOP), "--out", str(out), "--plot", str(tmp_path / "plots"),
                 "--no-progress"]) == 0
    (record,) = json.loads(out.read_text())
    labels = [s["label"] for s in record["segments"]]
    assert NO_SPEECH in labels and record["summary"]["dominant"] == record["label"] != NO_SPEECH
    assert sum(record["summary"]["shares"].values()) == pytest.approx(1.0)
    assert record["speech_regions"] and len(record["speech_regions"]) == 2
    png = tmp_path / "plots" / "talk.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"
    assert "timeline:" in capsys.readouterr().err


def test_cli_vad_options_are_checked(fixed_checkpoint, talk, capsys):
    path = str(talk[0])
    for bad in (["--vad", "--no-vad"], ["--speech-fraction", "2"], ["--vad-threshold", "-1"],
                ["--smooth", "2", "--segment", "1"], ["--plot", "x"], ["--vad", "--hop", "1"]):
        assert main(["predict", path, "--model", str(fixed_checkpoint), *bad]) == 2, bad
        assert "error" in capsys.readouterr().err


def test_thresholds_change_the_answer(fixed_checkpoint, speech):
    strict = load_model(fixed_checkpoint, device="cpu", vad=VADOptions(min_speech_fraction=1.0))
    lenient = load_model(fixed_checkpoint, device="cpu", vad=VADOptions(min_speech_fraction=0.0))
    padded = np.concatenate([speech, np.zeros(RATE, np.float32)])[:4 * RATE]
    assert strict.predict(padded, RATE).label == NO_SPEECH
    assert lenient.predict(_non_speech("digital silence"), RATE).label != NO_SPEECH
