"""Run directories: nothing is written by a recipe that cannot run, and one writer per fold.

- ``sertk cv``/``train``/``ablate`` check the whole recipe (model name, ``model_args``, values,
  precision, fold, labels, every audio file) before writing anything into the run directory,
  so after a typo the corrected command runs (it used to be refused: "holds a run with a
  different recipe").
- Two commands on one fold: the second stops at once with "run directory busy (pid N)",
  exit 2; two different folds of one run (a ``--fold K`` fan-out) train side by side; a
  different recipe is refused; a SIGKILLed holder leaves no lock behind.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import sertk
from sertk.cli import main
from sertk.data.manifest import Utterance, write_manifest
from tests.reliability.conftest import TINY_CV


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()} if root.exists() else {}


BAD_RECIPES = {
    "misspelt --model": (["--model", "bse7"], "did you mean 'base7'"),
    "unknown model_args key": (["--set", "model_args.hiden=8"], "hiden"),
    "model_args value": (["--set", "model_args.hidden=-2"], "hidden must be >= 1"),
    "precision": (["--precision", "17-mixed"], "precision must be one of"),
    "fold": (["--fold", "7"], "fold 7 does not exist"),
    "value": (["--set", "weight_decay=-1"], "weight_decay must be >= 0"),
}


@pytest.mark.parametrize("case", list(BAD_RECIPES))
def test_cv_with_a_bad_recipe_writes_nothing(wav_corpus, tmp_path, capsys, case):
    _, manifest = wav_corpus
    extra, words = BAD_RECIPES[case]
    out = tmp_path / "run"
    code = main(["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1", *extra,
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and words in err, err
    assert not out.exists()


def test_a_run_directory_in_use_is_left_as_it_was(wav_corpus, tmp_path, capsys):
    """A bad recipe for a run that already holds other files: not one byte changes."""
    utterances, manifest = wav_corpus
    out = tmp_path / "run"
    (out / "notes").mkdir(parents=True)
    (out / "notes" / "mine.txt").write_text("keep me\n")
    before = _files(out)
    gone = Utterance("gone", str(tmp_path / "gone.wav"), "ang", speaker="s1", session="s1")
    missing = write_manifest([*utterances, gone], tmp_path / "missing.csv")
    clash = write_manifest([*utterances[:-1], Utterance(
        "odd", utterances[-1].path, utterances[-1].label.upper(), speaker=utterances[-1].speaker,
        session=utterances[-1].session)], tmp_path / "clash.csv")
    for manifest_path, extra in ((manifest, ["--model", "propsed"]), (missing, []), (clash, [])):
        code = main(["cv", "--manifest", str(manifest_path), *TINY_CV, "--epochs", "1", *extra,
                     "--cache-dir", str(tmp_path / "cache"), "-o", str(out)])
        err = capsys.readouterr().err
        assert code == 2 and "Traceback" not in err, err
        assert _files(out) == before, manifest_path


def test_the_corrected_command_runs_after_a_typo(wav_corpus, tmp_path, capsys):
    """The issue's case, for each command that writes a run directory."""
    _, manifest = wav_corpus
    tiny = ["--set", "model_args.hidden=8", "--padding", "batch", "--threads", "1",
            "--no-progress", "--batch-size", "2", "--epochs", "1", "--manifest", str(manifest),
            "--cache-dir", str(tmp_path / "cache")]
    folds = ["--protocol", "lospk", "--max-folds", "1"]
    commands = {"cv": ["cv", "--model", "{model}", *folds],
                "train": ["train", "--model", "{model}", "--set", "val_fraction=0.25"],
                "ablate": ["ablate", "--models", "{model}", *folds]}
    for name, command in commands.items():
        out = tmp_path / name
        typo = [a.format(model="bsae7") for a in command]
        assert main([*typo, *tiny, "-o", str(out)]) == 2, name
        assert "Traceback" not in capsys.readouterr().err
        assert not out.exists(), name
        right = [a.format(model="base7") for a in command]
        assert main([*right, *tiny, "-o", str(out)]) == 0, (name, capsys.readouterr().err)
        capsys.readouterr()


# --- one writer per fold ---------------------------------------------------------------------

DRIVER = '''
import sys, time
from pathlib import Path
import sertk.train.module as module

paused, release = Path(sys.argv[1]), Path(sys.argv[2])
original = module.SERModule.training_step

def training_step(self, data, batch_idx):
    if not paused.exists():
        paused.write_text("training")
        deadline = time.monotonic() + 120
        while not release.exists() and time.monotonic() < deadline:
            time.sleep(0.01)
    return original(self, data, batch_idx)

module.SERModule.training_step = training_step
from sertk.cli import main
sys.exit(main(sys.argv[3:]))
'''


def _paused_run(tmp_path: Path, name: str, args: list[str]) -> tuple[subprocess.Popen, Path]:
    """A ``sertk`` process stopped in its first training step; touch the returned path to
    let it go on."""
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    paused, release = tmp_path / f"{name}.paused", tmp_path / f"{name}.release"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore",
           "PYTHONPATH": str(Path(sertk.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(driver), str(paused), str(release), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 180
    while not paused.exists():
        if proc.poll() is not None:
            raise AssertionError(f"run ended before training:\n{proc.stdout.read()}")
        assert time.monotonic() < deadline, "training never started"
        time.sleep(0.02)
    return proc, release


def test_one_writer_per_fold_and_folds_side_by_side(wav_corpus, tmp_path, capsys):
    _, manifest = wav_corpus
    out = tmp_path / "run"
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "2",
            "--cache-dir", str(tmp_path / "cache"), "-o", str(out)]
    first, release = _paused_run(tmp_path, "first", [*args, "--fold", "0"])
    try:
        # the same fold again, as a full run or as the same --fold job: busy, nothing touched
        for extra in ([], ["--fold", "0"]):
            before = _files(out)
            assert main([*args, *extra]) == 2
            err = capsys.readouterr().err
            assert f"run directory busy (pid {first.pid})" in err and "Traceback" not in err
            assert "fold-00" in err and _files(out) == before
        # another recipe for the same run directory: refused, whichever fold
        assert main([*args, "--fold", "1", "--lr", "0.02"]) == 2
        assert "different recipe" in capsys.readouterr().err
        # another fold of the same run trains meanwhile
        assert main([*args, "--fold", "1"]) == 0, capsys.readouterr().err
        assert (out / "fold-01" / "metrics.json").is_file()
        assert not (out / "fold-00" / "metrics.json").exists()
    finally:
        release.write_text("go")
        log = first.communicate(timeout=300)[0]
    assert first.returncode == 0, log
    assert (out / "fold-00" / "metrics.json").is_file()
    assert json.loads((out / "config.json").read_text())["optim"]["lr"] == 0.01
    assert not list(out.glob(".*.lock"))


def test_a_killed_writer_leaves_no_lock(wav_corpus, tmp_path, capsys):
    _, manifest = wav_corpus
    out = tmp_path / "run"
    args = ["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "1",
            "--cache-dir", str(tmp_path / "cache"), "-o", str(out)]
    proc, _ = _paused_run(tmp_path, "killed", args)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert main(args) == 0, capsys.readouterr().err
    assert (out / "fold-00" / "metrics.json").is_file()
