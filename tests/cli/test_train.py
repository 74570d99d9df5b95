"""`sertk train`, `sertk cv`, `sertk report`, `sertk ablate` in-process; errors exit 2."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from sertk.cli import main
from sertk.data.manifest import write_manifest
from sertk.models import load_checkpoint
from tests.train.synthetic import write_wav_corpus

REPO = Path(__file__).resolve().parents[2]
TINY = ["--model", "base7", "--set", "model_args.hidden=8", "--batch-size", "8", "--lr", "0.01",
        "--padding", "batch", "--threads", "1", "--no-progress"]


@pytest.fixture(scope="module")
def wav_manifest(tmp_path_factory):
    """A manifest of 24 short wav files: 3 speakers x 4 labels x 2."""
    root = tmp_path_factory.mktemp("wavs")
    return write_manifest(write_wav_corpus(root / "audio"), root / "manifest.csv")


def _common(manifest, tmp_path):
    return ["--manifest", str(manifest), "--cache-dir", str(tmp_path / "cache"), *TINY]


def test_train_final_model(wav_manifest, tmp_path, capsys):
    out = tmp_path / "model"  # the paper recipe names protocol kfold: no --fold, so a final model
    code = main(["train", "--config", str(REPO / "configs" / "paper.yaml"),
                 *_common(wav_manifest, tmp_path), "--epochs", "2",
                 "--set", "val_fraction=0.25", "-o", str(out)])
    assert code == 0
    assert json.loads(capsys.readouterr().out.split("\nmodel:")[0])["epochs"] == 2
    checkpoint = load_checkpoint(out / "checkpoint")
    assert checkpoint.model_name == "base7" and checkpoint.labels == ["ang", "hap", "neu", "sad"]
    saved = json.loads((out / "config.json").read_text())
    assert saved["protocol"]["name"] == "final" and saved["optim"]["max_epochs"] == 2
    assert (out / "history.csv").is_file() and not (out / "predictions.csv").exists()


def test_train_one_fold_then_report(wav_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", *_common(wav_manifest, tmp_path), "--epochs", "1", "--protocol", "lospk"]
    assert main([*args, "--fold", "1", "-o", str(out)]) == 0
    assert (out / "fold-01" / "metrics.json").is_file()
    assert not (out / "fold-00").exists()
    assert main(["report", str(out)]) == 2  # folds 0 and 2 are missing
    assert "fold-00" in capsys.readouterr().err
    assert main(["report", str(out), "--partial", "--no-plots"]) == 0
    assert "Partial run" in (out / "report.md").read_text()


def test_train_without_a_fold_of_a_protocol_is_an_error(wav_manifest, tmp_path, capsys):
    code = main(["train", *_common(wav_manifest, tmp_path), "--protocol", "lospk",
                 "-o", str(tmp_path / "x")])
    assert code == 2 and "--fold" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [
    (["--set", "learning_rate=1"], "unknown key 'learning_rate'"),
    (["--padding", "zeros"], "padding must be one of"),
    (["--protocol", "lospk", "--fold", "5"], "fold 5 does not exist"),
])
def test_cv_errors_are_one_line_and_exit_2(wav_manifest, tmp_path, capsys, extra, message):
    code = main(["cv", *_common(wav_manifest, tmp_path), *extra, "-o", str(tmp_path / "r")])
    assert code == 2 and message in capsys.readouterr().err


def test_missing_manifest_is_explained(tmp_path, capsys):
    assert main(["cv", "-o", str(tmp_path / "r")]) == 2
    assert "no manifest" in capsys.readouterr().err
    assert main(["cv", "--manifest", str(tmp_path / "nope.csv"), "-o", str(tmp_path)]) == 2
    assert "manifest not found" in capsys.readouterr().err


def test_cv_from_a_config_file(wav_manifest, tmp_path, capsys):
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(f"manifest: {wav_manifest}\nprotocol: kfold\nk: 2\nmax_epochs: 1\n"
                      "model: base7\nmodel_args:\n  hidden: 8\nbatch_size: 8\npadding: batch\nnum_threads: 1\n"
                      f"cache_dir: {tmp_path / 'cache'}\nprogress_bar: false\n")
    out = tmp_path / "run"
    assert main(["cv", "--config", str(recipe), "--seed", "3", "-o", str(out)]) == 0
    assert "Pooled confusion matrix" in capsys.readouterr().out
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["complete"] and metrics["n_folds"] == 2 and metrics["pooled"]["n"] == 24
    assert json.loads((out / "config.json").read_text())["runtime"]["seed"] == 3


def test_ablate_command(wav_manifest, tmp_path, capsys):
    out = tmp_path / "abl"
    code = main(["ablate", *_common(wav_manifest, tmp_path), "--epochs", "1",
                 "--protocol", "lospk", "--max-folds", "1", "--models", "base7,base5",
                 "-o", str(out)])
    assert code == 0
    assert "Base5: Conv-residual-BLSTM" in capsys.readouterr().out
    assert (out / "ablation.md").is_file() and (out / "confusion-grid.png").is_file()
