"""Tests for sertk.data.emodb on the real EmoDB copy and on made-up folders."""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from sertk.data.emodb import EMOTIONS, SPEAKER_GENDER, prepare_emodb
from sertk.data.validate import CorpusError
from tests.data.bad_audio import BAD_AUDIO, write_bad, write_wav

# /work/shared/data/README.md: counts of the emotion letters in emodb-2s
README_COUNTS = {"W": 127, "L": 81, "N": 79, "F": 71, "A": 69, "T": 62, "E": 46}
GOOD = ["03a01Wa", "08b02Fb", "16a05Tc"]


def test_real_emodb(emodb_dir):
    utts = prepare_emodb(emodb_dir)
    assert len(utts) == 535 and len({u.id for u in utts}) == 535
    assert Counter(u.label for u in utts) == {EMOTIONS[k]: n for k, n in README_COUNTS.items()}
    assert {u.speaker for u in utts} == set(SPEAKER_GENDER) and len(SPEAKER_GENDER) == 10
    assert sorted(Counter(SPEAKER_GENDER.values()).values()) == [5, 5]
    for u in utts:
        assert u.session == u.speaker == u.id[:2]
        assert u.gender == SPEAKER_GENDER[u.speaker]
        assert u.label == EMOTIONS[u.id[5]]
        assert u.corpus == "emodb" and Path(u.path).is_file()
        assert u.duration == pytest.approx(2.0)
    assert utts.skipped == [] and utts.excluded == {}


def _write(folder: Path, names=GOOD) -> None:
    for name in names:
        write_wav(folder / f"{name}.wav")


def test_canonical_and_flat_layouts_agree(tmp_path):
    _write(tmp_path / "release" / "wav")
    (tmp_path / "release" / "erkennung.txt").write_text("not read")
    (tmp_path / "release" / "lablaut").mkdir()
    _write(tmp_path / "flat")
    (tmp_path / "flat" / "README.txt").write_text("x")
    (tmp_path / "flat" / "._03a01Wa.wav").write_bytes(b"\x00\x05junk")
    canonical, flat = prepare_emodb(tmp_path / "release"), prepare_emodb(tmp_path / "flat")
    strip = lambda utts: [(u.id, u.label, u.speaker, u.gender, u.duration) for u in utts]
    assert strip(canonical) == strip(flat)
    assert [(u.id, u.label, u.gender) for u in flat] == [
        ("03a01Wa", "anger", "M"), ("08b02Fb", "happiness", "F"), ("16a05Tc", "sadness", "F")]
    assert flat.excluded == {"hidden file": 1, "not a .wav file": 1}


def test_missing_or_empty_root(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        prepare_emodb(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no EmoDB .wav files"):
        prepare_emodb(tmp_path)


def _bad_cases():
    cases = [(kind, "09a01Na.wav", kind) for kind in BAD_AUDIO]
    cases += [
        ("unknown emotion letter", "09a01Xa.wav", "unknown EmoDB emotion letter 'X'"),
        ("unknown speaker", "99a01Wa.wav", "unknown EmoDB speaker '99'"),
        ("bad name", "hello.wav", "SSTTTEV.wav"),
        ("duplicate id", "03a01Wa.WAV", "duplicate id '03a01Wa'"),
    ]
    return cases


@pytest.mark.parametrize("kind,name,reason", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_bad_file_stops_or_is_skipped(tmp_path, kind, name, reason):
    _write(tmp_path)
    bad = tmp_path / name
    if kind in BAD_AUDIO:
        reason = write_bad(kind, bad)
    else:
        write_wav(bad)
    with pytest.raises(CorpusError) as err:
        prepare_emodb(tmp_path)
    assert str(bad) in str(err.value) and reason in str(err.value)
    utts = prepare_emodb(tmp_path, skip_bad=True)
    skipped = {s.path: s.reason for s in utts.skipped}
    assert str(bad) in skipped and reason in skipped[str(bad)]
    if kind == "duplicate id":  # both copies go, each naming the other
        assert str(tmp_path / "03a01Wa.wav") in skipped[str(bad)]
        assert [u.id for u in utts] == GOOD[1:]
    else:
        assert [u.id for u in utts] == GOOD and len(skipped) == 1
