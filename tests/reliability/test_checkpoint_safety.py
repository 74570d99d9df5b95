"""Checkpoints people send each other: atomic under SIGKILL, and nothing ever unpickled.

- A child process saves a checkpoint over and over; it is SIGKILLed at random times, while
  the weights are being written, and between the weights and ``config.json``. Every time,
  the checkpoint loads and is exactly one saved version (the last finished one or the one in
  flight), never a mix.
- The package source is scanned: no pickle-family loader, ``torch.load`` only with
  ``weights_only=True``, ``np.load`` only with ``allow_pickle=False``, Lightning resumes only
  with ``weights_only=True``; a crafted or torn training resume file is set aside (renamed,
  with a notice) and its payload never runs.
- A hostile ``config.json`` (huge or negative sizes, wrong types, NaN/Infinity literals,
  200,000-level nesting, a 4 GiB file, labels and statistics that lie) is refused with one
  line naming the checkpoint and the field, before the network is built; the parameter count
  a config implies is bounded without building it.
(Pickles in place of the weights, truncated weights, wrong label counts and unknown model
names are in tests/models/test_checkpoint.py.)
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

import sertk
import sertk.models.checkpoint as checkpoint_module
from sertk.cli import main
from sertk.models import CheckpointError, create_model, list_models, load_checkpoint
from tests.infer.tiny import make_checkpoint, write_clip

SAVER = '''
import sys
import numpy as np
import torch
from sertk.features import FeatureConfig
from sertk.models import create_model, save_checkpoint

torch.set_num_threads(1)
torch.manual_seed(0)
model = create_model("proposed", n_classes=4)
base = {k: v.clone() for k, v in model.state_dict().items()}
version = 0
while True:  # version k: every float tensor is base + k, norm_mean is k
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if tensor.is_floating_point():
                tensor.copy_(base[name] + version)
    save_checkpoint(sys.argv[1], model, model_name="proposed", labels=["a", "b", "c", "d"],
                    feature_config=FeatureConfig(), norm_mean=np.full(40, float(version)),
                    norm_std=np.ones(40), metadata={"version": version})
    print(version, flush=True)
    version += 1
'''


def _weights_tmp(names: list[str]) -> bool:
    return any(re.fullmatch(r"\.weights-.*\.\d+\.\d+\.tmp", n) for n in names)


def _two_weights(names: list[str]) -> bool:
    return sum(n.startswith("weights-") for n in names) == 2


def _kill_when(proc: subprocess.Popen, path: Path, condition, timeout: float = 60.0) -> None:
    """SIGKILL ``proc`` as soon as ``condition(names in path)`` holds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            names = os.listdir(path)
        except FileNotFoundError:
            names = []
        if condition(names):
            break
        assert proc.poll() is None, proc.stderr.read()
        assert time.monotonic() < deadline, "the moment to kill never came"
    proc.kill()


def _base_weights() -> dict[str, torch.Tensor]:
    from sertk.models import create_model
    torch.manual_seed(0)
    return create_model("proposed", n_classes=4).state_dict()


@pytest.mark.parametrize("moment", ["random", "writing weights", "before config"])
def test_sigkill_during_save_leaves_one_whole_version(tmp_path, moment):
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    path = tmp_path / "ckpt"
    env = {**os.environ, "OMP_NUM_THREADS": "1",
           "PYTHONPATH": str(Path(sertk.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, str(script), str(path)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = proc.stdout.readline()
        assert first.strip() == "0", proc.stderr.read()
        if moment == "random":
            time.sleep(np.random.default_rng(7).uniform(0.0, 0.3))  # seeded: the same moment each run
            proc.kill()
        else:
            _kill_when(proc, path, _weights_tmp if moment == "writing weights" else _two_weights)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    finished = [int(line) for line in [first, *proc.stdout.read().splitlines()] if line.strip()]

    checkpoint = load_checkpoint(path)
    version = checkpoint.metadata["version"]
    assert version in (finished[-1], finished[-1] + 1)  # the last finished save or the next
    base = _base_weights()
    for name, tensor in checkpoint.model.state_dict().items():
        if tensor.is_floating_point():
            assert torch.equal(tensor, base[name] + version), name
    np.testing.assert_array_equal(checkpoint.norm_mean, np.full(40, version, np.float32))

    # the next save in that directory sweeps up what the killed one left
    from sertk.models import save_checkpoint
    save_checkpoint(path, checkpoint.model, model_name="proposed", labels=checkpoint.labels,
                    feature_config=checkpoint.feature_config, norm_mean=checkpoint.norm_mean,
                    norm_std=checkpoint.norm_std)
    names = sorted(os.listdir(path))
    assert names[0] == "config.json" and len(names) == 2 and names[1].startswith("weights-")


# --- nothing in the package unpickles ----------------------------------------------------------

PACKAGE = Path(sertk.__file__).parent
# torch.jit.load reads TorchScript (its own restricted format, no Python pickle) and only in the
# export parity check, on the file that export just wrote.
JIT_LOAD_ALLOWED = {"export.py"}
UNPICKLERS = {"pickle", "cPickle", "_pickle", "dill", "joblib", "shelve", "marshal",
              "cloudpickle"}


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield ast.unparse(node.func), node


def _keyword(call: ast.Call, name: str):
    for kw in call.keywords:
        if kw.arg == name:
            return ast.unparse(kw.value)
    return None


def test_no_code_path_in_the_package_unpickles():
    problems = []
    for file in sorted(PACKAGE.rglob("*.py")):
        rel = file.relative_to(PACKAGE)
        tree = ast.parse(file.read_text(), str(file))
        for func, call in _calls(tree):
            where = f"{rel}:{call.lineno}: {func}"
            if func.split(".")[0] in UNPICKLERS or "Unpickler" in func:
                problems.append(where)
            if func == "torch.load" and _keyword(call, "weights_only") != "True":
                problems.append(f"{where} without weights_only=True")
            if func in ("np.load", "numpy.load") and _keyword(call, "allow_pickle") != "False":
                problems.append(f"{where} without allow_pickle=False")
            if func.endswith(("yaml.load", "yaml.unsafe_load", "yaml.full_load")):
                problems.append(f"{where}: use yaml.safe_load")
            if func in ("eval", "exec"):
                problems.append(where)
            if func.endswith("jit.load") and str(rel) not in JIT_LOAD_ALLOWED:
                problems.append(where)
            if _keyword(call, "ckpt_path") is not None and _keyword(call, "weights_only") != "True":
                problems.append(f"{where}: Lightning resume without weights_only=True")
    assert problems == []


class _Evil:
    """Unpickling this creates ``marker``: proof that something ran the payload."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("content", ["payload", "torn"])
def test_crafted_or_torn_resume_file_is_set_aside_never_run(wav_corpus, tmp_path, capsys, caplog,
                                                           content):
    """A pickle whose payload would run code (or half a file), as the resume state of a run:
    never unpickled; renamed out of the way with a notice, and the fold trains from its start
    (sertk.train.resume)."""
    from sertk.cli import main
    from tests.reliability.conftest import TINY_CV

    _, manifest = wav_corpus
    marker = tmp_path / "pwned"
    out = tmp_path / "run"
    resume = out / "fold-00" / "resume" / "last.ckpt"
    resume.parent.mkdir(parents=True)
    torch.save({"epoch": 1, "state_dict": _Evil(marker)}, resume)
    if content == "torn":
        resume.write_bytes(resume.read_bytes()[:300])
    planted = resume.read_bytes()
    code = main(["cv", "--manifest", str(manifest), *TINY_CV, "--epochs", "2",
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(out)])
    err = capsys.readouterr().err
    assert not marker.exists(), "the pickle's payload ran"
    assert code == 0 and "Traceback" not in err, err
    aside = out / "fold-00" / "resume-set-aside.ckpt"
    assert aside.read_bytes() == planted  # kept for a look, under a name nothing loads
    notice = next(r.getMessage() for r in caplog.records if "set aside" in r.getMessage())
    assert str(resume) in notice and str(aside) in notice
    assert content == "torn" or "posix.mkdir" in notice  # torch names the blocked call
    assert (out / "fold-00" / "metrics.json").is_file()


# ------------------------------------------------------------------ hostile config.json
# A checkpoint's config.json is input from a stranger: every field is checked (type, range,
# finite) and the parameter count it implies is bounded before anything is built. Each
# variant must give one CheckpointError naming the checkpoint and the field, and must never
# reach the network's constructor (so nothing it describes is allocated).

def _hostile_variants():
    """(section, key, value, words the message must hold): one per way a field can lie."""
    M, F = "model_config", "feature_config"
    variants = [
        (M, "n_transformer", 1_000_000, ["n_transformer"]),
        (M, "hidden", 800_000_000, ["hidden"]),
        (M, "transformer_kernel_size", -3, ["transformer_kernel_size"]),
        (M, "transformer_kernel_size", 4, ["transformer_kernel_size", "odd"]),
        (M, "transformer_kernel_size", 1.5, ["transformer_kernel_size"]),
        (M, "transformer_kernel_size", "3", ["transformer_kernel_size"]),
        (M, "transformer_kernel_size", None, ["transformer_kernel_size"]),
        (M, "hidden", 4096, ["parameters"]),  # every field in range, the whole too big
        (M, "transformer_ffn_dim", 10**8, ["transformer_ffn_dim"]),
        (M, "blstm_ffn_dim", 10**8, ["blstm_ffn_dim"]),
        (M, "hidden", 2048, ["parameters"]),
        (M, "n_classes", 0, ["n_classes"]),
        (M, "n_classes", 10**7, ["n_classes"]),
        (M, "n_classes", True, ["n_classes"]),
        (M, "n_blstm", 0, ["n_blstm"]),
        (M, "n_blstm", 10**12, ["n_blstm"]),
        (M, "encoder_layers", 10**6, ["encoder_layers"]),
        (M, "n_heads", 3, ["n_heads"]),
        (M, "n_heads", -8, ["n_heads"]),
        (M, "n_mels", 41, ["mel bands"]),
        (M, "n_mels", 10**9, ["n_mels"]),
        (M, "blstm_dropout", 1.0, ["blstm_dropout"]),
        (M, "pool_dropout", -0.1, ["pool_dropout"]),
        (M, "transformer_dropout", "0.1", ["transformer_dropout"]),
        (M, "conv_kernel_sizes", [5, 3], ["conv_kernel_sizes"]),
        (M, "conv_kernel_sizes", [5, 3, -1], ["conv_kernel_sizes"]),
        (M, "conv_kernel_sizes", [5, 3, 10**9], ["conv_kernel_sizes"]),
        (M, "conv_kernel_sizes", "533", ["conv_kernel_sizes"]),
        (M, "conv_kernel_sizes", [[5], 3, 3], ["conv_kernel_sizes"]),
        (M, "conv_front", "yes", ["conv_front"]),
        (M, "time_pooling", 1, ["time_pooling"]),
        (M, "blstm", "gru", ["blstm"]),
        (M, "pool_type", {"max": 1}, ["pool_type"]),
        (M, "n_layerz", 3, ["n_layerz"]),
        (F, "n_fft", 0, ["n_fft"]),
        (F, "n_fft", -512, ["n_fft"]),
        (F, "n_fft", 10**12, ["n_fft"]),
        (F, "n_fft", 512.5, ["n_fft"]),
        (F, "n_fft", "512", ["n_fft"]),
        (F, "hop_length", 0, ["hop_length"]),
        (F, "hop_length", 10**9, ["hop_length"]),
        (F, "win_length", 0, ["win_length"]),
        (F, "win_length", 1000, ["win_length"]),
        (F, "sample_rate", 0, ["sample_rate"]),
        (F, "sample_rate", 10**12, ["sample_rate"]),
        (F, "sample_rate", [16000], ["sample_rate"]),
        (F, "n_mels", 0, ["n_mels"]),
        (F, "max_seconds", 0, ["max_seconds"]),
        (F, "max_seconds", -4, ["max_seconds"]),
        (F, "max_seconds", 1e300, ["max_seconds"]),
        (F, "max_seconds", 0.001, ["max_seconds"]),  # shorter than one analysis window
        (F, "log_offset", 0, ["log_offset"]),
        (F, "log_offset", -1e-6, ["log_offset"]),
        (F, "log_offset", None, ["log_offset"]),
        (F, "f_min", -1, ["f_min"]),
        (F, "f_max", 1e9, ["f_max"]),
        (F, "padding", 3, ["padding"]),
        (F, "stft", "fft", ["stft"]),
        (None, "model_config", [], ["model_config"]),
        (None, "feature_config", "fixed", ["feature_config"]),
        (None, "labels", [], ["labels"]),
        (None, "labels", "abcde", ["labels"]),
        (None, "labels", [1, 2, 3, 4, 5], ["labels"]),
        (None, "labels", ["a", "a", "b", "c", "d"], ["labels", "unique"]),
        (None, "labels", ["a", "b", "c", "d", " "], ["labels"]),
        (None, "labels", ["a", "b", "c", "d", "x" * 10_000], ["labels"]),
        (None, "labels", ["a", "b", "c", "d", "e\nf"], ["labels"]),
        (None, "labels", ["a", "b", "c"], ["labels"]),
        (None, "labels", [str(i) for i in range(100_000)], ["labels"]),
        (None, "norm_mean", [0.0] * 39, ["norm_mean"]),
        (None, "norm_mean", ["x"] * 40, ["norm_mean"]),
        (None, "norm_mean", [True] * 40, ["norm_mean"]),
        (None, "norm_mean", [[0.0]] * 40, ["norm_mean"]),
        (None, "norm_mean", None, ["norm_mean"]),
        (None, "norm_std", [0.0] * 40, ["norm_std", "> 0"]),
        (None, "norm_std", [-1.0] * 40, ["norm_std"]),
        (None, "norm_std", 1.0, ["norm_std"]),
        (None, "metadata", [], ["metadata"]),
        (None, "model_name", ["proposed"], ["model name"]),
    ]
    return [pytest.param(*v, id=f"{v[0] or 'top'}.{v[1]}={str(v[2])[:20]}") for v in variants]


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("hostile") / "ckpt")


def _copy(checkpoint: Path, target: Path) -> Path:
    return Path(shutil.copytree(checkpoint, target))


@pytest.fixture()
def nothing_is_built(monkeypatch):
    """Fail the test if the loader reaches the network's constructor."""
    def refuse(*args, **kwargs):
        raise AssertionError("SERNet was built from a config that should have been refused")

    monkeypatch.setattr(checkpoint_module, "SERNet", refuse)


def _assert_refused(path: Path, *words: str):
    tracemalloc.start()
    try:
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert "\n" not in message and len(message) < 600, message
    assert str(path) in message
    for word in words:
        assert word in message, message
    assert peak < 64 * 2**20, f"{peak:,} bytes traced while refusing"
    return message


@pytest.mark.parametrize("section, key, value, words", _hostile_variants())
def test_hostile_config_fields_are_refused_before_anything_is_built(
        good_checkpoint, tmp_path, nothing_is_built, section, key, value, words):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    (config[section] if section else config)[key] = value
    (path / "config.json").write_text(json.dumps(config))
    _assert_refused(path, *words)


@pytest.mark.parametrize("section, key, literal", [
    ("feature_config", "log_offset", "NaN"), ("feature_config", "max_seconds", "Infinity"),
    ("feature_config", "f_min", "-Infinity"), ("model_config", "blstm_dropout", "NaN"),
    ("model_config", "hidden", "Infinity"), ("norm_mean", 3, "NaN"), ("norm_std", 0, "Infinity"),
])
def test_nan_and_infinity_literals_are_refused(good_checkpoint, tmp_path, nothing_is_built,
                                               section, key, literal):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config[section][key] = "@@LITERAL@@"
    text = json.dumps(config).replace('"@@LITERAL@@"', literal)
    (path / "config.json").write_text(text)
    _assert_refused(path, literal, "finite")


@pytest.mark.parametrize("where", ["metadata", "model_config", "whole"])
def test_deeply_nested_json_is_refused(good_checkpoint, tmp_path, nothing_is_built, where):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    deep = "[" * 200_000 + "]" * 200_000
    config = json.loads((path / "config.json").read_text())
    if where == "whole":
        text = deep
    else:
        config[where] = "@@DEEP@@"
        text = json.dumps(config).replace('"@@DEEP@@"', deep)
    (path / "config.json").write_text(text)
    _assert_refused(path, "config.json", "nested")


def test_a_huge_config_file_is_refused_without_reading_it(good_checkpoint, tmp_path,
                                                          nothing_is_built):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    with open(path / "config.json", "r+b") as fh:  # valid JSON start, 4 GiB long (sparse)
        fh.truncate(4 * 2**30)
    _assert_refused(path, "config.json", "larger than")


def test_weights_far_larger_than_the_model_are_refused_before_reading(good_checkpoint,
                                                                      tmp_path):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    (weights,) = path.glob("weights-*.safetensors")
    with open(weights, "r+b") as fh:  # sparse: costs no disk, but reading it would
        fh.truncate(8 * 2**30)
    _assert_refused(path, weights.name, "larger than")


def test_a_hostile_checkpoint_gives_one_line_and_exit_2_in_every_command(good_checkpoint,
                                                                         tmp_path, capsys):
    path = _copy(good_checkpoint, tmp_path / "ckpt")
    config = json.loads((path / "config.json").read_text())
    config["model_config"]["n_transformer"] = 1_000_000
    (path / "config.json").write_text(json.dumps(config))
    clip = write_clip(tmp_path / "a.wav", 1.0)
    for argv in (["predict", str(clip), "--model", str(path), "--no-progress"],
                 ["export", str(path), "-o", str(tmp_path / "m.onnx")]):
        assert main(argv) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and "n_transformer" in err and str(path) in err, err
    assert not (tmp_path / "m.onnx").exists()


def test_parameter_count_matches_the_built_network():
    """The bound is computed without building; it must count what SERNet really holds."""
    variants = [dict(), dict(n_blstm=3, n_transformer=2), dict(encoder_layers=2),
                dict(positional_encoding="sinusoidal"), dict(hidden=32, n_heads=4)]
    for name in list_models():
        for overrides in variants:
            try:
                model = create_model(name, n_classes=5, **overrides)
            except ValueError:  # an ablation that has no transformer, for instance
                continue
            built = sum(p.numel() for p in model.parameters())
            assert model.config.parameter_count() == built, (name, overrides)
