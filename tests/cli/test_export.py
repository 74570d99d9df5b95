"""`sertk export`: writes a checked model and sidecar, reports the difference, fails loudly."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from sertk.cli import main
from sertk.export import runner
from sertk.infer import load_model
from tests.infer.tiny import LABELS, make_checkpoint, speech_like
from tests.infer.tiny import single_thread  # noqa: F401 (autouse fixture)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(make_checkpoint(tmp_path_factory.mktemp("cli") / "emo", padding="batch", seed=5))


def _reported_diff(out: str) -> float:
    match = re.search(r"max \|probability difference\| vs PyTorch = ([0-9.e+-]+)", out)
    assert match, out
    return float(match.group(1))


@pytest.mark.parametrize("fmt, suffix", [("onnx", ".onnx"), ("torchscript", ".pt")])
def test_export_writes_a_checked_model_and_reports_the_difference(ckpt, tmp_path, capsys, fmt,
                                                                  suffix, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(["export", ckpt, "--format", fmt]) == 0
    out = capsys.readouterr().out
    path = tmp_path / f"emo{suffix}"
    assert path.is_file() and _reported_diff(out) <= 1e-4
    sidecar = json.loads((tmp_path / f"emo{suffix}.json").read_text())
    assert sidecar["labels"] == LABELS and sidecar["format"] == fmt
    assert sidecar["feature_config"]["padding"] == "batch"

    wave = speech_like(1.6, seed=7)  # an independent check of what was written
    expected = load_model(ckpt, device="cpu", vad=False).probabilities([wave])
    np.testing.assert_allclose(runner(path, fmt)(wave[None], None), expected, atol=1e-4)


def test_export_checks_on_given_audio_files(ckpt, emodb_dir, tmp_path, capsys):
    files = [str(p) for p in sorted((emodb_dir / "wav").glob("*.wav"))[:3]]
    target = tmp_path / "out" / "model.onnx"
    assert main(["export", ckpt, "-o", str(target), "--check-audio", *files]) == 0
    out = capsys.readouterr().out
    assert "on 6 clips" in out and _reported_diff(out) <= 1e-4
    parity = json.loads((tmp_path / "out" / "model.onnx.json").read_text())["parity"]
    assert parity["clips"] == 6 and len(set(parity["lengths"])) == 4  # 3 x 2 s, 3 prefixes


def test_export_fails_loudly_above_the_tolerance(ckpt, tmp_path, capsys):
    target = tmp_path / "m.pt"
    assert main(["export", ckpt, "--format", "torchscript", "-o", str(target),
                 "--tolerance", "-1"]) == 1
    err = capsys.readouterr().err
    assert "FAILED" in err and "differs from PyTorch" in err
    assert not target.exists() and not (tmp_path / "m.pt.json").exists()


@pytest.mark.parametrize("args, message", [
    (["no/such/ckpt"], "checkpoint not found"),
    (["{ckpt}", "--check-audio", "{bad}"], "not a readable audio file"),
])
def test_usage_errors_exit_2(ckpt, tmp_path, capsys, args, message):
    bad = tmp_path / "bad.wav"
    bad.write_text("not audio")
    args = [a.format(ckpt=ckpt, bad=bad) for a in args]
    assert main(["export", *args, "-o", str(tmp_path / "m.onnx")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.onnx").exists()
