"""Manifests that cannot be trusted: clear errors naming file, line, id or label; nothing dropped.

From reading a manifest, through ``sertk prepare`` (a CSV list with missing files, duplicate
ids and unknown labels), the protocols (a single class, a class absent from a training part)
to training itself (``fit`` with a fold that never trains on a class, labels that do not
cover the manifest, ``sertk cv`` on a manifest whose audio files are missing).
"""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import pytest

from sertk.cli import main
from sertk.data.manifest import ManifestError, Utterance, read_manifest, write_manifest
from sertk.data.splits import Fold, SplitError, make_folds
from sertk.train.config import TrainConfig
from sertk.train.fit import fit
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
    return TrainConfig(model="base7", model_args={"hidden": 8}, protocol="lospk", max_epochs=1,
                       batch_size=8, padding="batch", max_seconds=1.0, progress_bar=False,
                       cache_dir=str(tmp_path / "cache"), num_threads=1)


def test_fit_refuses_a_fold_that_never_trains_on_a_class(tiny, tmp_path):
    """A hand-made fold (fit accepts any Fold) whose training part lacks a class."""
    tiny = replace(tiny, protocol="kfold")  # no speaker constraints on this split
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
