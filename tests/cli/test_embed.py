"""`sertk embed`: .npy with its file list, .parquet, .csv; failed files; usage errors
(real EmoDB-2s clips, bundled model)."""
from __future__ import annotations

import csv
import importlib.util

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from sertk.cli import main
from sertk.infer import embeddings
from tests.infer.emodb import bundled, emodb_clips  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def _embed(*args: str) -> int:
    return main(["embed", *args, "--device", "cpu", "--no-progress"])


def test_npy_rows_follow_the_sidecar_and_a_failed_file_is_named(bundled, emodb_clips,
                                                                 tmp_path, capsys):
    missing = tmp_path / "missing.wav"
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(32_000, np.float32), 16_000)
    out = tmp_path / "out" / "emb.npy"
    paths = [str(emodb_clips[0]), str(missing), str(silence), str(emodb_clips[1])]
    assert _embed(*paths, "--out", str(out)) == 1
    err = capsys.readouterr().err
    assert f"error: {missing}: file not found" in err
    assert "1 of 4 files failed" in err
    matrix = np.load(out, allow_pickle=False)
    assert matrix.shape == (3, 256) and matrix.dtype == np.float32
    with open(tmp_path / "out" / "emb.files.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["file"] for r in rows] == [paths[0], paths[2], paths[3]]
    assert [r["row"] for r in rows] == ["0", "1", "2"]
    assert [r["speech"] for r in rows] == ["true", "false", "true"]
    expected = bundled.embed([emodb_clips[0], silence, emodb_clips[1]])
    assert np.abs(matrix - expected).max() < 1e-5


def test_csv_and_parquet_tables(bundled, emodb_clips, tmp_path):
    paths = [str(p) for p in emodb_clips[:2]]
    expected = bundled.embed(paths)
    columns = ["file", "speech", *[f"emb_{i}" for i in range(256)]]
    assert _embed(*paths, "--out", str(tmp_path / "e.csv"), "--no-vad") == 0
    table = pd.read_csv(tmp_path / "e.csv")
    assert list(table.columns) == columns
    assert list(table["file"]) == paths
    assert table["speech"].isna().all()  # --no-vad: not known
    assert np.abs(table.iloc[:, 2:].to_numpy() - expected).max() < 1e-5
    if importlib.util.find_spec("pyarrow") is None:
        pytest.fail("pyarrow is installed in this project's environment (opensmile needs it)")
    assert _embed(*paths, "--out", str(tmp_path / "e.parquet")) == 0
    table = pd.read_parquet(tmp_path / "e.parquet")
    assert list(table.columns) == columns
    assert list(table["speech"]) == [True, True]
    assert table["emb_0"].dtype == np.float32
    assert np.abs(table.iloc[:, 2:].to_numpy() - expected).max() < 1e-6


def test_parquet_without_an_engine_is_a_usage_error_naming_pyarrow(emodb_clips, tmp_path,
                                                                    monkeypatch, capsys):
    real = importlib.util.find_spec
    monkeypatch.setattr(embeddings.importlib.util, "find_spec",
                        lambda name, *a: None if name in embeddings.PARQUET_ENGINES
                        else real(name, *a))
    out = tmp_path / "e.parquet"
    assert _embed(str(emodb_clips[0]), "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install pyarrow" in err
    assert not out.exists()


@pytest.mark.parametrize("out, reason", [("e.json", "must end in .npy, .parquet or .csv"),
                                         ("folder.npy", "is a folder")])
def test_bad_outputs_are_refused_before_any_work(emodb_clips, tmp_path, capsys, out, reason):
    (tmp_path / "folder.npy").mkdir()
    assert _embed(str(emodb_clips[0]), "--out", str(tmp_path / out)) == 2
    err = capsys.readouterr().err
    assert reason in err and "Traceback" not in err


def test_nothing_embedded_writes_nothing_and_exits_1(tmp_path, capsys):
    out = tmp_path / "e.npy"
    assert _embed(str(tmp_path / "missing.wav"), "--out", str(out)) == 1
    assert "nothing written" in capsys.readouterr().err
    assert not out.exists() and not (tmp_path / "e.files.csv").exists()
