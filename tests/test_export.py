"""Export: ONNX (onnxruntime) and TorchScript models equal the PyTorch predictor.

The parity bound is the one the export command enforces: max |p_exported - p_pytorch|
<= 1e-4 over real EmoDB audio and over variable lengths, one clip at a time and as a
zero-padded batch with lengths.
"""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.audio import read_head
from sertk.export import (ExportError, ExportOptions, WaveformClassifier, export_model, export_onnx,
                          export_torchscript, runner, sidecar_path)
from sertk.features import FeatureConfig
from sertk.infer import load_model
from sertk.models import load_checkpoint
from tests.infer.tiny import LABELS, make_checkpoint, speech_like
from tests.infer.tiny import single_thread  # noqa: F401 (autouse fixture)

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    root = tmp_path_factory.mktemp("export")
    return {padding: make_checkpoint(root / padding, padding=padding, seed=i)
            for i, padding in enumerate(["fixed", "batch"])}


@pytest.fixture(scope="module")
def emodb_waves(emodb_dir):
    """Real EmoDB clips (22.05 kHz, resampled) cut to several lengths."""
    files = sorted((emodb_dir / "wav").glob("*.wav"))[::90][:6]
    waves = [read_head(f, 4.0)[0] for f in files]
    cuts = [0.25, 0.9, 1.3, 2.0, 1.71, 0.5]
    return files, [w[: int(c * 16_000)] for w, c in zip(waves, cuts)]


def _parity(run, predictor, waves) -> float:
    """Max difference over each clip alone and over all of them as one padded batch."""
    reference = predictor.probabilities(waves)
    alone = np.concatenate([run(w[None, :], None) for w in waves])
    batch = np.zeros((len(waves), max(w.size for w in waves)), np.float32)
    for row, wave in zip(batch, waves):
        row[: wave.size] = wave
    together = run(batch, np.array([w.size for w in waves]))
    assert together.shape == (len(waves), len(LABELS))
    return float(max(np.abs(alone - reference).max(), np.abs(together - reference).max()))


@pytest.fixture(scope="module")
def onnx_dynamo_fixed(checkpoints, emodb_waves, tmp_path_factory):
    """The default exporter (torch.export) on a fixed-padding model, checked on EmoDB files."""
    files, _ = emodb_waves
    path = tmp_path_factory.mktemp("onnx") / "fixed.onnx"
    options = ExportOptions(exporter="dynamo", check_audio=tuple(map(str, files)))
    return export_onnx(checkpoints["fixed"], path, options)


def test_onnx_dynamo_export_matches_pytorch_on_emodb(onnx_dynamo_fixed, checkpoints, emodb_waves):
    report = onnx_dynamo_fixed
    assert report.exporter == "dynamo" and report.path.is_file()
    assert report.max_abs_diff <= TOLERANCE and report.check_clips == 12
    assert min(report.check_lengths) < 0.3 * max(report.check_lengths)
    _, waves = emodb_waves
    predictor = load_model(checkpoints["fixed"], device="cpu", vad=False)
    diff = _parity(runner(report.path, "onnx"), predictor, waves)
    assert diff <= TOLERANCE


def test_onnx_model_has_dynamic_batch_and_samples_and_a_sidecar(onnx_dynamo_fixed):
    import onnx

    model = onnx.load(str(onnx_dynamo_fixed.path))
    inputs = {i.name: i for i in model.graph.input}
    assert list(inputs) == ["waveform", "lengths"]
    dims = [d.dim_param or d.dim_value for d in inputs["waveform"].type.tensor_type.shape.dim]
    assert all(isinstance(d, str) and d for d in dims), dims  # both axes symbolic
    assert [o.name for o in model.graph.output] == ["probabilities"]

    sidecar = json.loads(onnx_dynamo_fixed.sidecar.read_text())
    assert onnx_dynamo_fixed.sidecar.name == "fixed.onnx.json"
    assert sidecar["labels"] == LABELS and sidecar["feature_config"]["sample_rate"] == 16_000
    assert sidecar["inputs"]["lengths"]["dtype"] == "int64"
    assert sidecar["parity"]["max_abs_diff"] == onnx_dynamo_fixed.max_abs_diff


def test_onnx_export_of_a_batch_padding_model_handles_variable_lengths(checkpoints, emodb_waves,
                                                                     tmp_path):
    """Lengths reach the packed BLSTM inside the graph (auto picks the legacy exporter)."""
    report = export_onnx(checkpoints["batch"], tmp_path / "batch.onnx")
    assert report.exporter == "legacy" and report.max_abs_diff <= TOLERANCE
    predictor = load_model(checkpoints["batch"], device="cpu", vad=False)
    _, waves = emodb_waves
    assert _parity(runner(report.path, "onnx"), predictor, waves) <= TOLERANCE
    synthetic = [speech_like(s, seed=i) for i, s in enumerate([0.025, 0.33, 3.99, 4.0, 6.5])]
    assert _parity(runner(report.path, "onnx"), predictor, synthetic) <= TOLERANCE


@pytest.mark.parametrize("padding", ["fixed", "batch"])
def test_torchscript_export_matches_pytorch(checkpoints, emodb_waves, tmp_path, padding):
    report = export_torchscript(checkpoints[padding], tmp_path / "model.pt")
    assert report.format == "torchscript" and report.max_abs_diff <= TOLERANCE
    predictor = load_model(checkpoints[padding], device="cpu", vad=False)
    _, waves = emodb_waves
    waves = waves + [speech_like(5.0, seed=9)]
    assert _parity(runner(report.path, "torchscript"), predictor, waves) <= TOLERANCE


def test_export_without_lengths_takes_one_input(checkpoints, tmp_path):
    report = export_torchscript(checkpoints["batch"], tmp_path / "m.pt",
                                ExportOptions(with_lengths=False))
    run = runner(report.path, "torchscript")
    predictor = load_model(checkpoints["batch"], device="cpu", vad=False)
    wave = speech_like(2.2)
    np.testing.assert_allclose(run(wave[None], None), predictor.probabilities([wave]),
                               atol=TOLERANCE)
    assert "lengths" not in json.loads(report.sidecar.read_text())["inputs"]


def test_the_export_wrapper_is_the_predictor(checkpoints):
    """fft and conv STFTs, padded to max_frames or not: the same probabilities."""
    import torch

    checkpoint = load_checkpoint(checkpoints["batch"])
    predictor = load_model(checkpoints["batch"], device="cpu", vad=False)
    waves = [speech_like(s, seed=i) for i, s in enumerate([0.5, 1.7])]
    batch = torch.zeros(2, 27_200)
    for row, wave in zip(batch, waves):
        row[: wave.size] = torch.from_numpy(wave)
    with torch.inference_mode():
        probs = WaveformClassifier(checkpoint)(batch, torch.tensor([8000, 27_200]))
    np.testing.assert_allclose(probs.numpy(), predictor.probabilities(waves), atol=1e-5)


def test_a_failed_parity_check_fails_loudly_and_writes_nothing(checkpoints, tmp_path, monkeypatch):
    import sertk.export

    real = sertk.export.runner

    def off_by_a_little(path, format, min_samples=None):
        run = real(path, format, min_samples)
        return lambda waveform, lengths: run(waveform, lengths) + 1e-3

    monkeypatch.setattr(sertk.export, "runner", off_by_a_little)
    target = tmp_path / "m.pt"
    with pytest.raises(ExportError, match=r"differs from PyTorch by 0.001.*nothing written"):
        export_torchscript(checkpoints["fixed"], target)
    assert list(tmp_path.iterdir()) == []


def test_export_model_names_the_file_after_the_checkpoint(checkpoints, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = export_model(checkpoints["fixed"], format="torchscript")
    assert report.path.name == "fixed.pt" and (tmp_path / "fixed.pt.json").is_file()
    with pytest.raises(ValueError, match="format"):
        export_model(checkpoints["fixed"], format="tflite")


# ------------------------------------------------------------------ the input contract
# An exported graph cannot refuse input: fed nothing, one sample or less than one analysis
# window it returns a confident-looking emotion about nothing, and lengths outside
# [0, samples] give NaN or a silently different answer. The sidecar states the contract
# (min_samples) and sertk's runner checks it before every call.

MIN = FeatureConfig().min_samples  # 400 samples = one 25 ms window at 16 kHz


@pytest.fixture(scope="module")
def exported(checkpoints, tmp_path_factory):
    root = tmp_path_factory.mktemp("contract")
    return {"onnx": export_onnx(checkpoints["batch"], root / "m.onnx").path,
            "torchscript": export_torchscript(checkpoints["fixed"], root / "m.pt").path}


def _bad_inputs():
    wave = speech_like(1.0)
    return [
        ("no samples", np.zeros((1, 0), np.float32), None, "fewer than one analysis window"),
        ("one sample", wave[None, :1], None, "fewer than one analysis window"),
        ("a window less one", wave[None, :MIN - 1], None, "fewer than one analysis window"),
        ("no rows", np.zeros((0, 16_000), np.float32), None, "batch >= 1"),
        ("1-D", wave, None, "(batch >= 1, samples)"),
        ("3-D", wave[None, None], None, "(batch >= 1, samples)"),
        ("text", np.array([["a"] * MIN]), None, "numbers"),
        ("NaN sample", np.where(np.arange(wave.size) == 7, np.nan, wave)[None], None, "NaN"),
        ("zero length", wave[None], np.array([0]), "outside [400, 16000]"),
        ("negative length", wave[None], np.array([-5]), "outside"),
        ("length past the end", wave[None], np.array([16_001]), "outside"),
        ("length of one sample", wave[None], np.array([1]), "outside"),
        ("one bad row", np.stack([wave, wave]), np.array([16_000, 399]), "row 1"),
        ("float lengths", wave[None], np.array([16_000.0]), "integers"),
        ("too few lengths", np.stack([wave, wave]), np.array([16_000]), "2 integers"),
    ]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
@pytest.mark.parametrize("name, waveform, lengths, words", _bad_inputs(),
                         ids=[case[0] for case in _bad_inputs()])
def test_runner_refuses_input_outside_the_contract(exported, fmt, name, waveform, lengths,
                                                   words):
    run = runner(exported[fmt], fmt)
    with pytest.raises(ValueError) as info:
        run(waveform, lengths)
    assert words in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_one_analysis_window_is_enough(exported, fmt, checkpoints):
    """The shortest input the contract allows runs and matches the predictor."""
    padding = "batch" if fmt == "onnx" else "fixed"
    predictor = load_model(checkpoints[padding], device="cpu", vad=False)
    wave = speech_like(1.0)[:MIN]
    run = runner(exported[fmt], fmt)
    expected = predictor.probabilities([wave])
    np.testing.assert_allclose(run(wave[None], None), expected, atol=TOLERANCE)
    padded = np.concatenate([wave, np.zeros(600, np.float32)])[None]
    np.testing.assert_allclose(run(padded, np.array([MIN])), expected, atol=TOLERANCE)


def test_the_sidecar_states_the_contract_and_the_runner_reads_it(exported):
    path = exported["onnx"]
    sidecar = json.loads(sidecar_path(path).read_text())
    assert sidecar["min_samples"] == MIN == sidecar["inputs"]["waveform"]["min_samples"]
    assert "min_samples" in sidecar["contract"]
    assert min(sidecar["parity"]["lengths"]) >= MIN  # the parity check obeys it too
    sidecar["min_samples"] = 1_000
    sidecar_path(path).write_text(json.dumps(sidecar))
    try:
        with pytest.raises(ValueError, match="1000 samples"):
            runner(path, "onnx")(speech_like(1.0)[None, :900], None)
    finally:
        sidecar["min_samples"] = MIN
        sidecar_path(path).write_text(json.dumps(sidecar))


def test_check_audio_shorter_than_one_window_is_refused(checkpoints, tmp_path):
    from sertk.audio import AudioError
    from tests.infer.tiny import write_clip

    short = write_clip(tmp_path / "click.wav", 0.01)  # 160 samples
    with pytest.raises(AudioError, match="shorter than one analysis window"):
        export_torchscript(checkpoints["fixed"], tmp_path / "m.pt",
                           ExportOptions(check_audio=(str(short),)))
    assert not (tmp_path / "m.pt").exists()


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_a_model_with_a_dimension_head_is_refused_not_exported_without_it(tmp_path, fmt):
    checkpoint = make_checkpoint(tmp_path / "dims", n_dims=2)
    target = tmp_path / f"m.{'onnx' if fmt == 'onnx' else 'pt'}"
    with pytest.raises(ExportError, match="also predicts arousal, valence"):
        export_model(checkpoint, target, format=fmt)
    assert not target.exists()
