"""A training killed in the middle of an epoch resumes, with the same command, to the same end.

The killed runs are real ``sertk cv`` processes. So that the signal lands mid-epoch every
time (not between epochs, and not by luck), a small driver wraps the training step: at a
chosen (epoch, batch) it marks a file and waits, with the epoch's earlier optimizer steps
done and the current batch's forward pass computed. The test then sends SIGTERM (Lightning
stops after that batch) or SIGKILL (nothing runs), checks that the interrupted epoch left no
trace in history.csv, and finally runs the same command to completion. Test predictions,
metrics and the whole per-epoch history must equal an uninterrupted run with the same seed.
(tests/cli/test_cv.py kills a run too, at a moment left to timing.)
"""
from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import sertk
from sertk.cli import main
from tests.reliability.conftest import TINY_CV

DRIVER = '''
import sys, time
from pathlib import Path
import sertk.train.module as module

marker, epoch, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
original = module.SERModule.training_step

def training_step(self, data, batch_idx):
    loss = original(self, data, batch_idx)
    if self.current_epoch == epoch and batch_idx == batch and not marker.exists():
        marker.write_text(f"epoch {epoch} batch {batch}")
        deadline = time.monotonic() + 120
        while not self.trainer.received_sigterm and time.monotonic() < deadline:
            time.sleep(0.01)  # SIGKILL ends us here; SIGTERM lets this batch finish
    return loss

module.SERModule.training_step = training_step
from sertk.cli import main
sys.exit(main(sys.argv[4:]))
'''
BATCH = 1  # of 4 training batches per epoch (8 training clips, batch size 2)


def _history(fold: Path) -> list[dict]:
    path = fold / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        return [{k: v for k, v in row.items() if k != "seconds"} for row in csv.DictReader(fh)]


def _interrupt(driver: Path, args: list[str], marker: Path, epoch: int, sig: int) -> int:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": str(Path(sertk.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(driver), str(marker), str(epoch), str(BATCH),
                             *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=env)
    try:
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert proc.poll() is None, f"run ended before the kill:\n{proc.stdout.read()}"
            assert time.monotonic() < deadline, "training never reached the batch"
            time.sleep(0.02)
        proc.send_signal(sig)
        proc.wait(timeout=120)
    finally:
        proc.kill()
    return proc.returncode


def test_sigterm_and_sigkill_mid_epoch_resume_to_the_same_result(wav_corpus, tmp_path):
    _, manifest = wav_corpus
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "6",
            "--cache-dir", str(tmp_path / "cache")]
    assert main([*args, "-o", str(tmp_path / "whole")]) == 0  # uninterrupted, same seed
    whole = tmp_path / "whole" / "fold-00"
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)

    out = tmp_path / "killed"
    fold = out / "fold-00"
    for sig, epoch in ((signal.SIGTERM, 2), (signal.SIGKILL, 4)):
        code = _interrupt(driver, [*args, "-o", str(out)], tmp_path / f"at-{epoch}", epoch, sig)
        assert code == (143 if sig == signal.SIGTERM else -signal.SIGKILL)
        assert len(_history(fold)) == epoch  # finished epochs only: the cut one left no row
        assert _history(fold) == _history(whole)[:epoch]
        assert (fold / "resume" / "last.ckpt").is_file()
        assert not (fold / "metrics.json").exists()

    assert main([*args, "-o", str(out)]) == 0  # the same command again
    assert (fold / "predictions.csv").read_text() == (whole / "predictions.csv").read_text()
    a, b = (json.loads((d / "metrics.json").read_text()) for d in (whole, fold))
    assert {k: a[k] for k in ("wa", "ua", "f1", "confusion")} == {
        k: b[k] for k in ("wa", "ua", "f1", "confusion")}
    assert a["info"]["best_epoch"] == b["info"]["best_epoch"] and b["info"]["epochs"] == 6
    assert _history(fold) == _history(whole)
    assert not (fold / "resume").exists()
