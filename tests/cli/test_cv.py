"""`sertk cv` end to end: real EmoDB data, a killed-and-restarted run, 2-process DDP."""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from sertk.cli import main
from sertk.data.manifest import read_manifest, write_manifest
from sertk.models import load_checkpoint
from tests.train.synthetic import write_wav_corpus

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--model", "base7", "--set", "model_args.hidden=8", "--padding", "batch",
        "--threads", "1", "--no-progress", "--protocol", "lospk", "--max-folds", "1"]


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _sertk(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    return subprocess.Popen([sys.executable, "-m", "sertk", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env, **kwargs)


def test_cv_on_real_emodb(emodb_dir, tmp_path, capsys):
    manifest = tmp_path / "emodb.csv"
    assert main(["prepare", "emodb", str(emodb_dir), "-o", str(manifest)]) == 0
    out = tmp_path / "run"
    code = main(["cv", "--manifest", str(manifest), "--protocol", "lospk", "--max-folds", "2",
                 "--model", "proposed", "--epochs", "1", "--batch-size", "8",
                 "--set", "limit_train_batches=2", "--padding", "batch", "--threads", "1",
                 "--cache-dir", str(tmp_path / "cache"), "--no-progress", "-o", str(out)])
    assert code == 0
    assert "mean ± std over folds" in capsys.readouterr().out
    utterances = {u.id: u for u in read_manifest(manifest)}
    labels = sorted({u.label for u in utterances.values()})
    assert len(utterances) == 535 and len(labels) == 7

    plan = json.loads((out / "run.json").read_text())
    assert [f["name"] for f in plan["folds"]][:2] == ["speaker=03", "speaker=08"]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["n_folds"] == 2 and not metrics["complete"] and metrics["labels"] == labels
    tested = [i for f in plan["folds"][:2] for i in f["test_ids"]]
    assert metrics["pooled"]["n"] == len(tested) == sum(
        u.speaker in ("03", "08") for u in utterances.values())
    assert np.sum(metrics["pooled"]["confusion"]) == len(tested)
    for key in ("wa", "ua", "f1"):
        assert 0.0 <= metrics["mean"][key] <= 1.0 and metrics["std"][key] is not None

    rows = _rows(out / "predictions.csv")
    assert sorted(r["id"] for r in rows) == sorted(tested)
    for r in rows:
        probs = [float(r[f"prob_{c}"]) for c in labels]
        assert abs(sum(probs) - 1) < 1e-4 and r["true"] == utterances[r["id"]].label
        assert r["pred"] == labels[int(np.argmax(probs))]
    for k, speaker in enumerate(("03", "08")):
        fold = out / f"fold-{k:02d}"
        history = _rows(fold / "history.csv")
        assert len(history) == 1 and float(history[0]["train_loss"]) > 0
        checkpoint = load_checkpoint(fold / "checkpoint")
        assert checkpoint.model_name == "proposed" and checkpoint.labels == labels
        assert checkpoint.metadata["fold"] == f"speaker={speaker}"
        test_speakers = {utterances[r["id"]].speaker for r in _rows(fold / "predictions.csv")}
        assert test_speakers == {speaker}
        assert (fold / "curves.png").read_bytes().startswith(PNG)
    assert (out / "confusion.png").read_bytes().startswith(PNG)
    report = (out / "report.md").read_text()
    assert "speaker=03" in report and "Partial run" in report


@pytest.fixture(scope="module")
def wav_manifest(tmp_path_factory):
    root = tmp_path_factory.mktemp("wavs")
    return write_manifest(write_wav_corpus(root / "audio"), root / "manifest.csv")


def _wait_for(proc: subprocess.Popen, condition, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before it could be interrupted:\n{proc.stdout.read()}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError("run made no progress")
        time.sleep(0.02)


def test_killed_runs_resume_to_the_same_metrics(wav_manifest, tmp_path):
    args = ["cv", "--manifest", str(wav_manifest), *TINY, "--epochs", "10", "--batch-size", "2",
            "--lr", "0.01", "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0  # the uninterrupted reference

    out = tmp_path / "killed"
    fold = out / "fold-00"
    # SIGTERM once the first resume checkpoint exists, then SIGKILL later in training
    for sig, epochs_done in ((signal.SIGTERM, 2), (signal.SIGKILL, 5)):
        proc = _sertk(*args, "-o", str(out))
        _wait_for(proc, lambda: (fold / "resume" / "last.ckpt").is_file()
                  and len(_rows(fold / "history.csv")) >= epochs_done)
        proc.send_signal(sig)
        proc.wait(timeout=60)
        assert proc.returncode != 0
        assert not (fold / "metrics.json").exists()
    proc = _sertk(*args, "-o", str(out))
    assert proc.wait(timeout=300) == 0, proc.stdout.read()

    whole = tmp_path / "whole" / "fold-00"
    assert (fold / "predictions.csv").read_text() == (whole / "predictions.csv").read_text()
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, fold))
    assert {k: a[k] for k in ("wa", "ua", "f1", "confusion")} == {
        k: b[k] for k in ("wa", "ua", "f1", "confusion")}
    assert a["info"]["best_epoch"] == b["info"]["best_epoch"] and b["info"]["epochs"] == 10
    drop = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert drop(_rows(fold / "history.csv")) == drop(_rows(whole / "history.csv"))
    assert not (fold / "resume").exists()


def test_two_process_ddp_writes_one_set_of_outputs(wav_manifest, tmp_path):
    out = tmp_path / "ddp"
    proc = _sertk("cv", "--manifest", str(wav_manifest), *TINY, "--epochs", "2",
                  "--batch-size", "4", "--accelerator", "cpu", "--devices", "2",
                  "--strategy", "ddp", "--cache-dir", str(tmp_path / "cache"), "-o", str(out))
    log = proc.communicate(timeout=300)[0]
    assert proc.returncode == 0, log
    assert "GLOBAL_RANK: 1, MEMBER: 2/2" in log and "distributed_backend=gloo" in log
    assert log.count("# Run `ddp`") == 1  # only rank 0 reports
    assert sorted(p.name for p in out.iterdir()) == [
        "config.json", "config.yaml", "confusion.png", "fold-00", "metrics.json",
        "predictions.csv", "reliability.png", "report.md", "run.json", "run.log"]
    plan = json.loads((out / "run.json").read_text())
    rows = _rows(out / "fold-00" / "predictions.csv")
    assert sorted(r["id"] for r in rows) == sorted(plan["folds"][0]["test_ids"])
    assert len(_rows(out / "fold-00" / "history.csv")) == 2
    assert not list(out.rglob("*.tmp*")) and not list(out.rglob(".*"))
    assert load_checkpoint(out / "fold-00" / "checkpoint").model_name == "base7"


def test_seeds_make_a_group_with_a_report(wav_manifest, tmp_path, capsys):
    out = tmp_path / "group"
    args = ["cv", "--config", "configs/smoke.yaml", "--manifest", str(wav_manifest),
            "--protocol", "lospk", "--threads", "1", "--no-progress", "--set", "epochs=1",
            "-o", str(out)]
    assert main([*args, "--seeds", "3,1"]) == 0
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["seed-1", "seed-3"]
    for seed in (1, 3):
        assert json.loads((out / f"seed-{seed}" / "run.json").read_text())["info"]["seed"] == seed
    group = json.loads((out / "metrics.json").read_text())
    assert [s["seed"] for s in group["seeds"]] == ["1", "3"]
    assert "seed ensemble" in (out / "report.md").read_text()
    assert "seed group" in capsys.readouterr().out
    for bad in ("1,1", "-1", "a", ""):
        assert main([*args, "--seeds", bad]) == 2
