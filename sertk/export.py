"""Export a checkpoint as one self-contained model: raw waveform in, probabilities out.

The exported graph holds the whole inference path of :mod:`sertk.infer`: the
log-mel front-end with the ``conv`` STFT (a strided convolution every ONNX runtime
executes), the normalisation, the training padding, the network and a softmax.

Inputs and output (batch and sample axes are dynamic):

- ``waveform``: (B, samples) float32 mono at 16 kHz (the checkpoint's rate),
  zero-padded past the end of shorter clips;
- ``lengths`` (unless ``with_lengths=False``): (B,) int64 valid samples per row;
- ``probabilities``: (B, n_classes) float32, in the order of the sidecar's ``labels``.

The graph divides the logits by the checkpoint's calibration temperature before the softmax
(as :class:`~sertk.infer.Predictor` does; :mod:`sertk.train.calibration`), so its
probabilities are the calibrated ones. Only the first ``max_seconds`` of each row are used,
as in training. A JSON sidecar (``<file>.json``) records the labels, the feature config, the
inputs, the input contract and the parity check. An ONNX file also carries its labels in its
own metadata (:func:`onnx_metadata`), readable without the sidecar::

    {p.key: p.value for p in onnx.load(path).metadata_props}["labels"]

Input contract (``min_samples`` in the sidecar: one analysis window, 400 samples = 25 ms at
16 kHz): every row holds at least ``min_samples`` valid samples and ``min_samples <=
lengths <= samples``. A graph cannot refuse input (ONNX has no assert), and what it computes
for an empty or too short row is a confident-looking answer about nothing; so
:func:`runner`, sertk's own way to run an exported file, checks the contract with
:func:`check_inputs` before every call (a ``ValueError`` naming the row).

Every export is checked against the PyTorch predictor on real or generated audio of several
lengths (given files whole and cut short), one clip at a time and as one padded batch; an
export whose probabilities differ by more than ``tolerance`` (1e-4) raises
:class:`ExportError` and nothing is left at the target path.

``int8=True`` (ONNX only) quantizes the exported graph's LSTM, MatMul and Gemm nodes to int8
weights with ONNX Runtime's dynamic quantization (:func:`sertk.quantize.quantize_onnx_file`).
Its parity check compares the int8 file with the float32 PyTorch model under the looser
``INT8_TOLERANCE`` (0.05 by default) and also reports the share of check clips whose top
label agrees; the sidecar records ``"int8": true`` and both figures.

ONNX exporters: ``"dynamo"`` (``torch.export``, the default in torch 2.x) captures
models that run without lengths (``padding="fixed"``); models that need lengths
inside the network (``padding="batch"``: packed BLSTM sequences) are captured by
the TorchScript-based ``"legacy"`` exporter, which maps packed sequences to ONNX
LSTM ``sequence_lens``. ``"auto"`` tries the one that fits first, then the other.
TorchScript files are traced; inside the graph the network always sees ``max_frames``
frames (padding masked by lengths), so one trace serves every input length.
"""
from __future__ import annotations

import importlib.metadata
import json
import logging
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sertk.audio import AudioError, read_head
from sertk.fileio import atomic_write, short_error
from sertk.features import FeatureConfig
from sertk.infer.frontend import frontend_for
from sertk.infer.predictor import Predictor
from sertk.quantize import Int8Error, quantize_onnx_file

FORMATS = ("onnx", "torchscript")
EXTENSIONS = {"onnx": ".onnx", "torchscript": ".pt"}
ONNX_EXPORTERS = ("auto", "dynamo", "legacy")
TOLERANCE = 1e-4
INT8_TOLERANCE = 0.05  # int8 vs float32 probabilities (dynamic quantization, sertk.quantize)
MAX_SIDECAR_BYTES = 1 << 20

# generated check clips (the shortest is raised to min_samples); > max_seconds included
CHECK_SECONDS = (0.025, 0.3, 1.0, 2.37, 4.0, 5.5)
PREFIX_FRACTIONS = (0.13, 0.37, 0.61, 0.89)  # check files are also cut to these fractions


class ExportError(RuntimeError):
    """An export that failed or did not reproduce the PyTorch model."""


@dataclass(frozen=True)
class ExportOptions:
    """How to export. ``check_audio``: files for the parity check (None = generated).
    ``int8``: dynamic int8 quantization (ONNX only); ``tolerance`` None means
    ``TOLERANCE``, or ``INT8_TOLERANCE`` with ``int8``."""

    with_lengths: bool = True
    exporter: str = "auto"  # ONNX only
    opset: int | None = None  # ONNX only; None = the exporter's default
    tolerance: float | None = None
    check_audio: tuple[str, ...] | None = None
    int8: bool = False  # ONNX only

    def __post_init__(self):
        if self.exporter not in ONNX_EXPORTERS:
            raise ValueError(f"exporter must be one of {ONNX_EXPORTERS}, got {self.exporter!r}")
        if self.tolerance is None:
            object.__setattr__(self, "tolerance", INT8_TOLERANCE if self.int8 else TOLERANCE)


@dataclass(frozen=True)
class ExportReport:
    """What was written and how closely it matches PyTorch."""

    path: Path
    sidecar: Path
    format: str
    exporter: str
    labels: tuple[str, ...]
    max_abs_diff: float
    tolerance: float
    check_clips: int
    check_lengths: tuple[int, ...]
    notes: tuple[str, ...] = field(default=())
    int8: bool = False
    label_agreement: float = 1.0  # share of check clips with PyTorch's top label

    def summary(self) -> str:
        kind = f"{self.format} int8" if self.int8 else self.format
        agree = (f", top label agrees on {self.label_agreement:.0%}" if self.int8 else "")
        return (f"wrote {self.path} ({kind}, {self.exporter}) and {self.sidecar.name}; "
                f"max |probability difference| vs PyTorch = {self.max_abs_diff:.2e} "
                f"(tolerance {self.tolerance:.0e}) on {self.check_clips} clips of "
                f"{min(self.check_lengths)}-{max(self.check_lengths)} samples{agree}")


class WaveformClassifier(nn.Module):
    """A checkpoint as one module: waveform [, lengths] -> probabilities.

    Shapes: waveform (B, samples) float32, lengths (B,) int64 or None ->
    probabilities (B, n_classes).

    Example:
        >>> classifier = WaveformClassifier(load_checkpoint("ckpt"))  # doctest: +SKIP
        >>> classifier(torch.zeros(2, 16000)).shape  # doctest: +SKIP
        torch.Size([2, 4])
    """

    def __init__(self, checkpoint, stft: str = "conv"):
        super().__init__()
        self.frontend = frontend_for(checkpoint, stft=stft, pad_to_max=True)
        self.model = checkpoint.model.eval()
        self.temperature = float(getattr(checkpoint, "temperature", 1.0))

    def forward(self, waveform: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        if lengths is None and self.frontend.config.padder.gives_lengths:
            lengths = torch.full((waveform.shape[0],), waveform.shape[1], dtype=torch.long,
                                 device=waveform.device)
        feats, frames = self.frontend(waveform, lengths)
        logits = self.model(feats, frames)
        if self.temperature != 1.0:  # calibrated checkpoint, as in the predictor
            logits = logits / self.temperature
        return torch.softmax(logits, dim=-1)


def export_onnx(checkpoint, path: str | Path, options: ExportOptions | None = None) -> ExportReport:
    """Write ``checkpoint`` (a :class:`sertk.models.Checkpoint` or its directory) as ONNX."""
    return _export("onnx", checkpoint, Path(path), options or ExportOptions())


def export_torchscript(checkpoint, path: str | Path,
                       options: ExportOptions | None = None) -> ExportReport:
    """Write ``checkpoint`` as a traced TorchScript file (``torch.jit.load`` reads it)."""
    return _export("torchscript", checkpoint, Path(path), options or ExportOptions())


def export_model(checkpoint, path: str | Path | None = None, format: str = "onnx",
                 options: ExportOptions | None = None) -> ExportReport:
    """Export to ``format``; ``path`` None = ``<checkpoint dir name>.onnx`` / ``.pt`` in the
    current directory."""
    if format not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, got {format!r}")
    checkpoint = _as_checkpoint(checkpoint)
    if path is None:
        stem = Path(checkpoint.path).name if getattr(checkpoint, "path", None) else "model"
        path = Path(stem + EXTENSIONS[format])
    return _export(format, checkpoint, Path(path), options or ExportOptions())


def sidecar_path(path: str | Path) -> Path:
    """``model.onnx`` -> ``model.onnx.json``."""
    path = Path(path)
    return path.with_name(path.name + ".json")


def min_samples_of(path: str | Path) -> int:
    """The ``min_samples`` an exported file's sidecar states (the default front-end's when
    the file has no sidecar, as for files exported before the contract was recorded)."""
    sidecar = sidecar_path(path)
    if not sidecar.is_file():
        return FeatureConfig().min_samples
    try:
        with open(sidecar, "rb") as fh:
            info = json.loads(fh.read(MAX_SIDECAR_BYTES).decode("utf-8-sig"))
        value = info.get("min_samples", FeatureConfig().min_samples)
    except (OSError, ValueError, AttributeError) as err:
        raise ValueError(f"{sidecar}: unreadable sidecar ({err})") from err
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{sidecar}: min_samples must be a positive integer, got {value!r}")
    return value


def check_inputs(waveform, lengths, min_samples: int) -> tuple[np.ndarray, np.ndarray | None]:
    """The exported model's input contract, checked: ``waveform`` (B >= 1, S) finite floats,
    ``lengths`` None or (B,) integers with ``min_samples <= lengths <= S``; without lengths
    every row is S samples long, so S >= ``min_samples``.

    Returns (waveform float32, lengths int64 or None); raises ``ValueError`` naming the row.
    """
    waveform = np.asarray(waveform)
    numeric = any(np.issubdtype(waveform.dtype, kind) for kind in (np.floating, np.integer))
    if waveform.ndim != 2 or waveform.shape[0] < 1 or not numeric:
        raise ValueError(f"waveform must be a (batch >= 1, samples) array of numbers, got "
                         f"shape {waveform.shape} ({waveform.dtype})")
    batch, samples = waveform.shape
    waveform = waveform.astype(np.float32, copy=False)
    if not np.isfinite(waveform).all():
        raise ValueError("waveform holds NaN or infinite samples")
    if lengths is None:
        if samples < min_samples:
            raise ValueError(f"waveform rows have {samples} samples, fewer than one analysis "
                             f"window ({min_samples} samples): too short to classify")
        return waveform, None
    lengths = np.asarray(lengths)
    if lengths.shape != (batch,) or not np.issubdtype(lengths.dtype, np.integer):
        raise ValueError(f"lengths must be {batch} integers (one per row), got shape "
                         f"{lengths.shape} ({lengths.dtype})")
    for row, length in enumerate(lengths.tolist()):
        if not min_samples <= length <= samples:
            raise ValueError(f"row {row}: lengths={length} is outside [{min_samples}, "
                             f"{samples}] (at least one analysis window of {min_samples} "
                             f"samples, at most the row's {samples} samples)")
    return waveform, lengths.astype(np.int64, copy=False)


def runner(path: str | Path, format: str, min_samples: int | None = None
           ) -> Callable[[np.ndarray, np.ndarray | None], np.ndarray]:
    """A function ``(waveform (B, S), lengths (B,) or None) -> probabilities (B, C)`` for an
    exported file, run by onnxruntime (CPU) or ``torch.jit.load``. Every call first checks the
    input contract (:func:`check_inputs`; ``min_samples`` by default the sidecar's,
    :func:`min_samples_of`), so a ``ValueError`` replaces an answer about nothing."""
    minimum = min_samples_of(path) if min_samples is None else int(min_samples)
    if format == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        takes_lengths = "lengths" in {i.name for i in session.get_inputs()}

        def run(waveform: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
            feeds = {"waveform": waveform}
            if lengths is not None:
                feeds["lengths"] = lengths
            return session.run(["probabilities"], feeds)[0]
    else:
        module = torch.jit.load(str(path), map_location="cpu").eval()
        takes_lengths = len(module.forward.schema.arguments) > 2  # self, waveform[, lengths]

        def run(waveform: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
            inputs = [waveform] if lengths is None else [waveform, lengths]
            with torch.inference_mode():
                return module(*map(torch.as_tensor, inputs)).numpy()

    def checked(waveform, lengths=None):
        waveform, lengths = check_inputs(waveform, lengths, minimum)
        if not takes_lengths:
            lengths = None
        elif lengths is None:  # every row whole
            lengths = np.full(waveform.shape[0], waveform.shape[1], dtype=np.int64)
        return run(waveform, lengths)
    return checked


# ----------------------------------------------------------------------------- internals


def _export(format: str, checkpoint, path: Path, options: ExportOptions) -> ExportReport:
    checkpoint = _as_checkpoint(checkpoint)
    if options.int8 and format != "onnx":
        raise ValueError(f"int8 export is for ONNX (ONNX Runtime dynamic quantization), not "
                         f"{format}; use --format onnx, or sertk predict --int8 in PyTorch")
    if checkpoint.feature_config.normalisation == "speaker":
        raise ExportError("a model trained with speaker normalisation needs each speaker's "
                          "statistics at run time; export a model trained with 'fold' or "
                          "'utterance' normalisation instead")
    if checkpoint.dimensions is not None:
        raise ExportError(f"this model also predicts {', '.join(checkpoint.dimensions.names)} "
                          "(a dimension head), which the exported graph (logits only) would "
                          "drop; predict with sertk predict / sertk.load_model instead")
    if getattr(checkpoint.model, "group_norm", False):
        raise ExportError("this SSL encoder group-normalises its first convolution over time "
                          "(wav2vec 2.0 base), so a clip's output depends on the batch's "
                          "padding; sertk runs it clip by clip, which a graph cannot")
    wrapper = WaveformClassifier(checkpoint).eval()
    cfg = checkpoint.feature_config
    half = cfg.max_samples // 2
    example = (torch.randn(2, half) * 0.1, torch.tensor([half, half // 10]))
    if not options.with_lengths:
        example = example[:1]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    notes: list[str] = []
    try:
        if format == "onnx":
            exporter = _write_onnx(wrapper, example, tmp, options, notes)
        else:
            exporter = "trace"
            _write_torchscript(wrapper, example, tmp)
        if options.int8:
            _quantize_in_place(tmp)
        diff, lengths, agreement = _check(checkpoint, runner(tmp, format, cfg.min_samples),
                                          options)
        if not diff <= options.tolerance:
            raise ExportError(f"exported {format} model differs from PyTorch by {diff:.3g} "
                              f"(> tolerance {options.tolerance:g}); nothing written to {path}")
        if format == "onnx":  # after the parity check: metadata does not touch the graph
            add_onnx_metadata(tmp, onnx_metadata(checkpoint))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    report = ExportReport(path, sidecar_path(path), format, exporter, tuple(checkpoint.labels),
                          diff, options.tolerance, len(lengths), tuple(lengths), tuple(notes),
                          options.int8, agreement)
    _write_sidecar(checkpoint, report, options)
    return report


def _write_onnx(wrapper: nn.Module, example: tuple, path: Path, options: ExportOptions,
                notes: list[str]) -> str:
    # the dynamo exporter logs a warning per optional torchvision op; not our concern
    logging.getLogger("torch.onnx._internal.exporter._registration").setLevel(logging.ERROR)
    names = ["waveform", "lengths"][: len(example)]
    common = dict(input_names=names, output_names=["probabilities"], opset_version=options.opset)
    exporters = [options.exporter]
    if options.exporter == "auto":  # packed sequences (lengths inside the network) need legacy
        exporters = (["legacy", "dynamo"] if wrapper.frontend.config.padder.gives_lengths
                     else ["dynamo", "legacy"])
    for exporter in exporters:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # deprecation and tracer chatter
                if exporter == "dynamo":
                    batch, samples = torch.export.Dim("batch"), torch.export.Dim("samples", min=2)
                    shapes = {"waveform": {0: batch, 1: samples}, "lengths": {0: batch}}
                    torch.onnx.export(wrapper, example, str(path), **common,
                                      dynamic_shapes={k: shapes[k] for k in names}, dynamo=True,
                                      external_data=False, verbose=False)
                else:
                    axes = {"waveform": {0: "batch", 1: "samples"}, "lengths": {0: "batch"},
                            "probabilities": {0: "batch"}}
                    torch.onnx.export(wrapper, example, str(path), **common,
                                      dynamic_axes={k: axes[k] for k in names + ["probabilities"]},
                                      dynamo=False)
            return exporter
        except Exception as err:
            if exporter == exporters[-1]:
                raise ExportError(f"ONNX export ({exporter}) failed: {short_error(err, first=True)}") from err
            notes.append(f"{exporter} exporter failed ({short_error(err, first=True)}); used the next one")
    raise AssertionError("unreachable")


def _write_torchscript(wrapper: nn.Module, example: tuple, path: Path) -> None:
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        traced = torch.jit.trace(wrapper, example, check_trace=False)
        torch.jit.save(traced, str(path))


def _quantize_in_place(path: Path) -> None:
    """Replace the float32 ONNX file at ``path`` by its dynamic int8 version."""
    quantized = path.with_name(path.name + ".int8")
    try:
        quantize_onnx_file(path, quantized)
        os.replace(quantized, path)
    except Int8Error as err:
        raise ExportError(str(err)) from None
    except Exception as err:
        raise ExportError(f"int8 quantization failed: {short_error(err, first=True)}") from err
    finally:
        quantized.unlink(missing_ok=True)


def _check(checkpoint, run, options: ExportOptions) -> tuple[float, list[int], float]:
    """Max |p_exported - p_pytorch| over the check clips: each alone, and (with a lengths
    input) all together as one zero-padded batch; also the share of clips (alone) whose
    top label is PyTorch's."""
    predictor = Predictor(checkpoint, device="cpu")
    waves = _check_waves(options.check_audio, predictor.sample_rate,
                         checkpoint.feature_config.min_samples)
    reference = np.concatenate([predictor.probabilities([w]) for w in waves])
    alone = np.concatenate([run(w[None, :], None) for w in waves])
    diffs = [np.abs(alone - reference).max()]
    agreement = float(np.mean(alone.argmax(1) == reference.argmax(1)))
    if options.with_lengths:
        batch = np.zeros((len(waves), max(w.size for w in waves)), dtype=np.float32)
        for row, wave in zip(batch, waves):
            row[: wave.size] = wave
        lengths = np.array([w.size for w in waves], dtype=np.int64)
        diffs.append(np.abs(run(batch, lengths) - reference).max())
    return float(max(diffs)), [int(w.size) for w in waves], agreement


def _check_waves(files: Sequence[str] | None, sample_rate: int,
                 min_samples: int) -> list[np.ndarray]:
    """Check clips, each at least ``min_samples`` long (the input contract)."""
    if files:  # each file whole (up to 5.5 s), then a prefix of it, for variable lengths
        waves = [read_head(f, CHECK_SECONDS[-1], sample_rate)[0] for f in files]
        for f, w in zip(files, waves):
            if w.size < min_samples:
                raise AudioError(f, f"{w.size} samples, shorter than one analysis window "
                                    f"({min_samples} samples at {sample_rate} Hz)")
        cuts = [w[: max(min_samples, int(w.size * PREFIX_FRACTIONS[i % len(PREFIX_FRACTIONS)]))]
                for i, w in enumerate(waves)]
        return waves + cuts
    rng = np.random.default_rng(0)
    waves = []
    for seconds in CHECK_SECONDS:
        t = np.arange(max(min_samples, int(seconds * sample_rate))) / sample_rate
        pitch = 120 + 40 * np.sin(2 * np.pi * 0.7 * t)  # a gliding voice-like tone + noise
        phase = 2 * np.pi * np.cumsum(pitch) / sample_rate
        envelope = 0.5 + 0.5 * np.sin(2 * np.pi * 3 * t)
        voiced = sum(np.sin(k * phase) / k for k in range(1, 8)) * envelope
        waves.append((0.1 * voiced + 0.01 * rng.standard_normal(t.size)).astype(np.float32))
    return waves


def onnx_metadata(checkpoint) -> dict[str, str]:
    """The ``metadata_props`` of an exported ONNX file (strings; ``labels`` a JSON list in
    output order)."""
    cfg = checkpoint.feature_config
    return {"labels": json.dumps(list(checkpoint.labels)), "model_name": checkpoint.model_name,
            "sample_rate": str(cfg.sample_rate), "min_samples": str(cfg.min_samples),
            "temperature": repr(float(getattr(checkpoint, "temperature", 1.0))),
            "output": "probabilities", "sertk_version": importlib.metadata.version("sertk")}


def add_onnx_metadata(path: Path, metadata: dict[str, str]) -> None:
    """Set ``metadata`` as the ``metadata_props`` of the ONNX file at ``path`` (in place)."""
    import onnx

    model = onnx.load(str(path))
    props = {p.key: p.value for p in model.metadata_props}
    props.update(metadata)
    del model.metadata_props[:]
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    onnx.save(model, str(path))


def _write_sidecar(checkpoint, report: ExportReport, options: ExportOptions) -> None:
    min_samples = checkpoint.feature_config.min_samples
    inputs = {"waveform": {"shape": ["batch", "samples"], "dtype": "float32",
                           "sample_rate": checkpoint.feature_config.sample_rate,
                           "min_samples": min_samples}}
    if options.with_lengths:
        inputs["lengths"] = {"shape": ["batch"], "dtype": "int64",
                             "meaning": "valid samples per row",
                             "range": ["min_samples", "samples"]}
    info = {
        "format": report.format,
        "exporter": report.exporter,
        "labels": list(report.labels),
        "temperature": float(getattr(checkpoint, "temperature", 1.0)),
        "model_name": checkpoint.model_name,
        "model_config": _plain(checkpoint.model_config),
        "feature_config": checkpoint.feature_config.to_dict(),
        "min_samples": min_samples,
        "contract": (f"every row needs at least min_samples={min_samples} valid samples (one "
                     f"analysis window) and min_samples <= lengths <= samples; the graph does "
                     f"not check this: shorter input gives a meaningless answer. "
                     f"sertk.export.runner checks it before every call."),
        "inputs": inputs,
        "outputs": {"probabilities": {"shape": ["batch", len(report.labels)], "dtype": "float32"}},
        "int8": report.int8,
        "parity": {"max_abs_diff": report.max_abs_diff, "tolerance": report.tolerance,
                   "clips": report.check_clips, "lengths": list(report.check_lengths),
                   "label_agreement": report.label_agreement,
                   "reference": "float32 PyTorch model"},
        "sertk_version": importlib.metadata.version("sertk"),
        "checkpoint_metadata": checkpoint.metadata,
    }
    atomic_write(report.sidecar, json.dumps(info, indent=2, default=str) + "\n")


def _plain(config) -> dict:
    if hasattr(config, "to_dict"):
        return config.to_dict()
    return asdict(config) if hasattr(config, "__dataclass_fields__") else dict(config)


def _as_checkpoint(checkpoint):
    if isinstance(checkpoint, (str, Path)):
        from sertk.models import load_checkpoint

        return load_checkpoint(checkpoint)
    return checkpoint
