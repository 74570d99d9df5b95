"""Manifests that cannot be trusted: clear errors naming file, line, id or label; nothing dropped.

From reading a manifest, through ``sertk prepare`` (a CSV list with missing files, duplicate
ids and unknown labels), the protocols (a single class, a class absent from a training part)
to training itself (``fit`` with a fold that never trains on a class, labels that do not
cover the manifest, ``sertk cv`` on a manifest whose audio files are missing).
"""
from __future__ import annotations

import csv
import json
import os
from dataclasses import replace

import pytest

from sertk.cli import main
from sertk.data.manifest import (ManifestError, Utterance, label_names, read_manifest,
                                  write_manifest)
from sertk.data.splits import Fold, SplitError, make_folds
from sertk.train.config import TrainConfig
from sertk.train.fitting import fit
from tests.data.bad_audio import write_wav
from tests.reliability.conftest import TINY_CV
from tests.train.synthetic import synthetic_corpus

ROW = {"id": "a", "path": "a.wav", "label": "happy"}


@pytest.mark.parametrize("name,content,words", [
    ("dupes.csv", "id,path,label\nx,1.wav,h\ny,2.wav,s\nx,3.wav,h\n", "duplicate utterance ids (1): x"),
    ("nolabel.csv", "id,path,label\nx,1.wav,h\ny,2.wav,\n", "nolabel.csv:3: missing label"),
    ("nolabelcol.csv", "id,path\nx,1.wav\n", "nolabelcol.csv:2: missing label"),
    ("nopath.jsonl", json.dumps({"id": "x", "label": "h"}) + "\n", "nopath.jsonl:1: missing path"),
    ("empty.csv", "id,path,label\n", "manifest has no utterances"),
    ("broken.jsonl", json.dumps(ROW) + "\n\n{not json\n", "broken.jsonl:3: not valid JSON"),
    ("list.jsonl", "[1, 2]\n", "list.jsonl:1: expected a JSON object"),
    ("duration.csv", "id,path,label,duration\nx,1.wav,h,long\n", "duration 'long' is not a number"),
])
def test_bad_manifests_name_file_and_line(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_binary_or_missing_manifest(tmp_path):
    (tmp_path / "bin.csv").write_bytes(b"\xff\xfe\x00\x01garbage")
    with pytest.raises(ManifestError, match="not a UTF-8 text manifest"):
        read_manifest(tmp_path / "bin.csv")
    with pytest.raises(ManifestError, match="manifest not found"):
        read_manifest(tmp_path / "nope.csv")


def test_prepare_lists_every_bad_row_and_keeps_the_rest(tmp_path, capsys):
    """Missing file, duplicate id, unknown label: each listed with its reason; counts add up."""
    good = [write_wav(tmp_path / "audio" / f"{k}.wav") for k in range(4)]
    rows = [{"path": str(good[0]), "label": "happy", "id": "u0"},
            {"path": str(good[1]), "label": "sad", "id": "u1"},
            {"path": str(tmp_path / "audio" / "gone.wav"), "label": "sad", "id": "u2"},
            {"path": str(good[2]), "label": "angry", "id": "u3"},  # not an allowed label
            {"path": str(good[3]), "label": "happy", "id": "u1"}]  # id of another row
    listing = tmp_path / "list.csv"
    with open(listing, "w", newline="") as fh:
        writer = csv.DictWriter(fh, ["path", "label", "id"])
        writer.writeheader()
        writer.writerows(rows)
    out = tmp_path / "m.csv"
    argv = ["prepare", "csv", str(listing), "-o", str(out), "--labels", "happy,sad"]
    assert main(argv) == 1  # without --skip-bad the first bad row stops it, named
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"{good[2]}: label 'angry'" in err and not out.exists()

    assert main([*argv, "--skip-bad"]) == 0
    kept = read_manifest(out)
    with open(tmp_path / "m.skipped.csv", newline="") as fh:
        skipped = list(csv.DictReader(fh))
    assert [u.id for u in kept] == ["u0"]
    assert len(kept) + len(skipped) == len(rows)  # nothing silently dropped
    reasons = " | ".join(r["reason"] for r in skipped)
    assert "file not found" in reasons and "'angry'" in reasons and "duplicate id 'u1'" in reasons
    printed = capsys.readouterr().out
    assert f"skipped {len(skipped)} bad files" in printed


def _utts(labels: str, speakers: int = 3) -> list[Utterance]:
    return [Utterance(f"u{i:02d}", f"/x/u{i}.wav", label, speaker=f"s{i % speakers}")
            for i, label in enumerate(labels)]


@pytest.mark.parametrize("protocol", ["kfold", "lospk"])
def test_a_single_class_cannot_be_split(protocol):
    with pytest.raises(SplitError, match="at least 2 classes"):
        make_folds(_utts("a" * 12), protocol, k=3)


def test_a_class_absent_from_a_training_part_is_refused():
    utts = _utts("aaabbbaaabbbc", speakers=3)  # class c: one speaker, so it is tested once
    with pytest.raises(SplitError, match="class.*c absent from the training part"):
        make_folds(utts, "lospk", val_speakers=0)


# --- training ----------------------------------------------------------------------------

@pytest.fixture
def tiny(tmp_path) -> TrainConfig:
    return TrainConfig.of(model="base7", model_args={"hidden": 8}, protocol="lospk", max_epochs=1,
                       batch_size=8, padding="batch", max_seconds=1.0, progress_bar=False,
                       cache_dir=str(tmp_path / "cache"), num_threads=1)


def test_fit_refuses_a_fold_that_never_trains_on_a_class(tiny, tmp_path):
    """A hand-made fold (fit accepts any Fold) whose training part lacks a class."""
    tiny = tiny.replace(protocol="kfold")  # no speaker constraints on this split
    utterances, features = synthetic_corpus()
    train = [u.id for u in utterances if u.speaker in ("s1", "s2") and u.label != "sad"]
    val = [u.id for u in utterances if u.speaker == "s3"]
    test = [u.id for u in utterances if u.speaker == "s4"]
    left_out = [u.id for u in utterances if u.speaker in ("s1", "s2") and u.label == "sad"]
    fold = Fold(0, "custom", tuple(train), tuple(val), tuple(test + left_out))
    with pytest.raises(SplitError, match="custom: class.*sad absent from the training part"):
        fit(tiny, utterances, fold, out_dir=tmp_path / "run", features=features)
    assert not (tmp_path / "run" / "fold-00" / "checkpoint").exists()


@pytest.mark.parametrize("labels,words", [
    (["ang", "hap", "neu"], "label(s) 'sad' (12) are not among the classes"),
    (["ang"], "at least 2 distinct classes"),
    (["ang", "hap", "neu", "sad", "sad"], "at least 2 distinct classes"),
])
def test_fit_refuses_labels_that_do_not_cover_the_manifest(tiny, tmp_path, labels, words):
    utterances, features = synthetic_corpus()
    with pytest.raises(SplitError) as err:
        fit(tiny, utterances, 0, out_dir=tmp_path / "run", features=features, labels=labels)
    assert words in str(err.value)


def test_cv_lists_every_missing_audio_file_and_trains_nothing(wav_corpus, tmp_path, capsys):
    utterances, _ = wav_corpus
    gone = [Utterance(f"gone{i}", str(tmp_path / f"gone{i}.wav"), "ang", speaker="s1",
                      session="s1") for i in range(3)]
    manifest = write_manifest([*utterances, *gone], tmp_path / "manifest.csv")
    code = main(["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1",
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert "3 file(s) failed" in err
    for utt in gone:
        assert f"{utt.path}: file not found" in err
    assert not (tmp_path / "run" / "fold-00" / "checkpoint").exists()


def test_cv_on_a_single_class_manifest_is_a_clear_error(wav_corpus, tmp_path, capsys):
    utterances, _ = wav_corpus
    manifest = write_manifest([u for u in utterances if u.label == "hap"], tmp_path / "m.csv")
    code = main(["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1",
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "at least 2 classes" in err and "Traceback" not in err


# --- labels: one normal form, never two classes that only look different ---------------------

def _manifest(path, rows: list[dict]):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    else:
        with open(path, "w", newline="", encoding="utf-8") as fh:
            writer = csv.DictWriter(fh, list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
    return path


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_labels_with_surrounding_space_are_one_class_with_a_notice(tmp_path, suffix, caplog):
    """The issue's case: "anger" and "anger " trained a 5-class model."""
    rows = [{"id": f"u{i}", "path": f"/x/{i}.wav", "label": label}
            for i, label in enumerate(["anger", "anger ", "sad", " sad", "happy"])]
    utterances = read_manifest(_manifest(tmp_path / f"m{suffix}", rows))
    assert label_names(utterances) == ["anger", "happy", "sad"]
    assert "'anger ' -> 'anger'" in caplog.text and "' sad' -> 'sad'" in caplog.text


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("variant", ["Anger", "ANGER", "an ger", "ａnger"])
def test_labels_differing_by_case_or_whitespace_are_refused_naming_rows(tmp_path, suffix, variant):
    rows = [{"id": f"u{i}", "path": f"/x/{i}.wav", "label": label}
            for i, label in enumerate(["anger", "sad", variant, "anger"])]
    path = _manifest(tmp_path / f"m{suffix}", rows)
    first = 2 if suffix == ".csv" else 1  # CSV lines count the header
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    message = str(err.value)
    assert f"{path}:{first} " in message or f"{path}:{first})" in message or (
        f"{path}:{first}," in message)
    assert f"{path}:{first + 2}" in message and repr(variant) in message


def test_prepare_refuses_label_folders_differing_by_case(tmp_path, capsys):
    write_wav(tmp_path / "data" / "Angry" / "a.wav")
    write_wav(tmp_path / "data" / "angry" / "b.wav")
    write_wav(tmp_path / "data" / "sad" / "c.wav")
    out = tmp_path / "m.csv"
    assert main(["prepare", "folder", str(tmp_path / "data"), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and not out.exists()
    assert f"'Angry' ({tmp_path / 'data' / 'Angry'}/)" in err
    assert f"'angry' ({tmp_path / 'data' / 'angry'}/)" in err


def test_prepare_folder_merges_a_trailing_space_with_a_notice(tmp_path, caplog):
    from sertk.data.folder import prepare_folder
    write_wav(tmp_path / "data" / "angry " / "a.wav")
    write_wav(tmp_path / "data" / "angry" / "b.wav")
    write_wav(tmp_path / "data" / "sad" / "c.wav")
    assert label_names(prepare_folder(tmp_path / "data")) == ["angry", "sad"]
    assert "'angry ' -> 'angry'" in caplog.text


def test_prepare_csv_refuses_case_variants_and_normalises_allowed_labels(tmp_path, capsys):
    wavs = [write_wav(tmp_path / f"{k}.wav") for k in range(3)]
    listing = _manifest(tmp_path / "list.csv", [
        {"path": wavs[0].name, "label": "Happy"}, {"path": wavs[1].name, "label": "happy"},
        {"path": wavs[2].name, "label": "sad"}])
    assert main(["prepare", "csv", str(listing), "-o", str(tmp_path / "m.csv")]) == 1
    err = capsys.readouterr().err
    assert f"'Happy' ({listing}:2) vs 'happy' ({listing}:3)" in err

    listing = _manifest(tmp_path / "list2.csv", [
        {"path": wavs[0].name, "label": "happy"}, {"path": wavs[2].name, "label": "sad"}])
    assert main(["prepare", "csv", str(listing), "-o", str(tmp_path / "m2.csv"),
                 "--labels", " happy ,sad"]) == 0
    assert label_names(read_manifest(tmp_path / "m2.csv")) == ["happy", "sad"]
    assert main(["prepare", "csv", str(listing), "-o", str(tmp_path / "m3.csv"),
                 "--labels", "happy,Happy,sad"]) == 1
    assert "'Happy' (the allowed labels) vs 'happy'" in capsys.readouterr().err


# --- the same audio file twice ---------------------------------------------------------------

def _same_file_twice(tmp_path, how: str) -> tuple[str, str]:
    """Two spellings of one audio file, as a manifest in ``tmp_path`` would hold them."""
    audio = write_wav(tmp_path / "audio" / "a.wav")
    (tmp_path / "audio" / "sub").mkdir()
    if how == "dotdot":
        return "audio/a.wav", "audio/sub/../a.wav"
    if how == "relative-and-absolute":
        return "audio/a.wav", str(audio)
    if how == "dot":
        return "./audio/a.wav", "audio//a.wav"
    if how == "symlink":
        (tmp_path / "audio" / "link.wav").symlink_to(audio)
        return "audio/a.wav", "audio/link.wav"
    if how == "hardlink":
        (tmp_path / "audio" / "hard.wav").hardlink_to(audio)
        return "audio/hard.wav", "audio/a.wav"
    if how == "missing":  # no file at all: still one path
        return "audio/gone.wav", "audio/sub/../gone.wav"
    raise ValueError(how)


HOW = ["dotdot", "relative-and-absolute", "dot", "symlink", "hardlink", "missing"]


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
@pytest.mark.parametrize("how", HOW)
def test_a_manifest_naming_one_file_twice_is_refused_naming_both_rows(tmp_path, how, suffix):
    first, second = _same_file_twice(tmp_path, how)
    write_wav(tmp_path / "audio" / "b.wav")
    path = _manifest(tmp_path / f"m{suffix}", [
        {"id": "x", "path": first, "label": "happy"},
        {"id": "b", "path": "audio/b.wav", "label": "sad"},
        {"id": "y", "path": second, "label": "sad"}])
    n = 2 if suffix == ".csv" else 1
    with pytest.raises(ManifestError) as err:
        read_manifest(path)
    message = str(err.value)
    assert "same audio file" in message
    assert f"{path}:{n} (" in message and f"{path}:{n + 2} (" in message
    assert f"{path}:{n + 1} (" not in message


def test_relative_manifest_paths_are_relative_to_the_manifest(tmp_path, monkeypatch):
    write_wav(tmp_path / "data" / "audio" / "a.wav")
    path = _manifest(tmp_path / "data" / "m.csv", [
        {"id": "a", "path": "audio/a.wav", "label": "x"}])
    monkeypatch.chdir(tmp_path)  # not the manifest's folder
    assert read_manifest(path)[0].path == str(tmp_path / "data" / "audio" / "a.wav")


@pytest.mark.parametrize("how", ["dotdot", "symlink", "hardlink"])
def test_prepare_csv_lists_both_entries_of_one_file(tmp_path, how, capsys):
    first, second = _same_file_twice(tmp_path, how)
    write_wav(tmp_path / "audio" / "b.wav")
    write_wav(tmp_path / "audio" / "c.wav")
    listing = _manifest(tmp_path / "list.csv", [
        {"id": "x", "path": first, "label": "happy"},
        {"id": "b", "path": "audio/b.wav", "label": "sad"},
        {"id": "c", "path": "audio/c.wav", "label": "happy"},
        {"id": "y", "path": second, "label": "sad"}])
    out = tmp_path / "m.csv"
    assert main(["prepare", "csv", str(listing), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "same audio file" in err and f"{listing}:2" in err and f"{listing}:5" in err
    assert main(["prepare", "csv", str(listing), "-o", str(out), "--skip-bad"]) == 0
    assert [u.id for u in read_manifest(out)] == ["b", "c"]
    with open(tmp_path / "m.skipped.csv", newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 2  # both entries, each with its reason


def test_prepare_folder_refuses_a_hard_link_under_two_labels(tmp_path, capsys):
    audio = write_wav(tmp_path / "data" / "happy" / "a.wav")
    write_wav(tmp_path / "data" / "happy" / "b.wav")
    (tmp_path / "data" / "sad").mkdir()
    (tmp_path / "data" / "sad" / "a.wav").hardlink_to(audio)
    write_wav(tmp_path / "data" / "sad" / "c.wav")
    assert main(["prepare", "folder", str(tmp_path / "data"), "-o", str(tmp_path / "m.csv")]) == 1
    assert "same audio file" in capsys.readouterr().err


def test_cv_refuses_a_manifest_naming_one_file_twice(wav_corpus, tmp_path, capsys):
    utterances, _ = wav_corpus
    folder, name = os.path.split(utterances[0].path)
    twin = replace(utterances[0], id="twin",  # folder/../<folder name>/name: the same file
                   path=os.path.join(folder, "..", os.path.basename(folder), name))
    manifest = write_manifest([*utterances, twin], tmp_path / "m.csv")
    code = main(["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1",
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(tmp_path / "run")])
    err = capsys.readouterr().err
    assert code == 2 and "same audio file" in err and "Traceback" not in err
    assert not (tmp_path / "run").exists()
