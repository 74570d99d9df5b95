"""`sertk predict`: inputs, outputs, segment mode, bad files and exit codes."""
from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import sertk.audio as audio_module
from sertk.cli import main
from sertk.cli import predict as predict_cli
from sertk.infer import bundled, load_model
from tests.infer.bad_files import write_all
from tests.infer.tiny import LABELS, make_checkpoint, nan_for_sound, speech_like, write_clip
from tests.infer.tiny import single_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(make_checkpoint(tmp_path_factory.mktemp("cli") / "ckpt", padding="batch"))


@pytest.fixture()
def clips(tmp_path):
    folder = tmp_path / "clips"
    paths = [write_clip(folder / "a.wav", 1.0, seed=1),
             write_clip(folder / "sub" / "b.flac", 2.5, seed=2),
             write_clip(folder / "c.wav", 0.4, rate=44_100, seed=3)]
    (folder / "readme.txt").write_text("not listed: only audio extensions are")
    return folder, paths


def test_a_folder_prints_a_table_and_exits_0(ckpt, clips, capsys):
    folder, paths = clips
    assert main(["predict", "--no-vad", str(folder), "--model", ckpt, "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["path", "label", "probability", *LABELS]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert set(rows) == {str(p) for p in paths}
    predictor = load_model(ckpt, device="cpu", vad=False)
    for path in paths:
        expected = predictor.predict_file(path)
        row = rows[str(path)]
        assert row[1] == expected.label
        assert float(row[2]) == pytest.approx(expected.probability, abs=1e-3)


def test_a_list_file_and_csv_output(ckpt, clips, tmp_path, capsys):
    folder, paths = clips
    listing = tmp_path / "files.txt"
    listing.write_text("# two clips\nclips/a.wav\nclips/sub/b.flac\n")
    out = tmp_path / "preds.csv"
    args = ["predict", "--no-vad", str(listing), "--model", ckpt, "--out", str(out),
            "--batch-size", "1"]
    assert main(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["path"] for r in rows] == [str(tmp_path / "clips/a.wav"),
                                         str(tmp_path / "clips/sub/b.flac")]
    for row in rows:
        probs = [float(row[k]) for k in LABELS]
        assert sum(probs) == pytest.approx(1.0, abs=1e-6) and row["error"] == ""
        assert row["label"] == LABELS[int(np.argmax(probs))]
    assert "wrote 2 results" in capsys.readouterr().err


def test_bad_files_get_error_rows_the_rest_predictions_and_exit_1(ckpt, clips, tmp_path, capsys):
    folder, paths = clips
    expected = write_all(tmp_path / "bad")
    del expected[tmp_path / "bad" / "folder.wav"]  # a folder: searched, and it holds no audio
    out = tmp_path / "preds.json"
    (tmp_path / "bad" / "broken_link.wav").symlink_to(tmp_path / "nowhere.wav")
    expected[tmp_path / "bad" / "broken_link.wav"] = "file not found"
    bad = tmp_path / "bad"
    code = main(["predict", "--no-vad", str(folder), str(bad), str(bad / "missing.wav"),
                 str(bad / "folder.wav"), "--model", ckpt, "--out", str(out)])
    assert code == 1
    records = {r["path"]: r for r in json.loads(out.read_text())}
    for path in paths:
        assert records[str(path)]["error"] is None and records[str(path)]["label"] in LABELS
    for path, words in expected.items():
        record = records[str(path)]
        if words is None:
            assert record["error"] is None and record["label"] in LABELS, record
        else:
            assert words.lower() in record["error"].lower() and record["label"] is None
    err = capsys.readouterr().err
    n_failed = sum(1 for w in expected.values() if w is not None)
    assert f"{n_failed} of {len(records)} files failed" in err
    assert f"error: {tmp_path / 'bad' / 'empty.wav'}: empty file" in err
    assert f"warning: no audio files in {tmp_path / 'bad' / 'folder.wav'}" in err


def test_segment_mode_writes_windows_with_times_and_a_file_row(ckpt, tmp_path, capsys):
    path = tmp_path / "talk.wav"
    sf.write(path, speech_like(7.0, rate=22_050), 22_050)
    out = tmp_path / "talk.csv"
    assert main(["predict", "--no-vad", str(path), "--model", ckpt, "--segment", "3", "--hop", "2",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    windows = [(float(r["start"]), float(r["end"])) for r in rows if r["scope"] == "window"]
    assert windows == [(0.0, 3.0), (2.0, 5.0), (4.0, 7.0), (6.0, 7.0)]
    whole = [r for r in rows if r["scope"] == "file"]
    assert len(whole) == 1 and float(whole[0]["end"]) == pytest.approx(7.0)
    # each window owns the time up to the midpoints between centres: 2.5, 2, 1.5 and 1 s
    owned = np.array([2.5, 2.0, 1.5, 1.0])
    probs = np.array([[float(r[k]) for k in LABELS] for r in rows if r["scope"] == "window"])
    mean = (probs * owned[:, None]).sum(axis=0) / owned.sum()
    np.testing.assert_allclose([float(whole[0][k]) for k in LABELS], mean, atol=1e-6)
    segments = [(float(r["start"]), float(r["end"])) for r in rows if r["scope"] == "segment"]
    assert segments[0][0] == 0.0 and segments[-1][1] == pytest.approx(7.0)
    assert all(a[1] == b[0] for a, b in zip(segments, segments[1:]))  # a contiguous timeline
    assert whole[0]["summary"].endswith("%")

    assert main(["predict", "--no-vad", str(path), "--model", ckpt, "--segment", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:5] == ["path", "scope", "start", "end", "label"]
    scopes = [line.split()[1] for line in table[1:]]  # the table shows segments, not windows
    assert set(scopes[:-1]) == {"segment"} and scopes[-1] == "file"
    assert table[1].split()[2] == "0.000" and table[-1].split()[2:4] == ["0.000", "7.000"]


def test_segment_mode_reports_bad_files_and_goes_on(ckpt, clips, tmp_path):
    folder, _ = clips
    (folder / "broken.wav").write_bytes(b"RIFF....WAVE")
    out = tmp_path / "o.json"
    assert main(["predict", "--no-vad", str(folder), "--model", ckpt, "--segment", "2", "--out", str(out)]) == 1
    records = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(out.read_text())}
    assert "not a readable audio file" in records["broken.wav"]["error"]
    assert records["b.flac"]["error"] is None and len(records["b.flac"]["windows"]) == 2


@pytest.mark.parametrize("extra, message", [
    (["--segment", "5"], "longer than the 4 s"),
    (["--segment", "-1"], "segment must be positive"),
    (["--hop", "1"], "--hop needs --segment"),
    (["--out", "preds.xlsx"], "--out must end in .csv or .json"),
    (["--batch-size", "0"], "--batch-size must be >= 1"),
    (["--model", "no/such/checkpoint"], "checkpoint not found"),
])
def test_usage_errors_exit_2(ckpt, clips, capsys, extra, message):
    folder, _ = clips
    args = ["predict", str(folder), "--model", ckpt, *extra]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_a_folder_without_audio_is_a_usage_error(ckpt, tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["predict", "--no-vad", str(tmp_path / "empty"), "--model", ckpt]) == 2
    assert "no audio files found" in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict"])
    assert exit_info.value.code == 2


def test_without_model_uses_the_bundled_default_or_says_it_is_missing(clips, tmp_path, monkeypatch,
                                                                      capsys):
    folder, _ = clips
    monkeypatch.setattr(bundled, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert main(["predict", "--no-vad", str(folder)]) == 2
    assert "bundled models: none installed" in capsys.readouterr().err
    make_checkpoint(tmp_path / "pretrained" / "emodb")
    assert main(["predict", "--no-vad", str(folder)]) == 0


# --- window options, output paths: usage errors before any work ----------------------------

@pytest.mark.parametrize("extra, message", [
    (["--segment", "2", "--hop", "0.00001"], "--hop of 1e-05 s is less than one sample"),
    (["--segment", "2", "--hop", "inf"], "--hop must be a finite number"),
    (["--segment", "2", "--hop", "nan"], "--hop must be a finite number"),
    (["--segment", "2", "--hop", "1e305"], "--hop of 1e+305 s is too large"),
    (["--segment", "2", "--min-last", "inf"], "--min-last must be a finite number"),
    (["--segment", "2", "--min-last", "nan"], "--min-last must be a finite number"),
    (["--segment", "2", "--min-last", "3"], "--min-last must be within [0, segment = 2] s"),
    (["--segment", "1e-5"], "--segment of 1e-05 s is 0 samples at 16000 Hz, shorter than one "
                            "analysis window (400 samples = 25 ms)"),
    (["--segment", "nan"], "--segment must be a finite number"),
    (["--min-last", "1"], "--min-last needs --segment"),
])
def test_bad_window_options_are_usage_errors_before_any_work(ckpt, clips, tmp_path, capsys,
                                                             extra, message):
    folder, _ = clips
    out = tmp_path / "o.json"
    assert main(["predict", "--no-vad", str(folder), "--model", ckpt, "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) <= 2 and "Traceback" not in err
    assert not out.exists()


def _no_model(*args, **kwargs):
    raise AssertionError("the model was loaded before the output path was checked")


@pytest.mark.parametrize("kind, message", [
    ("folder", "is a folder"), ("fifo", "not a regular file"), ("under_a_file", "not a folder"),
])
def test_an_out_path_that_cannot_be_written_is_refused_before_any_work(ckpt, clips, tmp_path,
                                                                       capsys, monkeypatch,
                                                                       kind, message):
    folder, _ = clips
    out = tmp_path / "preds.json"
    if kind == "folder":
        out.mkdir()
    elif kind == "fifo":
        os.mkfifo(out)
    else:
        (tmp_path / "blocker").write_text("")
        out = tmp_path / "blocker" / "preds.json"
    monkeypatch.setattr(predict_cli, "load_model", _no_model)
    assert main(["predict", "--no-vad", str(folder), "--model", ckpt, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert message in err and str(out) in err and "wrote" not in err


# --- per-file problems are rows, never the batch's end --------------------------------------

@pytest.mark.parametrize("segment", [[], ["--segment", "1"]])
def test_os_errors_of_one_file_are_its_row_not_the_end_of_the_batch(ckpt, clips, tmp_path,
                                                                     monkeypatch, segment):
    folder, paths = clips
    long_name = tmp_path / ("x" * 300 + ".wav")
    listing = tmp_path / "more.txt"
    listing.write_text(f"{'y' * 260}.flac\n")
    locked = write_clip(tmp_path / "locked.wav", 1.0)
    real_info = audio_module.audio_info

    def audio_info(path):
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_info(path)

    monkeypatch.setattr(audio_module, "audio_info", audio_info)
    out = tmp_path / "o.json"
    args = ["predict", "--no-vad", str(folder), str(long_name), str(listing), str(locked),
            "--model", ckpt,
            "--out", str(out), *segment]
    assert main(args) == 1
    records = {Path(r["path"]).name: r for r in _strict_json(out.read_text())}
    for path in paths:
        assert records[path.name]["error"] is None and records[path.name]["label"] in LABELS
    assert "file name too long" in records[long_name.name]["error"]
    assert "file name too long" in records["y" * 260 + ".flac"]["error"]
    assert records["locked.wav"]["error"] == "cannot open (permission denied)"
    assert all(records[n]["label"] is None for n in [long_name.name, "locked.wav"])


def test_undecodable_media_files_in_a_folder_are_rows_and_other_files_a_notice(ckpt, clips,
                                                                               tmp_path, capsys):
    folder, paths = clips
    for name in ["talk.m4a", "call.AAC", "old.wma", "clip.mp4", "memo.amr", "vid.webm"]:
        (folder / name).write_bytes(b"\x00\x00\x00\x20ftypM4A " + bytes(200))
    (folder / "cover.jpg").write_bytes(b"\xff\xd8\xff")
    out = tmp_path / "o.csv"
    assert main(["predict", "--no-vad", str(folder), "--model", ckpt, "--out", str(out)]) == 1
    rows = {Path(r["path"]).name: r for r in csv.DictReader(out.open())}
    assert set(rows) == {p.name for p in paths} | {"talk.m4a", "call.AAC", "old.wma", "clip.mp4",
                                                   "memo.amr", "vid.webm"}
    assert "does not decode .m4a files" in rows["talk.m4a"]["error"]
    assert "ffmpeg" in rows["call.AAC"]["error"] and rows["old.wma"]["label"] == ""
    err = capsys.readouterr().err
    assert f"note: {folder}: left out 2 items: cover.jpg, readme.txt" in err
    assert "6 of 9 files failed" in err


@pytest.mark.parametrize("segment", [[], ["--segment", "2"]])
def test_non_finite_model_output_is_an_error_row_and_json_stays_valid(ckpt, tmp_path,
                                                                      monkeypatch, segment):
    sound = write_clip(tmp_path / "sound.wav", 2.5)
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(40_000, np.int16), 16_000)
    monkeypatch.setattr(predict_cli, "load_model", lambda *a, **k: nan_for_sound(ckpt))
    out = tmp_path / "o.json"
    assert main(["predict", "--no-vad", str(sound), str(silence), "--model", ckpt, "--out", str(out),
                 *segment]) == 1
    records = _strict_json(out.read_text())
    assert records[0]["label"] is None and records[0]["probabilities"] is None
    assert records[0]["error"].startswith("model produced non-finite output")
    assert records[1]["error"] is None and records[1]["label"] in LABELS


def test_a_one_sample_file_is_too_short_in_both_modes(ckpt, tmp_path):
    path = tmp_path / "one.wav"
    sf.write(path, np.array([0.3], np.float32), 16_000, subtype="FLOAT")
    for extra in ([], ["--segment", "2", "--min-last", "0"]):
        out = tmp_path / "o.json"
        assert main(["predict", "--no-vad", str(path), "--model", ckpt, "--out", str(out), *extra]) == 1
        record = _strict_json(out.read_text())[0]
        assert record["label"] is None and "too short: 1 samples < 400" in record["error"]


def _strict_json(text: str):
    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant}")
    return json.loads(text, parse_constant=refuse)
