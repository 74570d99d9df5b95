"""Tests for sertk.data.ravdess on the real sample and on made-up folders."""
from __future__ import annotations

from pathlib import Path

import pytest

from sertk.data.ravdess import EMOTIONS, SONG, prepare_ravdess
from sertk.data.validate import CorpusError
from tests.data.bad_audio import write_bad, write_wav


def test_real_sample(ravdess_dir):
    utts = prepare_ravdess(ravdess_dir)
    files = sorted(ravdess_dir.rglob("*.wav"))
    assert len(utts) == len(files) == 10
    assert {u.label for u in utts} == set(EMOTIONS.values())
    assert {(u.speaker, u.session, u.gender) for u in utts} == {("Actor_01", "Actor_01", "M")}
    for u in utts:
        assert u.label == EMOTIONS[u.id.split("-")[2]]
        assert u.corpus == "ravdess" and Path(u.path).is_file()
        assert u.duration == pytest.approx(3.0)
    assert utts.skipped == [] and utts.excluded == {}


def _tree(tmp_path: Path) -> Path:
    root = tmp_path / "Audio_Speech_Actors_01-24"
    for name in ("Actor_01/03-01-05-02-01-01-01", "Actor_02/03-01-08-01-02-02-02",
                 "Actor_02/03-02-06-01-01-01-02"):
        write_wav(root / f"{name}.wav")
    return root


def test_actors_genders_and_song_files(tmp_path):
    root = _tree(tmp_path)
    (root / "Actor_01" / "._03-01-05-02-01-01-01.wav").write_bytes(b"\x00\x05junk")
    speech = prepare_ravdess(tmp_path)  # the parent of the zip's folder works too
    assert [(u.id, u.label, u.speaker, u.gender) for u in speech] == [
        ("03-01-05-02-01-01-01", "angry", "Actor_01", "M"),
        ("03-01-08-01-02-02-02", "surprised", "Actor_02", "F")]
    assert speech.excluded == {SONG: 1, "hidden file": 1}
    both = prepare_ravdess(root, include_song=True)
    assert [u.id for u in both][-1] == "03-02-06-01-01-01-02" and both[-1].label == "fearful"
    assert both.excluded == {"hidden file": 1}


@pytest.mark.parametrize("name,reason", [
    ("Actor_01/03-01-09-01-01-01-01.wav", "unknown RAVDESS emotion 09"),
    ("Actor_01/01-01-03-01-01-01-01.wav", "modality 01 is not audio-only"),
    ("Actor_01/03-03-03-01-01-01-01.wav", "unknown vocal channel 03"),
    ("Actor_01/03-01-03-01-01-01-02.wav", "says actor 02 but it is in Actor_01/"),
    ("Actor_25/03-01-03-01-01-01-25.wav", "unknown RAVDESS actor 25"),
    ("Actor_01/recording.wav", "MM-VV-EE-II-SS-RR-AA"),
])
def test_bad_names(tmp_path, name, reason):
    root = _tree(tmp_path)
    bad = write_wav(root / name)
    with pytest.raises(CorpusError) as err:
        prepare_ravdess(root)
    assert str(bad) in str(err.value) and reason in str(err.value)
    utts = prepare_ravdess(root, skip_bad=True)
    assert len(utts) == 2 and len(utts.skipped) == 1
    assert utts.skipped[0].path == str(bad) and reason in utts.skipped[0].reason


def test_bad_audio_and_missing_root(tmp_path):
    root = _tree(tmp_path)
    bad = root / "Actor_01" / "03-01-01-01-01-01-01.wav"
    reason = write_bad("nan", bad)
    with pytest.raises(CorpusError, match=reason):
        prepare_ravdess(root)
    assert prepare_ravdess(root, skip_bad=True).skipped[0].path == str(bad)
    with pytest.raises(CorpusError, match="not found"):
        prepare_ravdess(tmp_path / "nope")
