"""Device options of every command (`predict --device`, `train`/`cv`/`ablate --accelerator
--devices`): hardware this machine lacks or a name that is no device gives one line naming the
option and what is available, exit status 2, and nothing is written.

The hardware is simulated (``sertk.devices.cuda_count``), so the same checks hold on CPU-only
and GPU machines.
"""
from __future__ import annotations

import pytest
import torch

import sertk
from sertk import devices
from sertk.cli import main
from sertk.devices import DeviceError, check_training_devices, resolve_device
from tests.infer.tiny import make_checkpoint, write_clip
from tests.infer.tiny import single_thread  # noqa: F401 (autouse fixture)

TRAINING_COMMANDS = ("train", "cv", "ablate")


@pytest.fixture()
def no_gpu(monkeypatch):
    monkeypatch.setattr(devices, "cuda_count", lambda: 0)
    monkeypatch.setattr(devices, "mps_available", lambda: False)


@pytest.fixture()
def two_gpus(monkeypatch):
    monkeypatch.setattr(devices, "cuda_count", lambda: 2)
    monkeypatch.setattr(devices, "mps_available", lambda: False)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    return str(make_checkpoint(tmp_path_factory.mktemp("devices") / "ckpt"))


def _one_line_error(capsys, *needles: str) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert "Traceback" not in captured.err
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]


@pytest.mark.parametrize("device, needles", [
    ("cuda", ["--device", "'cuda'", "available here: cpu"]),
    ("cuda:0", ["--device", "'cuda:0'", "available here: cpu"]),
    ("gpu", ["--device", "'gpu'", "not a device name", "available here: cpu"]),
    ("bogus", ["--device", "'bogus'", "available here: cpu"]),
    ("", ["--device", "available here: cpu"]),
    ("meta", ["--device", "'meta'", "sertk runs on"]),
    ("mps", ["--device", "'mps'", "MPS"]),
])
def test_predict_refuses_devices_this_machine_lacks(no_gpu, ckpt, tmp_path, capsys, device,
                                                    needles):
    clip = write_clip(tmp_path / "a.wav", 1.0)
    out = tmp_path / "out.csv"
    code = main(["predict", str(clip), "--model", ckpt, "--device", device, "--out", str(out),
                 "--no-progress"])
    assert code == 2
    _one_line_error(capsys, "sertk predict: error:", *needles)
    assert not out.exists()


def test_predict_refuses_a_gpu_index_beyond_the_count(two_gpus, ckpt, tmp_path, capsys):
    clip = write_clip(tmp_path / "a.wav", 1.0)
    assert main(["predict", str(clip), "--model", ckpt, "--device", "cuda:2",
                 "--no-progress"]) == 2
    _one_line_error(capsys, "--device 'cuda:2'", "only 2 CUDA device(s)", "cuda:0, cuda:1")


def test_predict_on_cpu_still_works(no_gpu, ckpt, tmp_path):
    clip = write_clip(tmp_path / "a.wav", 1.0)
    assert main(["predict", str(clip), "--model", ckpt, "--device", " cpu",
                 "--no-progress"]) == 0


def test_the_python_api_raises_the_same_error(no_gpu, ckpt):
    with pytest.raises(DeviceError, match=r"--device 'cuda'.*available here: cpu"):
        sertk.load_model(ckpt, device="cuda")
    assert resolve_device(None) == torch.device("cpu")


@pytest.mark.parametrize("command", TRAINING_COMMANDS)
@pytest.mark.parametrize("options, needles", [
    (["--accelerator", "gpu"], ["--accelerator 'gpu'", "available here: cpu"]),
    (["--accelerator", "cuda", "--devices", "1"], ["--accelerator 'cuda'", "available here"]),
    (["--accelerator", "bogus"], ["--accelerator 'bogus'", "unknown", "available here: cpu"]),
    (["--accelerator", "tpu"], ["--accelerator 'tpu'", "available here: cpu"]),
    (["--accelerator", "mps"], ["--accelerator 'mps'", "MPS"]),
    (["--devices", "4"], ["--devices", "4", "--accelerator cpu", "available here: cpu"]),
    (["--devices", "0,1"], ["--devices", "0,1", "available here: cpu"]),
    (["--devices", "0"], ["--devices 0", "must be a count"]),
    (["--devices", "two"], ["--devices 'two'", "must be a count"]),
    (["--accelerator", "cpu", "--devices", "-3"], ["--devices -3", "must be a count"]),
    (["--accelerator", "cpu", "--devices", "0,1"], ["--devices", "counted"]),
    (["--set", "accelerator=gpu"], ["--accelerator 'gpu'", "available here: cpu"]),
])
def test_training_commands_refuse_devices_this_machine_lacks(no_gpu, tmp_path, capsys, command,
                                                             options, needles):
    out = tmp_path / "run"
    code = main([command, "--manifest", str(tmp_path / "m.csv"), "-o", str(out), *options])
    assert code == 2
    _one_line_error(capsys, f"sertk {command}:", *needles)
    assert not out.exists()


@pytest.mark.parametrize("options, needles", [
    (["--accelerator", "gpu", "--devices", "4"], ["--devices", "only 2 CUDA device(s)"]),
    (["--devices", "3"], ["--devices", "only 2 CUDA device(s)"]),
    (["--accelerator", "cuda", "--devices", "1,2"], ["--devices", "only 2 CUDA device(s)"]),
])
def test_training_refuses_more_gpus_than_there_are(two_gpus, tmp_path, capsys, options, needles):
    out = tmp_path / "run"
    assert main(["train", "--manifest", str(tmp_path / "m.csv"), "-o", str(out), *options]) == 2
    _one_line_error(capsys, *needles)
    assert not out.exists()


@pytest.mark.parametrize("accelerator, count", [
    ("auto", 1), ("auto", "auto"), ("cpu", 1), ("cpu", 4), ("cpu", "2"), ("cpu", -1),
    ("CPU", "auto")])
def test_what_a_cpu_machine_can_run_is_accepted(no_gpu, accelerator, count):
    check_training_devices(accelerator, count)


@pytest.mark.parametrize("accelerator, count", [
    ("gpu", 2), ("cuda", "0,1"), ("auto", 2), ("gpu", "1,"), ("gpu", [1]), ("auto", -1)])
def test_what_a_two_gpu_machine_can_run_is_accepted(two_gpus, accelerator, count):
    check_training_devices(accelerator, count)
