"""Reduced-precision inference: dynamic int8 quantization of a model's LSTM and Linear
layers, and bfloat16 autocast, for faster inference.

Dynamic quantization stores the weights of the LSTM and Linear layers as int8 and
quantizes each activation on the fly (its own scale per call), so no calibration data is
needed; convolutions, attention's fused projections, normalisation and the front-end stay
float32. Two engines:

- :func:`quantize_torch` (``load_model(..., int8=True)``, ``sertk predict --int8``):
  ``torch.ao.quantization.quantize_dynamic``. PyTorch marks ``torch.ao.quantization``
  deprecated in favour of torchao's ``quantize_``, which quantizes Linear layers only (no
  LSTM), so the eager API is still the one that covers this model; if a future torch
  drops it, :class:`Int8Error` says so and ``sertk export --int8`` (ONNX Runtime) remains.
- :func:`quantize_onnx_file` (``sertk export --int8``): ONNX Runtime's
  ``quantize_dynamic`` on the exported graph's LSTM, MatMul and Gemm nodes.

Both run on the CPU only. bfloat16 (``load_model(..., bf16=True)``, ``sertk predict
--bf16``) runs the network under ``torch.autocast`` with bfloat16 (matrix products,
convolutions and LSTMs in bfloat16, normalisation and softmax in float32; the log-mel
front-end stays float32): on a CPU with native bfloat16 instructions (AVX-512 BF16 or AMX)
or a CUDA GPU that supports it; elsewhere it would be emulated and slower, so
:func:`check_bf16_device` refuses. The accuracy cost of both on EmoDB-2s is measured by
``bench/int8_accuracy.py`` (docs/performance.md).
"""
from __future__ import annotations

import logging
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import torch
from torch import nn

ONNX_INT8_OPS = ("LSTM", "MatMul", "Gemm")  # what sertk export --int8 quantizes
# ... except in the exported front-end (sertk.export.WaveformClassifier.frontend): its DFT
# and mel products act on a spectrum spanning many decades, which int8 would flatten. The
# dynamo exporter names its tensors "frontend.<buffer>", the legacy one its nodes "/frontend/..."
FRONTEND_TENSORS, FRONTEND_NODES = "frontend.", "/frontend/"


class Int8Error(ValueError):
    """int8 inference cannot be used here; ``str(err)`` is one line saying why."""


class Bf16Error(ValueError):
    """bfloat16 inference cannot be used here; ``str(err)`` is one line saying why."""


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's test: AVX-512 BF16 or AMX)."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def check_bf16_device(device: torch.device) -> None:
    """Raise :class:`Bf16Error` unless ``device`` computes bfloat16 natively (a CPU with
    AVX-512 BF16 or AMX, or a CUDA GPU with bfloat16 support)."""
    device = torch.device(device)
    if device.type == "cpu":
        if not cpu_has_bf16():
            raise Bf16Error("this CPU has no native bfloat16 instructions (AVX-512 BF16 or "
                            "AMX): bf16 would be emulated and slower than float32; leave "
                            "out --bf16")
    elif device.type == "cuda":
        if not torch.cuda.is_bf16_supported():
            raise Bf16Error(f"{device} does not support bfloat16; leave out --bf16")
    else:
        raise Bf16Error(f"bf16 runs on a CPU or a CUDA GPU, not on {device}")


def autocast(device: torch.device, bf16: bool):
    """The context that runs a network in bfloat16 on ``device`` when ``bf16``, else a
    context that changes nothing; outputs may be bfloat16 (call ``.float()``)."""
    device = torch.device(device)
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bool(bf16))


def check_int8_device(device: torch.device) -> None:
    """Raise :class:`Int8Error` unless ``device`` is the CPU (dynamic int8 kernels are CPU
    kernels)."""
    if torch.device(device).type != "cpu":
        raise Int8Error(f"int8 (dynamic quantization) runs on the CPU only, not on "
                        f"{torch.device(device)}: use --device cpu or leave out --int8")


def quantize_torch(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (eval mode) whose ``nn.LSTM`` and ``nn.Linear`` layers hold int8
    weights (dynamic quantization); ``model`` itself is left as it was.

    The copy computes the same shapes; its LSTMs still run exactly on variable lengths
    (:mod:`sertk.models.varlen_lstm` drives the quantized LSTM one direction at a time).

    Raises:
        Int8Error: this torch build has no dynamic quantization or no int8 CPU engine.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the deprecation notice of torch.ao.quantization
            from torch.ao.quantization import quantize_dynamic
    except ImportError as err:
        raise Int8Error(f"this torch ({torch.__version__}) has no dynamic quantization "
                        f"(torch.ao.quantization): {err}") from None
    if not torch.backends.quantized.supported_engines or \
            torch.backends.quantized.supported_engines == ["none"]:
        raise Int8Error(f"this torch ({torch.__version__}) has no int8 CPU engine")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return quantize_dynamic(model.eval(), {nn.LSTM, nn.Linear}, dtype=torch.qint8,
                                inplace=False)


def quantize_onnx_file(source: str | Path, target: str | Path) -> None:
    """Write ``source`` (a float32 ONNX file) to ``target`` with its LSTM, MatMul and Gemm
    nodes dynamically quantized to int8 weights (ONNX Runtime; convolutions and the nodes
    of the exported front-end stay float32); :class:`Int8Error` without ONNX Runtime's
    quantization tools."""
    try:
        from onnxruntime.quantization import QuantType, quantize_dynamic
        from onnxruntime.quantization.shape_inference import quant_pre_process
    except ImportError as err:
        raise Int8Error(f"int8 export needs onnxruntime.quantization: {err}") from None
    with warnings.catch_warnings(), _quiet_root_logger(), \
            tempfile.TemporaryDirectory(prefix="sertk-int8-") as tmp:
        warnings.simplefilter("ignore")
        # constant folding first: the dynamo exporter computes the LSTM weights in the graph
        # (gate reordering), and the quantizer quantizes only weights stored as constants
        folded = Path(tmp) / "folded.onnx"
        quant_pre_process(str(source), str(folded), skip_symbolic_shape=True)
        quantize_dynamic(str(folded), str(target), op_types_to_quantize=list(ONNX_INT8_OPS),
                         weight_type=QuantType.QInt8,
                         nodes_to_exclude=_frontend_nodes(folded))


def _frontend_nodes(path: Path) -> list[str]:
    """Names of the exported front-end's nodes in the ONNX file at ``path``."""
    import onnx

    return [node.name for node in onnx.load(str(path)).graph.node
            if node.name.startswith(FRONTEND_NODES)
            or any(name.startswith(FRONTEND_TENSORS) for name in node.input)]


@contextmanager
def _quiet_root_logger():
    """ONNX Runtime's quantizer advises pre-processing through ``logging.warning`` (the root
    logger, configuring it on the way): keep that off the user's terminal and config."""
    root = logging.getLogger()
    handler, level = logging.NullHandler(), root.level
    root.addHandler(handler)
    root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.removeHandler(handler)
        root.setLevel(level)
