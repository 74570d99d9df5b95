"""int8 inference (dynamic quantization of the LSTM and Linear layers): PyTorch predictor,
ONNX export, and the refusals.

Bounds. The tiny test model's classifier weights are scaled 20x (``tests/infer/tiny.py``), so
its probabilities are far sharper than a trained model's and every rounding error of the int8
embedding is amplified 20x in the logits. Measured on these 40 EmoDB clips of 0.5-3 s: max
|p_int8 - p_float| 0.035 (fixed padding) and 0.052 (batch padding), the top label the same on
every clip. The test allows 0.15 and lets the label change only where the float model's two
best probabilities are within 0.15 of each other (a near tie that a 0.075 shift can flip).
Running the backward LSTM with the forward direction's int8 weights (a real mistake to make
in the variable-length path) moves probabilities by 0.55 and flips confident clips: caught.
The bundled model, with ordinary logits, moves by 4e-3 (``sertk export emodb --int8``).
"""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sertk.cli import main
from sertk.export import INT8_TOLERANCE, ExportOptions, export_model, export_onnx, runner
from sertk.features import LogMel
from sertk.infer import load_model
from sertk.quantize import Int8Error, check_int8_device
from tests.infer.tiny import assert_label_changes_only_on_near_ties

INT8_BOUND = 0.15  # tiny model (20x logits): max |p_int8 - p_float| allowed, and near-tie margin


@pytest.mark.parametrize("padding", ["fixed", "batch"])
def test_int8_predictor_keeps_the_float_labels(checkpoints, varied_waves, padding):
    float_model = load_model(checkpoints[padding], device="cpu", vad=False)
    int8_model = load_model(checkpoints[padding], device="cpu", vad=False, int8=True)
    reference = float_model.probabilities(varied_waves)
    quantized = int8_model.probabilities(varied_waves)
    assert np.abs(quantized - reference).max() <= INT8_BOUND
    assert 0 < np.abs(quantized - reference).max()  # the int8 model did run
    assert_label_changes_only_on_near_ties(reference, quantized, INT8_BOUND)
    assert np.mean(reference.argmax(1) == quantized.argmax(1)) >= 0.9


def test_int8_quantizes_lstm_and_linear_and_leaves_the_checkpoint_float(checkpoints):
    predictor = load_model(checkpoints["batch"], device="cpu", vad=False, int8=True)
    kinds = {type(m).__module__ + "." + type(m).__name__ for m in predictor.model.modules()}
    assert not any(k in kinds for k in ("torch.nn.modules.rnn.LSTM",
                                        "torch.nn.modules.linear.Linear"))
    assert any("quantized.dynamic" in k and k.endswith(".LSTM") for k in kinds)
    assert any("quantized.dynamic" in k and k.endswith(".Linear") for k in kinds)
    assert isinstance(predictor.checkpoint.model.head, torch.nn.Linear)  # a copy was quantized
    assert "int8=True" in repr(predictor)


def test_int8_refuses_a_gpu_with_one_line(checkpoints, monkeypatch):
    with pytest.raises(Int8Error, match="CPU only") as err:
        check_int8_device(torch.device("cuda"))
    assert "\n" not in str(err.value)
    # the predictor asks before moving anything to the device
    monkeypatch.setattr("sertk.infer.predictor.resolve_device", lambda d: torch.device("cuda"))
    with pytest.raises(Int8Error, match="CPU only"):
        load_model(checkpoints["fixed"], device="cuda", int8=True)


def test_predict_int8_on_a_gpu_is_a_usage_error(checkpoints, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sertk.infer.predictor.resolve_device", lambda d: torch.device("cuda"))
    clip = tmp_path / "a.wav"
    import soundfile as sf

    sf.write(clip, np.zeros(16000, np.float32), 16000)
    assert main(["predict", str(clip), "--model", str(checkpoints["fixed"]), "--int8",
                 "--device", "cuda", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "CPU only" in err[0]


def test_int8_onnx_export_is_recorded_and_checked(checkpoints, varied_waves, tmp_path):
    report = export_onnx(checkpoints["batch"], tmp_path / "m.onnx",
                         ExportOptions(int8=True, tolerance=INT8_BOUND))
    sidecar = json.loads(report.sidecar.read_text())
    assert sidecar["int8"] is True and report.int8
    assert sidecar["parity"]["tolerance"] == INT8_BOUND
    assert 0 < sidecar["parity"]["max_abs_diff"] <= INT8_BOUND
    assert 0 <= sidecar["parity"]["label_agreement"] <= 1
    assert "int8" in report.summary()
    import onnx

    ops = {node.op_type for node in onnx.load(str(report.path)).graph.node}
    assert {"DynamicQuantizeLSTM", "MatMulInteger"} <= ops and "LSTM" not in ops
    # an independent check of what was written: the same bound on real clips, padded batch
    reference = load_model(checkpoints["batch"], device="cpu", vad=False).probabilities(
        varied_waves)
    batch = np.zeros((len(varied_waves), max(w.size for w in varied_waves)), np.float32)
    for row, wave in zip(batch, varied_waves):
        row[: wave.size] = wave
    quantized = runner(report.path, "onnx")(batch, np.array([w.size for w in varied_waves]))
    assert np.abs(quantized - reference).max() <= INT8_BOUND
    assert_label_changes_only_on_near_ties(reference, quantized, INT8_BOUND)


@pytest.mark.parametrize("exporter", ["dynamo", "legacy"])
def test_int8_onnx_export_quantizes_the_lstm_whichever_exporter_wrote_it(checkpoints, tmp_path,
                                                                         exporter):
    """The dynamo exporter computes the LSTM weights in the graph (gate reordering) instead
    of storing them; the quantizer must still see them as constants and quantize the LSTM.
    The front-end's products (DFT and mel filters on a power spectrum) stay float32."""
    import onnx

    report = export_onnx(checkpoints["fixed"], tmp_path / "m.onnx",
                         ExportOptions(int8=True, tolerance=INT8_BOUND, exporter=exporter))
    graph = onnx.load(str(report.path)).graph
    ops = [node.op_type for node in graph.node]
    assert "DynamicQuantizeLSTM" in ops and "LSTM" not in ops
    logmel = LogMel(stft="conv")  # the front-end's constants, found by shape (names vary)
    shapes = {tuple(logmel.dft_basis.shape), tuple(logmel.mel_basis.shape)}
    constants = {i.name for i in graph.initializer if tuple(i.dims) in shapes}
    readers = [node.op_type for node in graph.node if constants & set(node.input)]
    assert readers == ["MatMul", "MatMul"]  # the DFT and the mel filters, both float32


def test_float_export_default_tolerance_is_unchanged_and_int8_has_its_own():
    assert ExportOptions().tolerance == 1e-4 and ExportOptions(int8=True).tolerance == \
        INT8_TOLERANCE
    assert ExportOptions(int8=True, tolerance=0.2).tolerance == 0.2


def test_int8_torchscript_export_is_refused(checkpoints, tmp_path, capsys):
    with pytest.raises(ValueError, match="ONNX"):
        export_model(checkpoints["fixed"], tmp_path / "m.pt", "torchscript",
                     ExportOptions(int8=True))
    assert not (tmp_path / "m.pt").exists()
    assert main(["export", str(checkpoints["fixed"]), "--format", "torchscript", "--int8",
                 "-o", str(tmp_path / "m.pt")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--int8" in err[0] and not (tmp_path / "m.pt").exists()
