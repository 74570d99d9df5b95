"""What a training command prints: results on stdout, progress and one line per fold on
stderr, no Lightning banners, --quiet, and run.log in the run directory."""
from __future__ import annotations

import pytest

from sertk.cli import main
from sertk.data.manifest import write_manifest
from tests.train.synthetic import write_wav_corpus

CV = ["--model", "base7", "--set", "model_args.hidden=8", "--padding", "batch", "--threads", "1",
      "--protocol", "lospk", "--max-folds", "2", "--batch-size", "8", "--lr", "0.01",
      "--epochs", "1"]
BANNERS = ("GPU available", "TPU available", "was configured so")


@pytest.fixture(scope="module")
def manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("wavs")
    return write_manifest(write_wav_corpus(root / "audio"), root / "manifest.csv")


def test_cv_prints_results_on_stdout_and_progress_on_stderr(manifest, tmp_path, capfd):
    out = tmp_path / "run"
    assert main(["cv", "--manifest", str(manifest), "--cache-dir", str(tmp_path / "cache"),
                 *CV, "-o", str(out)]) == 0
    stdout, stderr = capfd.readouterr()
    assert "fold 1/3 (speaker=s1)" in stderr and "fold 2/3 (speaker=s2)" in stderr
    assert "Epoch 1/1" in stderr and "Epoch" not in stdout  # Lightning's bar, on stderr
    assert "Epoch 0" not in stderr  # counted from 1, as in history.csv and the reports
    assert "it/s" not in stdout and "fold 1/3" not in stdout
    assert not any(banner in stdout + stderr for banner in BANNERS)
    log = (out / "run.log").read_text()
    assert "fold 1/3 (speaker=s1)" in log and "fold 2/3 (speaker=s2)" in log
    assert not any(banner in log for banner in BANNERS)


def test_quiet_prints_no_progress_and_no_fold_lines(manifest, tmp_path, capfd):
    out = tmp_path / "run"
    assert main(["--quiet", "cv", "--manifest", str(manifest), "--cache-dir",
                 str(tmp_path / "cache"), *CV, "-o", str(out)]) == 0
    stdout, stderr = capfd.readouterr()
    assert "fold 1/3" not in stderr and "Epoch" not in stderr and "it/s" not in stderr
    assert "fold 1/3 (speaker=s1)" in (out / "run.log").read_text()  # the log keeps them
    assert "Traceback" not in stderr
