"""The command line under random options and hostile files: one line, never a traceback.

Seeded random combinations of options and inputs for ``prepare``, ``predict``, ``export``
and ``cv --max-folds 1`` run in-process through :func:`sertk.cli.main`. Whatever the
combination, the command must return 0, 1 or 2 (an uncaught exception is a traceback a
user would see), and every output file it names is either absent or complete: a CSV
that parses with all its rows, a JSON document that parses (strictly), a manifest that
``read_manifest`` accepts; no temporary file is left beside it.
"""
from __future__ import annotations

import csv
import json
import math
import random
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertk.cli import main
from sertk.data.manifest import read_manifest
from tests.infer.bad_files import write_all
from tests.infer.tiny import make_checkpoint, speech_like

CASES = {"prepare": 24, "predict": 40, "export": 8, "cv": 5}
NUMBERS = ["0", "-1", "0.00001", "1", "2", "3.5", "4", "9", "nan", "inf", "-inf", "1e308",
           "abc", ""]
GOOD_SECONDS = ["0.5", "1", "2", "3.5", "4"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, emodb_dir):
    """Good and hostile inputs, shared by every case (cases only read them)."""
    root = tmp_path_factory.mktemp("fuzz")
    bad = root / "bad"
    write_all(bad)
    good = root / "good"
    good.mkdir()
    for i, src in enumerate(sorted((emodb_dir / "wav").glob("03a0*.wav"))[:6]):
        shutil.copy(src, good / src.name)
    sf.write(root / "long.wav", np.concatenate([speech_like(3.0), np.zeros(32000, np.float32),
                                                speech_like(2.0, seed=1)]), 16000)
    folder = root / "folder"  # a `folder` corpus: label folders
    for label in ("anger", "neutral"):
        (folder / label).mkdir(parents=True)
        for k in range(2):
            sf.write(folder / label / f"{k}.wav", speech_like(0.5, seed=k), 16000)
    shutil.copy(bad / "empty.wav", folder / "anger" / "empty.wav")
    (root / "list.txt").write_text("good/03a01Wa.wav\nmissing.wav\n\ufeffbad/empty.wav\n")
    ckpt = make_checkpoint(root / "ckpt", padding="batch")
    hostile = root / "hostile-ckpt"
    shutil.copytree(ckpt, hostile)
    config = json.loads((hostile / "config.json").read_text())
    config["model_config"]["n_transformer"] = 10 ** 6
    (hostile / "config.json").write_text(json.dumps(config))
    manifest = root / "emodb.csv"
    assert main(["prepare", "emodb", str(emodb_dir), "-o", str(manifest)]) == 0
    small = root / "small.csv"
    rows = list(csv.DictReader(manifest.open()))
    keep = [r for speaker in ("03", "08", "09", "10") for label in {r["label"] for r in rows}
            for r in [r for r in rows if (r["speaker"], r["label"]) == (speaker, label)][:3]]
    with small.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(keep)
    bom = root / "bom.csv"
    bom.write_bytes(b"\xef\xbb\xbf" + small.read_bytes())
    return {"root": root, "bad": bad, "good": good, "folder": folder, "ckpt": ckpt,
            "hostile": hostile, "small": small, "bom": bom, "emodb": emodb_dir}


def _run(argv: list[str]) -> int:
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse usage errors
        code = exit_.code
    except BaseException as err:  # anything else would be a traceback for the user
        pytest.fail(f"sertk {' '.join(argv)} raised {type(err).__name__}: {err}")
    assert code in (0, 1, 2), f"sertk {' '.join(argv)} returned {code}"
    return code


def _check_output(path: Path) -> None:
    """An output is absent or complete, and nothing temporary is left beside it."""
    if path.parent.is_dir():
        leftovers = [p.name for p in path.parent.iterdir()
                     if p.name.startswith(f".{path.name}.") or p.name.endswith(".tmp")]
        assert leftovers == [], leftovers
    if not path.is_file() or path.suffix not in (".json", ".csv"):
        return
    text = path.read_text()
    if path.suffix == ".json":
        json.loads(text, parse_constant=lambda c: pytest.fail(f"{path}: {c} in JSON"))
    elif path.suffix == ".csv":
        rows = list(csv.reader(text.splitlines()))
        assert rows and all(len(r) == len(rows[0]) for r in rows), f"{path}: ragged CSV"


def _pick(rng: random.Random, *options):
    return rng.choice(options)


def _out(rng: random.Random, world, name: str, hostile: bool) -> Path:
    case = world["root"] / "out" / f"{name}-{rng.randrange(10 ** 9)}"
    good = case / f"result{rng.choice(['.csv', '.json'])}"
    bad = [case / "result.txt", world["good"], world["bad"] / "empty.wav" / "x.csv"]
    return rng.choice(bad) if hostile and rng.random() < 0.5 else good


@pytest.mark.parametrize("case", range(CASES["predict"]))
def test_predict(world, case, capsys):
    rng = random.Random(1000 + case)
    paths = rng.sample([str(world["good"]), str(world["bad"]), str(world["root"] / "list.txt"),
                        str(world["root"] / "long.wav"), str(world["root"] / "missing.wav"),
                        str(world["bad"] / "one_sample.wav"), str(world["folder"])],
                       k=rng.randint(1, 3))
    argv = ["predict", *paths, "--no-progress"]
    hostile = rng.random() < 0.3  # most cases run through; some meet a hostile value
    models = [str(world["hostile"]), str(world["root"] / "nope")] if hostile else []
    argv += ["--model", rng.choice([str(world["ckpt"]), str(world["ckpt"]), "emodb", *models])]
    out = None
    segment = rng.random() < 0.5
    for option, good, bad in [("--segment", GOOD_SECONDS, NUMBERS),
                              ("--hop", GOOD_SECONDS, NUMBERS), ("--min-last", ["0", "0.5"], NUMBERS),
                              ("--batch-size", ["1", "3", "32"], ["0", "-2", "x"]),
                              ("--top-k", ["1", "3", "99"], ["0"]), ("--smooth", ["1", "3"], ["2"]),
                              ("--min-duration", ["0", "1.5"], ["nan"]),
                              ("--speech-fraction", ["0", "0.3", "1"], ["2"]),
                              ("--vad-threshold", ["0.5", "0.9"], ["-1"]),
                              ("--min-gap", ["0.3", "1"], ["-1"])]:
        wanted = segment if option == "--segment" else rng.random() < 0.25
        if wanted:
            argv += [option, rng.choice(bad if hostile and rng.random() < 0.5 else good)]
    for flag in ("--vad", "--no-vad"):
        if rng.random() < 0.2:
            argv.append(flag)
    if rng.random() < 0.6:
        out = _out(rng, world, "predict", hostile)
        argv += ["--out", str(out)]
    if rng.random() < 0.2:
        argv += ["--plot", str(world["root"] / "out" / f"plots-{case}")]
    _run(argv)
    if out is not None:
        _check_output(out)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("case", range(CASES["prepare"]))
def test_prepare(world, case, capsys):
    rng = random.Random(2000 + case)
    corpus = _pick(rng, "emodb", "ravdess", "iemocap", "folder", "csv", "bogus")
    root = _pick(rng, world["emodb"], world["folder"], world["bad"], world["good"],
                 world["root"] / "missing", world["small"], world["bom"],
                 world["bad"] / "empty.wav")
    out = world["root"] / "out" / f"prepare-{case}" / _pick(rng, "m.csv", "m.jsonl", "m.txt")
    argv = ["prepare", corpus, str(root), "-o", str(out)]
    for flag in ("--skip-bad", "--header-only"):
        if rng.random() < 0.4:
            argv.append(flag)
    code = _run(argv)
    if code == 0:
        assert read_manifest(out)
    _check_output(out)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("case", range(CASES["export"]))
def test_export(world, case, capsys):
    rng = random.Random(3000 + case)
    ckpt = _pick(rng, world["ckpt"], world["ckpt"], world["ckpt"], world["hostile"],
                 world["root"] / "nope", world["good"])
    fmt = _pick(rng, "onnx", "torchscript", "torchscript", "bogus")
    out = world["root"] / "out" / f"export-{case}" / _pick(rng, "m.onnx", "m.pt", "m")
    _run(["export", str(ckpt), "--format", fmt, "-o", str(out)])
    if out.exists():
        assert out.stat().st_size > 0 and Path(f"{out}.json").is_file()
    _check_output(out)
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("case", range(CASES["cv"]))
def test_cv_one_fold(world, case, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("SERTK_CACHE", str(world["root"] / "cache"))
    rng = random.Random(4000 + case)
    hostile = case >= 2 and rng.random() < 0.6  # the first cases train; later ones may not
    manifest = rng.choice([world["small"], world["bom"]]
                          + ([world["root"] / "missing.csv"] if hostile else []))
    argv = ["cv", "--config", "configs/smoke.yaml", "--manifest", str(manifest),
            "--protocol", rng.choice(["lospk", "kfold", "loso"] + (["nope"] if hostile else [])),
            "--max-folds", "1", "--threads", "1", "--no-progress", "-o", str(tmp_path / "run")]
    argv += ["--model", rng.choice(["base7", "egemaps-svm"] + (["propsed"] if hostile else []))]
    if rng.random() < 0.5:
        argv += ["--set", rng.choice(["lr=0.01", "padding=batch", "epochs=1"]
                                     + (["lr=-1", "nonsense=1", "normalisation=utterance"]
                                        if hostile else []))]
    code = _run(argv)
    if code == 0:
        assert (tmp_path / "run" / "fold-00" / "metrics.json").is_file()
    elif code == 2 and not (tmp_path / "run" / "run.json").exists():
        assert not (tmp_path / "run").exists() or not any((tmp_path / "run").iterdir())
    assert "Traceback" not in capsys.readouterr().err


def test_the_numbers_cover_the_hostile_ones():
    values = [float(v) for v in NUMBERS if v not in ("abc", "")]
    assert any(math.isnan(v) for v in values) and math.inf in values and -math.inf in values
