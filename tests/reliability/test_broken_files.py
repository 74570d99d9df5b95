"""Broken audio files through every entry point: a clear error naming the file, the rest goes on.

The same six broken files (zero bytes, a cut header, cut data, random bytes named .wav, a
header claiming two hours over one second of audio, and a genuine seven-hour file over the
length limit) go through ``load_audio``, the corpus check of ``sertk prepare``, the feature
cache's batch build, utterance and segment prediction, and the ``sertk prepare --skip-bad``
and ``sertk predict`` commands. Each names the file and says why; batch paths carry on with
the good files and list every failure. (tests/infer/bad_files.py and tests/data/bad_audio.py
hold more kinds for the predictor and the corpus recipes.)
"""
from __future__ import annotations

import csv
import struct
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertk.audio import MAX_FILE_SECONDS, AudioError, load_audio
from sertk.cli import main
from sertk.data.cache import FeatureCache
from sertk.data.manifest import read_manifest
from sertk.data.validate import check_audio
from sertk.infer import SegmentOptions, load_model, predict_long
from tests.infer.tiny import speech_like


def _pcm16(seconds: float) -> bytes:
    return (speech_like(seconds) * 32767).astype("<i2").tobytes()


def _wav(data: bytes, *, rate: int = 16_000, bits: int = 16, declared: int | None = None) -> bytes:
    """A mono PCM WAV file; ``declared`` overrides the data size its header states."""
    block = bits // 8
    size = len(data) if declared is None else declared
    return (b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack("<I", 16)
            + struct.pack("<HHIIHH", 1, 1, rate, rate * block, block, bits)
            + b"data" + struct.pack("<I", size) + data)


def _seven_hours(path: Path) -> None:
    """A sparse 8-bit 1 kHz WAV whose data really spans 7 h (25 MB of holes)."""
    frames = int((MAX_FILE_SECONDS + 3600) * 1000)
    with open(path, "wb") as fh:
        fh.write(_wav(b"", rate=1000, bits=8, declared=frames))
        fh.truncate(44 + frames)


def _write(name: str, path: Path) -> None:
    good = _wav(_pcm16(1.0))
    if name == "zero_bytes.wav":
        path.write_bytes(b"")
    elif name == "cut_header.wav":
        path.write_bytes(good[:20])
    elif name == "cut_data.wav":
        path.write_bytes(good[: len(good) // 2])
    elif name == "random_bytes.wav":
        path.write_bytes(np.random.default_rng(5).bytes(5000))
    elif name == "claims_hours.wav":
        path.write_bytes(_wav(_pcm16(1.0), declared=2 * 3600 * 16_000 * 2))
    else:
        _seven_hours(path)


# file name -> words its error must contain
BROKEN = {
    "zero_bytes.wav": "empty file",
    "cut_header.wav": "not a readable audio file",
    "cut_data.wav": "truncated",
    "random_bytes.wav": "not a readable audio file",
    "claims_hours.wav": "truncated",
    "seven_hours.wav": "over the limit",
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    """BROKEN files under bad/, two good clips under good/ (labels for `prepare folder`)."""
    root = tmp_path_factory.mktemp("broken")
    (root / "bad").mkdir()
    for name in BROKEN:
        _write(name, root / "bad" / name)
    (root / "good").mkdir()
    for k in range(2):
        sf.write(root / "good" / f"g{k}.wav", speech_like(1.0, seed=k), 16_000)
    return root


def _good(folder: Path) -> list[Path]:
    return sorted((folder / "good").glob("*.wav"))


def _check(message: str, path: Path, name: str) -> None:
    assert str(path) in message and BROKEN[name] in message, message


@pytest.mark.parametrize("name", list(BROKEN))
def test_load_and_prepare_check_name_the_file(folder, name):
    path = folder / "bad" / name
    for entry in (load_audio, check_audio):
        with pytest.raises(AudioError) as err:
            entry(path)
        _check(str(err.value), path, name)


def test_feature_cache_build_reports_each_and_caches_the_rest(folder, tmp_path):
    bad = [folder / "bad" / name for name in BROKEN]
    cache = FeatureCache(tmp_path / "cache")
    report = cache.build([_good(folder)[0], *bad, _good(folder)[1]], progress=False,
                         batch_size=3)
    assert report.computed == 2 and len(report.failures) == len(BROKEN)
    for (failed, reason), path in zip(report.failures, bad):
        _check(f"{failed}: {reason}", path, path.name)
    assert all(path in cache for path in _good(folder))


def test_prediction_reports_each_and_predicts_the_rest(folder, checkpoint):
    predictor = load_model(checkpoint, device="cpu", vad=False)
    paths = [_good(folder)[0], *(folder / "bad" / n for n in BROKEN), _good(folder)[1]]
    results = predictor.predict_files(paths, batch_size=3)
    assert results[0].ok and results[-1].ok
    for result, path in zip(results[1:-1], paths[1:-1]):
        assert not result.ok and result.path == str(path)
        _check(f"{result.path}: {result.error}", path, path.name)

    options = SegmentOptions(2.0, 1.0)
    for name in BROKEN:
        if name == "seven_hours.wav":
            continue  # segment mode streams recordings of any length: a real 7 h file is fine
        result = predict_long(predictor, folder / "bad" / name, options)
        assert not result.ok and BROKEN[name] in result.error, (name, result.error)
    assert predict_long(predictor, _good(folder)[0], options).ok


def test_prepare_skip_bad_lists_every_broken_file(folder, tmp_path, capsys):
    out = tmp_path / "m.csv"
    assert main(["prepare", "folder", str(folder), "-o", str(out), "--skip-bad"]) == 0
    printed = capsys.readouterr().out
    assert [u.id for u in read_manifest(out)] == ["good/g0", "good/g1"]
    with open(tmp_path / "m.skipped.csv", newline="") as fh:
        skipped = {Path(r["path"]).name: r["reason"] for r in csv.DictReader(fh)}
    assert set(skipped) == set(BROKEN)
    for name, words in BROKEN.items():
        assert words in skipped[name]
        assert f"{folder / 'bad' / name}: " in printed


def test_predict_command_gives_error_rows_and_exit_1(folder, checkpoint, tmp_path, capsys):
    out = tmp_path / "preds.csv"
    code = main(["predict", str(folder), "--model", str(checkpoint), "--out", str(out),
                 "--no-progress"])
    assert code == 1
    with open(out, newline="") as fh:
        rows = {Path(r["path"]).name: r for r in csv.DictReader(fh)}
    assert set(rows) == set(BROKEN) | {"g0.wav", "g1.wav"}
    for name, words in BROKEN.items():
        assert words in rows[name]["error"] and rows[name]["label"] == ""
    assert all(rows[g]["error"] == "" and rows[g]["label"] for g in ("g0.wav", "g1.wav"))
    err = capsys.readouterr().err
    assert f"{len(BROKEN)} of {len(rows)} files failed" in err and "Traceback" not in err
    for name in BROKEN:
        assert f"error: {folder / 'bad' / name}: " in err
