"""Tests for sertk.data.manifest's optional dimension columns (arousal, valence, dominance)."""
from __future__ import annotations

import json

import pytest

from sertk.data.manifest import (DIMENSIONS, ManifestError, Utterance, check_dimensions,
                                 read_manifest, write_manifest)


def _utts(tmp_path, **ratings):
    return [Utterance(f"u{i}", str(tmp_path / f"u{i}.wav"), "a",
                      **{k: v[i] for k, v in ratings.items()}) for i in range(3)]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_ratings_round_trip_with_some_columns_and_empty_cells(tmp_path, suffix):
    utts = _utts(tmp_path, arousal=[1.5, None, 4.25], valence=[2.0, 3.0, 5.0])
    path = write_manifest(utts, tmp_path / f"m{suffix}")
    back = read_manifest(path)
    assert [(u.arousal, u.valence, u.dominance) for u in back] == [
        (1.5, 2.0, None), (None, 3.0, None), (4.25, 5.0, None)]
    text = path.read_text()
    assert "dominance" not in text  # a dimension nobody is rated on gets no column
    if suffix == ".csv":
        assert text.splitlines()[0].endswith(",arousal,valence")


def test_a_manifest_without_ratings_is_written_as_before(tmp_path):
    path = write_manifest(_utts(tmp_path), tmp_path / "m.csv")
    assert path.read_text().splitlines()[0] == "id,path,label,speaker,session,gender,duration,corpus"
    assert all(u.arousal is None for u in read_manifest(path))


@pytest.mark.parametrize("value", ["high", "nan", "inf", "-Infinity", "1,5"])
def test_a_non_numeric_rating_names_the_row_and_column(tmp_path, value):
    path = tmp_path / "m.csv"
    path.write_text(f'id,path,label,valence\nu0,u0.wav,a,2\nu1,u1.wav,a,"{value}"\n')
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert str(err.value) == f"{path}:3: valence {value!r} is not a finite number"


@pytest.mark.parametrize("value", [True, "x", [1.0], float("nan")])
def test_a_non_numeric_json_rating_is_refused(tmp_path, value):
    path = tmp_path / "m.jsonl"
    row = {"id": "u0", "path": "u0.wav", "label": "a", "dominance": value}
    path.write_text(json.dumps(row) + "\n")
    with pytest.raises(ManifestError, match=r"m\.jsonl:1: dominance .* is not a finite number"):
        read_manifest(path)


def test_check_dimensions_names_what_is_missing(tmp_path):
    utts = _utts(tmp_path, arousal=[1.0, None, 2.0], valence=[1.0, 2.0, 3.0])
    check_dimensions(utts, ["valence"])
    with pytest.raises(ManifestError, match=r"1 utterance\(s\) have no arousal rating: u1"):
        check_dimensions(utts, ["valence", "arousal"])
    with pytest.raises(ManifestError, match="the manifest has no dominance column"):
        check_dimensions(utts, ["dominance"])
    with pytest.raises(ManifestError, match="unknown dimension 'joy'"):
        check_dimensions(utts, ["joy"])
    assert DIMENSIONS == ("arousal", "valence", "dominance")
