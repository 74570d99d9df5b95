"""Tests for sertk.data.prepare: the recipe registry, manifest writing and the count table."""
from __future__ import annotations

import csv

import pytest

from sertk.data.manifest import Utterance, read_manifest
from sertk.data.prepare import PREPARERS, count_table, prepare_corpus, skipped_path
from sertk.data.validate import CorpusError
from tests.data.bad_audio import write_bad, write_wav


def test_registry_names_every_recipe():
    assert set(PREPARERS) == {"iemocap", "emodb", "ravdess", "folder", "csv"}


def _folder(tmp_path):
    for name in ("angry/a.wav", "angry/b.wav", "sad/c.wav"):
        write_wav(tmp_path / "data" / name)
    return tmp_path / "data"


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_prepare_corpus_writes_a_readable_manifest(tmp_path, suffix):
    out = tmp_path / "out" / f"m{suffix}"
    prepared = prepare_corpus("folder", _folder(tmp_path), out)
    assert read_manifest(out) == list(prepared)
    assert not skipped_path(out).exists()


def test_skipped_files_are_listed_beside_the_manifest(tmp_path):
    root = _folder(tmp_path)
    reason = write_bad("empty", root / "sad" / "d.wav")
    out = tmp_path / "m.csv"
    with pytest.raises(CorpusError, match=reason):
        prepare_corpus("folder", root, out)
    assert not out.exists()
    prepared = prepare_corpus("folder", root, out, skip_bad=True)
    assert len(read_manifest(out)) == len(prepared) == 3
    listing = skipped_path(out)
    assert listing.name == "m.skipped.csv"
    with open(listing, newline="") as fh:
        assert list(csv.DictReader(fh)) == [{"path": str(root / "sad" / "d.wav"), "reason": reason
                                             + " (0 bytes)"}]
    (root / "sad" / "d.wav").unlink()
    prepare_corpus("folder", root, out, skip_bad=True)
    assert not listing.exists()  # a stale list is removed


def test_nothing_usable_is_an_error_but_the_list_is_written(tmp_path):
    write_bad("empty", tmp_path / "data" / "sad" / "x.wav")
    out = tmp_path / "m.csv"
    with pytest.raises(CorpusError, match="no usable utterances"):
        prepare_corpus("folder", tmp_path / "data", out, skip_bad=True)
    assert skipped_path(out).exists() and not out.exists()


def test_unknown_corpus(tmp_path):
    with pytest.raises(CorpusError, match="unknown corpus 'timit'"):
        prepare_corpus("timit", tmp_path, tmp_path / "m.csv")


def test_count_table_rows_columns_and_totals():
    utts = [Utterance(f"u{i}", "x.wav", label, speaker=spk)
            for i, (label, spk) in enumerate([("sad", "s2"), ("angry", "s1"), ("sad", "s1"),
                                              ("sad", "")])]
    lines = count_table(utts).splitlines()
    assert lines[0].split() == ["speaker", "angry", "sad", "total"]
    assert [line.split() for line in lines[1:]] == [
        ["(none)", "0", "1", "1"], ["s1", "1", "1", "2"], ["s2", "0", "1", "1"],
        ["total", "1", "3", "4"]]
