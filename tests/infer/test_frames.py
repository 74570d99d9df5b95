"""predict_frame: a DataFrame indexed by (file, start, end) like audinterface/opensmile,
on real EmoDB-2s clips with the bundled model."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

import sertk
from sertk.infer import SegmentOptions, predict_long
from sertk.infer.longform import WindowOptionError
from tests.infer.emodb import bundled, bundled_no_vad, emodb_clips, read  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def _seconds(frame: pd.DataFrame, level: str) -> np.ndarray:
    return frame.index.get_level_values(level).total_seconds().to_numpy()


def test_utterance_mode_has_one_row_per_file_spanning_the_audio_used(bundled, emodb_clips,
                                                                       tmp_path):
    long_clip = tmp_path / "five_seconds.wav"  # longer than the 4 s the model sees
    waves = [read(p) for p in emodb_clips[:3]]
    sf.write(long_clip, np.concatenate([w for w, _ in waves])[: 5 * 22_050], 22_050)
    paths = [*emodb_clips, long_clip]
    frame = bundled.predict_frame(paths)

    assert list(frame.index.names) == ["file", "start", "end"]
    assert list(frame.columns) == ["label", *bundled.labels, "error"]
    assert [str(level.dtype) for level in frame.index.levels[1:]] == ["timedelta64[ns]"] * 2
    assert list(frame.index.get_level_values("file")) == [str(p) for p in paths]
    assert frame.index.is_unique
    assert list(_seconds(frame, "start")) == [0.0] * 5
    durations = [sf.info(p).duration for p in paths]
    assert list(_seconds(frame, "end")) == pytest.approx([min(d, 4.0) for d in durations])
    assert list(_seconds(frame, "end"))[-1] == pytest.approx(4.0)
    for path, (_, row) in zip(paths, frame.iterrows()):
        expected = bundled.predict_file(path)
        assert row["label"] == expected.label
        assert row["error"] is None
        for label in bundled.labels:
            assert row[label] == pytest.approx(expected.probabilities[label], abs=1e-6)
        assert sum(row[label] for label in bundled.labels) == pytest.approx(1.0, abs=1e-5)


def test_a_failed_file_is_a_row_with_its_error_and_no_end(bundled, emodb_clips, tmp_path):
    missing = tmp_path / "missing.wav"
    frame = bundled.predict_frame([emodb_clips[0], missing])
    assert len(frame) == 2
    row = frame.xs(str(missing), level="file").iloc[0]
    assert "not found" in row["error"]
    assert pd.isna(row["label"])
    assert row[list(bundled.labels)].isna().all()
    assert pd.isna(frame.index.get_level_values("end")[1])  # NaT: end unknown
    assert frame.iloc[0]["error"] is None


def test_no_speech_rows_have_the_label_and_no_probabilities(bundled, tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(32_000, np.float32), 16_000)
    row = bundled.predict_frame(silence).iloc[0]
    assert row["label"] == "no-speech"
    assert row[list(bundled.labels)].isna().all()
    assert row["error"] is None


def test_segment_mode_has_one_row_per_window_with_the_window_values(bundled, emodb_clips):
    paths = emodb_clips[:2]
    frame = bundled.predict_frame(paths, segment=1.0, hop=0.5)
    assert list(frame.index.names) == ["file", "start", "end"]
    assert frame.index.is_unique
    for path in paths:
        rows = frame.xs(str(path), level="file")
        result = predict_long(bundled, path, SegmentOptions(1.0, 0.5))
        starts = rows.index.get_level_values("start").total_seconds().to_numpy()
        ends = rows.index.get_level_values("end").total_seconds().to_numpy()
        # a 2 s file: windows at 0, 0.5, 1.0 s and a last partial one at 1.5 s
        assert starts == pytest.approx([0.0, 0.5, 1.0, 1.5])
        assert ends == pytest.approx([1.0, 1.5, 2.0, 2.0])
        assert list(rows["label"]) == [w.prediction.label for w in result.windows]
        for (_, row), window in zip(rows.iterrows(), result.windows):
            for label in bundled.labels:
                expected = window.prediction.probabilities.get(label, np.nan)
                assert row[label] == pytest.approx(expected, abs=1e-6, nan_ok=True)


def test_folders_are_expanded_and_the_api_gives_the_same_frame(bundled_no_vad, emodb_clips,
                                                                tmp_path):
    folder = tmp_path / "clips"
    folder.mkdir()
    for path in emodb_clips[:2]:
        (folder / path.name).write_bytes(path.read_bytes())
    frame = sertk.predict_frame(folder, device="cpu", vad=False)
    assert sorted(frame.index.get_level_values("file")) == sorted(
        str(folder / p.name) for p in emodb_clips[:2])
    direct = bundled_no_vad.predict_frame(sorted(folder.iterdir()))
    pd.testing.assert_frame_equal(frame.sort_index(), direct.sort_index())


def test_window_options_are_checked_before_any_file(bundled, tmp_path):
    with pytest.raises(ValueError, match="need segment"):
        bundled.predict_frame(tmp_path / "missing.wav", hop=0.5)
    with pytest.raises(WindowOptionError, match="hop"):
        bundled.predict_frame(tmp_path / "missing.wav", segment=1.0, hop=0.0)
