"""`sertk predict`: inputs, outputs, segment mode, bad files and exit codes."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import soundfile as sf

from sertk.cli import main
from sertk.infer import bundled, load_model
from tests.infer.bad_files import write_all
from tests.infer.tiny import LABELS, make_checkpoint, speech_like, write_clip
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
    assert main(["predict", str(folder), "--model", ckpt, "--no-progress"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["path", "label", "probability", *LABELS]
    rows = {line.split()[0]: line.split() for line in out[1:]}
    assert set(rows) == {str(p) for p in paths}
    predictor = load_model(ckpt, device="cpu")
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
    args = ["predict", str(listing), "--model", ckpt, "--out", str(out), "--batch-size", "1"]
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
    code = main(["predict", str(folder), str(bad), str(bad / "missing.wav"),
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
    assert main(["predict", str(path), "--model", ckpt, "--segment", "3", "--hop", "2",
                 "--out", str(out)]) == 0
    rows = list(csv.DictReader(out.open()))
    windows = [(float(r["start"]), float(r["end"])) for r in rows if r["scope"] == "window"]
    assert windows == [(0.0, 3.0), (2.0, 5.0), (4.0, 7.0), (6.0, 7.0)]
    whole = [r for r in rows if r["scope"] == "file"]
    assert len(whole) == 1 and float(whole[0]["end"]) == pytest.approx(7.0)
    mean = np.mean([[float(r[k]) for k in LABELS] for r in rows if r["scope"] == "window"], axis=0)
    np.testing.assert_allclose([float(whole[0][k]) for k in LABELS], mean, atol=1e-9)

    assert main(["predict", str(path), "--model", ckpt, "--segment", "3"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:5] == ["path", "scope", "start", "end", "label"]
    assert [line.split()[1:4] for line in table[1:]] == [
        ["window", "0.000", "3.000"], ["window", "3.000", "6.000"], ["window", "6.000", "7.000"],
        ["file", "0.000", "7.000"]]


def test_segment_mode_reports_bad_files_and_goes_on(ckpt, clips, tmp_path):
    folder, _ = clips
    (folder / "broken.wav").write_bytes(b"RIFF....WAVE")
    out = tmp_path / "o.json"
    assert main(["predict", str(folder), "--model", ckpt, "--segment", "2", "--out", str(out)]) == 1
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
    assert main(["predict", str(tmp_path / "empty"), "--model", ckpt]) == 2
    assert "no audio files found" in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["predict"])
    assert exit_info.value.code == 2


def test_without_model_uses_the_bundled_default_or_says_it_is_missing(clips, tmp_path, monkeypatch,
                                                                      capsys):
    folder, _ = clips
    monkeypatch.setattr(bundled, "PRETRAINED_DIR", tmp_path / "pretrained")
    assert main(["predict", str(folder)]) == 2
    assert "bundled models: none installed" in capsys.readouterr().err
    make_checkpoint(tmp_path / "pretrained" / "emodb")
    assert main(["predict", str(folder)]) == 0
