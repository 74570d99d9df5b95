"""Tests for ``sertk prepare``."""
from __future__ import annotations

import csv

from sertk.cli import main
from sertk.data.manifest import read_manifest
from tests.data.bad_audio import write_bad, write_wav


def test_emodb_table_and_manifest(emodb_dir, tmp_path, capsys):
    out = tmp_path / "emodb.jsonl"
    assert main(["prepare", "emodb", str(emodb_dir), "-o", str(out)]) == 0
    text = capsys.readouterr().out
    lines = text.splitlines()
    header = lines[0].split()
    assert header[0] == "speaker" and header[-1] == "total" and "anger" in header
    total = next(line.split() for line in lines if line.startswith("total"))
    assert total[-1] == "535" and sum(map(int, total[1:-1])) == 535
    assert len([line for line in lines if line[:2].isdigit()]) == 10  # one row per speaker
    assert f"wrote 535 utterances to {out}" in text
    assert len(read_manifest(out)) == 535


def test_default_output_is_corpus_csv_in_cwd(ravdess_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["prepare", "ravdess", str(ravdess_dir)]) == 0
    assert len(read_manifest(tmp_path / "ravdess.csv")) == 10
    assert "Actor_01" in capsys.readouterr().out


def test_skip_bad_prints_and_lists(tmp_path, capsys):
    write_wav(tmp_path / "data" / "happy" / "a.wav")
    bad = tmp_path / "data" / "sad" / "b.wav"
    reason = write_bad("truncated", bad)
    out = tmp_path / "m.csv"
    assert main(["prepare", "folder", str(tmp_path / "data"), "-o", str(out), "--skip-bad"]) == 0
    text = capsys.readouterr().out
    assert "skipped 1 bad files" in text and f"{bad}: {reason}" in text
    with open(tmp_path / "m.skipped.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows[0]["path"] == str(bad) and rows[0]["reason"].startswith(reason)
    assert [u.id for u in read_manifest(out)] == ["happy/a"]


def test_errors_are_one_line_without_traceback(tmp_path, capsys):
    write_wav(tmp_path / "data" / "happy" / "a.wav")
    bad = tmp_path / "data" / "sad" / "b.wav"
    write_bad("not audio", bad)
    out = tmp_path / "m.csv"
    for argv in (["prepare", "folder", str(tmp_path / "data"), "-o", str(out)],
                 ["prepare", "emodb", str(tmp_path / "nope"), "-o", str(out)],
                 ["prepare", "emodb", str(tmp_path), "--labels", "a,b"]):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("sertk prepare: error: ") and err.count("\n") == 1
        assert "Traceback" not in err
    assert not out.exists()


def test_labels_and_header_only_options(tmp_path, capsys):
    write_wav(tmp_path / "data" / "happy" / "a.wav")
    write_bad("nan", tmp_path / "data" / "sad" / "b.wav")
    out = str(tmp_path / "m.csv")
    assert main(["prepare", "folder", str(tmp_path / "data"), "-o", out, "--header-only"]) == 0
    assert len(read_manifest(out)) == 2  # headers only: NaN samples not seen
    assert main(["prepare", "folder", str(tmp_path / "data"), "-o", out, "--labels",
                 "happy", "--header-only"]) == 1
    assert "label 'sad' is not one of happy" in capsys.readouterr().err
