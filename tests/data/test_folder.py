"""Tests for sertk.data.folder: <label>/ folders and CSV lists."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sertk.data.folder import AUDIO_EXTENSIONS, prepare_csv, prepare_folder
from sertk.data.manifest import write_manifest
from sertk.data.validate import CorpusError
from tests.data.bad_audio import BAD_AUDIO, write_bad, write_wav


def _folder(root):
    write_wav(root / "angry" / "spk1" / "001.wav")
    write_wav(root / "angry" / "spk2" / "001.wav", samples=3200)
    (root / "calm").mkdir(parents=True)
    sf.write(root / "calm" / "a.flac", np.zeros(800, np.float32), 8000)
    sf.write(root / "calm" / "b.ogg", np.zeros(1600, np.float32) + 0.01, 16000)
    return root


def test_folder_labels_ids_and_formats(tmp_path):
    root = _folder(tmp_path / "data")
    (root / "calm" / "notes.txt").write_text("x")
    (root / "calm" / ".DS_Store").write_bytes(b"\x00")
    (root / ".hidden").mkdir()
    write_wav(root / ".hidden" / "x.wav")
    (root / "README.md").write_text("x")
    utts = prepare_folder(root)
    assert [(u.id, u.label, u.corpus) for u in utts] == [
        ("angry/spk1/001", "angry", "folder"), ("angry/spk2/001", "angry", "folder"),
        ("calm/a", "calm", "folder"), ("calm/b", "calm", "folder")]
    assert [u.duration for u in utts] == pytest.approx([0.1, 0.2, 0.1, 0.1])
    assert all(u.speaker == u.session == u.gender == "" for u in utts)
    assert utts.excluded == {"hidden file": 2, "not an audio file (.txt)": 1,
                             "not an audio file (.md)": 1}
    assert {".wav", ".flac", ".ogg"} <= AUDIO_EXTENSIONS


def test_folder_allowed_labels_and_root_files(tmp_path):
    root = _folder(tmp_path / "data")
    with pytest.raises(CorpusError, match="label 'calm' is not one of angry, sad"):
        prepare_folder(root, labels=["angry", "sad"])
    kept = prepare_folder(root, labels=["angry", "sad"], skip_bad=True)
    assert {u.label for u in kept} == {"angry"} and len(kept.skipped) == 2
    loose = write_wav(root / "loose.wav")
    with pytest.raises(CorpusError, match="directly under the root"):
        prepare_folder(root)
    assert [s.path for s in prepare_folder(root, skip_bad=True).skipped] == [str(loose)]


def test_folder_empty_and_missing(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        prepare_folder(tmp_path / "nope")
    with pytest.raises(CorpusError, match="no audio files"):
        prepare_folder(tmp_path)


@pytest.mark.parametrize("kind", sorted(BAD_AUDIO) + ["duplicate id"])
def test_folder_bad_files(tmp_path, kind):
    root = _folder(tmp_path / "data")
    bad = root / "sad" / "x.wav"
    if kind == "duplicate id":
        write_wav(bad)
        write_wav(root / "sad" / "x.flac")  # same id sad/x
        reason = "duplicate id 'sad/x'"
    else:
        reason = write_bad(kind, bad)
    with pytest.raises(CorpusError) as err:
        prepare_folder(root)
    assert str(bad) in str(err.value) and reason in str(err.value)
    utts = prepare_folder(root, skip_bad=True)
    assert [u.label for u in utts] == ["angry", "angry", "calm", "calm"]
    reasons = {s.path: s.reason for s in utts.skipped}
    assert reason in reasons[str(bad)]
    if kind == "duplicate id":
        assert str(root / "sad" / "x.flac") in reasons[str(bad)]


def _csv(tmp_path, rows, header="path,label,speaker,session"):
    path = tmp_path / "list.csv"
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_csv_resolves_relative_paths_and_reads_speakers(tmp_path):
    write_wav(tmp_path / "audio" / "a.wav")
    elsewhere = write_wav(tmp_path.parent / f"{tmp_path.name}_abs.wav")
    path = _csv(tmp_path, ["audio/a.wav,happy,s1,day1", f"{elsewhere},sad,s2,day2"])
    utts = prepare_csv(path)
    assert [(u.id, u.path, u.label, u.speaker, u.session, u.corpus) for u in utts] == [
        (str(elsewhere.with_suffix("")), str(elsewhere), "sad", "s2", "day2", "csv"),
        ("audio/a", str(tmp_path / "audio" / "a.wav"), "happy", "s1", "day1", "csv")]


def test_csv_reads_a_written_manifest(tmp_path):
    utts = prepare_folder(_folder(tmp_path / "data"))
    manifest = write_manifest(utts, tmp_path / "m.csv")
    again = prepare_csv(manifest, corpus="folder")
    assert again == utts


def test_csv_structure_errors(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        prepare_csv(tmp_path / "nope.csv")
    with pytest.raises(CorpusError, match="missing column"):
        prepare_csv(_csv(tmp_path, ["a.wav"], header="file,emotion"))
    with pytest.raises(CorpusError, match="no rows"):
        prepare_csv(_csv(tmp_path, []))


@pytest.mark.parametrize("kind", sorted(BAD_AUDIO) + [
    "no label", "label not allowed", "duplicate id", "bad gender"])
def test_csv_bad_rows(tmp_path, kind):
    write_wav(tmp_path / "good.wav")
    rows, bad = ["good.wav,angry,s1,1"], str(tmp_path / "bad.wav")
    if kind in BAD_AUDIO:
        reason = write_bad(kind, tmp_path / "bad.wav")
        rows.append("bad.wav,sad,s2,1")
    else:
        write_wav(tmp_path / "bad.wav")
        row, reason = {
            "no label": ("bad.wav,,s2,1", "row has no label"),
            "label not allowed": ("bad.wav,bored,s2,1", "label 'bored' is not one of"),
            "duplicate id": ("good.wav,sad,s2,1", "duplicate id 'good'"),
            "bad gender": ("bad.wav,sad,s2,1,X", "gender 'X' is not F, M or empty"),
        }[kind]
        rows.append(row)
        bad = {"no label": f"{tmp_path / 'list.csv'}:3", "duplicate id": str(tmp_path / "good.wav"),
               "bad gender": f"{tmp_path / 'list.csv'}:3"}.get(kind, bad)
    header = "path,label,speaker,session" + (",gender" if kind == "bad gender" else "")
    path = _csv(tmp_path, rows, header=header)
    labels = ["angry", "sad"]
    with pytest.raises(CorpusError) as err:
        prepare_csv(path, labels=labels)
    assert bad in str(err.value) and reason in str(err.value)
    utts = prepare_csv(path, labels=labels, skip_bad=True)
    assert reason in " ".join(s.reason for s in utts.skipped)
    assert bad in [s.path for s in utts.skipped]
    assert [u.id for u in utts] == ([] if kind == "duplicate id" else ["good"])
    if kind == "duplicate id":  # both rows are named
        assert f"{path}:2" in utts.skipped[1].reason and f"{path}:3" in utts.skipped[0].reason


def test_csv_reads_dimension_ratings_and_refuses_a_bad_one(tmp_path):
    for name in ("a", "b", "c"):
        write_wav(tmp_path / f"{name}.wav")
    path = _csv(tmp_path, ["a.wav,happy,3.5,", "b.wav,sad,1.25,2", "c.wav,sad,high,2"],
                header="path,label,arousal,valence")
    utts = prepare_csv(path, skip_bad=True)
    assert [(u.id, u.arousal, u.valence, u.dominance) for u in utts] == [
        ("a", 3.5, None, None), ("b", 1.25, 2.0, None)]
    assert [(s.path, s.reason) for s in utts.skipped] == [
        (f"{path}:4", "arousal 'high' is not a finite number")]
