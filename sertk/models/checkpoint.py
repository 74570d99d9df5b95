"""Checkpoints: a directory of ``config.json`` and safetensors weights, never pickle.

Layout::

    checkpoint/
      config.json                       what rebuilds the model, see below
      weights-<sha256[:12]>.safetensors the state dict

``config.json`` holds ``{"format": "sertk-checkpoint", "version": 1, "model_name",
"model_config", "labels", "feature_config", "norm_mean", "norm_std", "weights",
"weights_sha256", "metadata", "temperature"}``. ``temperature`` (1.0 when absent, as in
checkpoints saved before calibration existed) divides the logits before the softmax
(:mod:`sertk.train.calibration`); it is a finite number in :data:`TEMPERATURE_RANGE`.
``dimensions`` (only for a model with a dimension head, ``model_config.n_dims`` > 0) names
its outputs and their target scaling (:class:`~sertk.models.dimensions.DimensionScaling`).
The loader rebuilds the network from that JSON alone
(``SERNet(SERNetConfig.from_dict(model_config))``), checks the weights against their sha256
and the model's tensor names and shapes, and reports any problem as a
:class:`CheckpointError` naming the path.

Saving is atomic for one writer per directory: the weights are written under their new
content-addressed name (fsync), then ``config.json`` is replaced in one ``os.replace``, and
only then are weights no longer referenced deleted. A crash at any point leaves either the
previous or the new checkpoint loadable.
"""
from __future__ import annotations

import hashlib
import json
import re
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import safetensors.torch
import torch

from sertk.features import FeatureConfig
from sertk.fileio import atomic_write, os_error_message
from sertk.models.dimensions import DimensionScaling
from sertk.models.registry import is_model, list_models
from sertk.models.sernet import SERNet, SERNetConfig
from sertk.models.ssl import SSL_MODELS, SSLNet, SSLNetConfig

FORMAT = "sertk-checkpoint"
VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_PATTERN = re.compile(r"weights-([0-9a-f]{12})\.safetensors")
#: sertk.fileio.temporary_path's names for the two files: what a killed save leaves behind
STALE_TMP_PATTERN = re.compile(r"\.(weights-[0-9a-f]{12}\.safetensors|config\.json)\.\d+\.\d+\.tmp")
#: config.json is read only up to this size (a real one is ~5 kB): a huge file is refused.
MAX_CONFIG_BYTES = 1 << 20
MAX_LABEL_CHARS = 200
#: The temperatures a checkpoint may hold (both ends included); fitting searches this range.
TEMPERATURE_RANGE = (0.05, 20.0)
REQUIRED_KEYS = ("format", "version", "model_name", "model_config", "labels", "feature_config",
                 "norm_mean", "norm_std", "weights", "weights_sha256", "metadata")


class CheckpointError(ValueError):
    """A checkpoint that cannot be saved or loaded. ``str(err)`` names the path and reason."""

    def __init__(self, path: str | Path, reason: str):
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


@dataclass
class Checkpoint:
    """Everything a checkpoint holds; ``model`` is in eval mode."""

    model: SERNet
    model_name: str
    model_config: SERNetConfig
    labels: list[str]
    feature_config: FeatureConfig
    norm_mean: np.ndarray  # (n_mels,) float32
    norm_std: np.ndarray  # (n_mels,) float32
    metadata: dict[str, Any] = field(default_factory=dict)
    path: Path | None = None
    temperature: float = 1.0  # logits / temperature before the softmax
    dimensions: DimensionScaling | None = None  # the dimension head's outputs, if any


# ----------------------------------------------------------------------------- save


def save_checkpoint(path: str | Path, model: SERNet, *, model_name: str, labels: list[str],
                    feature_config: FeatureConfig, norm_mean, norm_std,
                    metadata: dict[str, Any] | None = None,
                    dtype: torch.dtype | None = None, temperature: float = 1.0,
                    dimensions: DimensionScaling | None = None) -> Path:
    """Save ``model`` and what it needs for inference into directory ``path``; returns it.

    Args:
        model_name: a registered name (``proposed``, ``base1``..``base7``).
        labels: class names, one per classifier output, in output order.
        feature_config: the front-end the model was trained with.
        norm_mean, norm_std: (n_mels,) normalisation statistics of the training fold.
        metadata: free JSON-serialisable dict (metrics, fold, epoch, ...).
        dtype: store floating weights as this dtype (e.g. ``torch.float16``); they are
            loaded back as float32.
        temperature: the calibration temperature (logits are divided by it), a finite
            number in :data:`TEMPERATURE_RANGE`; 1.0 = uncalibrated.
        dimensions: the names and target scaling of the dimension head's outputs; required
            exactly when the model has one.
    """
    path = Path(path)
    if not isinstance(model, (SERNet, SSLNet)):
        raise CheckpointError(path, f"can only save a SERNet or an SSLNet, got "
                                    f"{type(model).__name__}")
    if not is_model(model_name):
        raise CheckpointError(path, f"unknown model name {model_name!r}; known: {list_models()}")
    config = {
        "format": FORMAT,
        "version": VERSION,
        "model_name": model_name,
        "model_config": model.config.to_dict(),
        "labels": _check_labels(path, list(labels), model.config.n_classes),
        "feature_config": feature_config.to_dict(),
        "norm_mean": _check_stats(path, "norm_mean", norm_mean, _stats_size(model.config)),
        "norm_std": _check_stats(path, "norm_std", norm_std, _stats_size(model.config)),
        "metadata": dict(metadata or {}),
        "temperature": check_temperature(path, temperature),
    }
    _check_dimensions(path, dimensions, getattr(model.config, "n_dims", 0))
    if dimensions is not None:
        config["dimensions"] = dimensions.to_dict()
    if isinstance(model, SERNet) and feature_config.n_mels != model.config.n_mels:
        raise CheckpointError(path, f"feature_config has {feature_config.n_mels} mel bands but "
                                    f"the model expects {model.config.n_mels}")
    weights = _serialise_weights(model, dtype)
    digest = hashlib.sha256(weights).hexdigest()
    config["weights"] = f"weights-{digest[:12]}.safetensors"
    config["weights_sha256"] = digest
    try:
        text = json.dumps(config, indent=2, allow_nan=False) + "\n"
    except (TypeError, ValueError) as err:
        raise CheckpointError(path, f"metadata is not plain JSON: {err}") from err
    if len(text.encode("utf-8")) > MAX_CONFIG_BYTES:
        raise CheckpointError(path, f"metadata too large: {CONFIG_NAME} would exceed "
                                    f"{MAX_CONFIG_BYTES:,} bytes")

    if path.exists() and not path.is_dir():
        raise CheckpointError(path, "exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CheckpointError(path, f"cannot create the checkpoint directory "
                                    f"({os_error_message(err)})") from err
    atomic_write(path / config["weights"], weights)
    atomic_write(path / CONFIG_NAME, text)
    _remove_unreferenced_weights(path, keep=config["weights"])
    return path


def _serialise_weights(model: SERNet, dtype: torch.dtype | None) -> bytes:
    tensors = {}
    for name, tensor in model.state_dict().items():
        tensor = tensor.detach().cpu()
        if dtype is not None and tensor.is_floating_point():
            tensor = tensor.to(dtype)
        tensors[name] = tensor.contiguous().clone()
    return safetensors.torch.save(tensors)


def _remove_unreferenced_weights(directory: Path, keep: str) -> None:
    """Delete weights ``config.json`` no longer names, and temporary files of saves that
    were killed (one writer per directory: any other temporary file is stale)."""
    for item in directory.iterdir():
        if ((WEIGHTS_PATTERN.fullmatch(item.name) and item.name != keep)
                or STALE_TMP_PATTERN.fullmatch(item.name)):
            item.unlink(missing_ok=True)


# ----------------------------------------------------------------------------- load


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Rebuild the model from ``path/config.json`` and load its safetensors weights.

    Raises :class:`CheckpointError` (naming the path) when the directory or a file is
    missing, it is not a sertk checkpoint, the model name is unknown, labels do not match
    the classifier, the weights are corrupt, truncated or not safetensors, or tensors are
    missing, extra or mis-shaped.
    """
    path = Path(path)
    config = _read_config(path)
    model_name = config["model_name"]
    if not isinstance(model_name, str) or not is_model(model_name):
        raise CheckpointError(path, f"unknown model name {reprlib.repr(model_name)}; known: "
                                    f"{list_models()}")
    # every field is checked (type, finite, range) and the parameter count bounded by the
    # config dataclasses themselves, before anything is built
    config_class, model_class = (SSLNetConfig, SSLNet) if model_name in SSL_MODELS else (
        SERNetConfig, SERNet)
    model_config = _parse(path, "model_config", config_class.from_dict, config["model_config"])
    feature_config = _parse(path, "feature_config", FeatureConfig.from_dict,
                            config["feature_config"])
    if model_class is SERNet and feature_config.n_mels != model_config.n_mels:
        raise CheckpointError(path, f"feature_config has {feature_config.n_mels} mel bands but "
                                    f"model_config expects {model_config.n_mels}")
    labels = _check_labels(path, config["labels"], model_config.n_classes)
    norm_mean = _check_stats(path, "norm_mean", config["norm_mean"], _stats_size(model_config))
    norm_std = _check_stats(path, "norm_std", config["norm_std"], _stats_size(model_config))
    if not isinstance(config["metadata"], dict):
        raise CheckpointError(path / CONFIG_NAME, "metadata must be a JSON object")

    temperature = check_temperature(path / CONFIG_NAME, config.get("temperature", 1.0))
    dimensions = None
    if "dimensions" in config:
        dimensions = _parse(path, "dimensions", DimensionScaling.from_dict, config["dimensions"])
    _check_dimensions(path / CONFIG_NAME, dimensions, getattr(model_config, "n_dims", 0))

    model = model_class(model_config)
    _load_tensors(path, model, _read_weights(path, config, _max_weights_bytes(model)))
    return Checkpoint(model=model.to(map_location).eval(), model_name=model_name,
                      model_config=model_config, labels=labels, feature_config=feature_config,
                      norm_mean=np.asarray(norm_mean, dtype=np.float32),
                      norm_std=np.asarray(norm_std, dtype=np.float32),
                      metadata=config["metadata"], path=path, temperature=temperature,
                      dimensions=dimensions)


def load_network(path: str | Path, map_location: str | torch.device = "cpu") -> SERNet:
    """The network of the checkpoint at ``path``, in eval mode (``sertk.load_model`` gives a
    predictor: audio in, labels out)."""
    return load_checkpoint(path, map_location).model


def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise CheckpointError(path, "checkpoint directory not found")
    if not path.is_dir():
        raise CheckpointError(path, "not a directory (a sertk checkpoint is a directory "
                                    f"holding {CONFIG_NAME} and a weights file)")
    config_path = path / CONFIG_NAME
    if not config_path.is_file():
        raise CheckpointError(path, f"no {CONFIG_NAME}: not a sertk checkpoint directory")
    config = _parse_json(config_path)
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise CheckpointError(config_path, f"not a sertk checkpoint (format is not {FORMAT!r})")
    if config.get("version") != VERSION:
        version = reprlib.repr(config.get("version"))
        raise CheckpointError(config_path, f"unsupported checkpoint version {version} (this "
                                           f"sertk reads {VERSION})")
    missing = [key for key in REQUIRED_KEYS if key not in config]
    if missing:
        raise CheckpointError(config_path, f"missing keys {missing}")
    return config


def _parse_json(config_path: Path) -> Any:
    """The JSON value of ``config_path``: at most :data:`MAX_CONFIG_BYTES` are read, UTF-8
    (a byte-order mark is dropped), plain JSON only (no NaN/Infinity, bounded nesting)."""
    try:
        with open(config_path, "rb") as fh:
            data = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as err:
        raise CheckpointError(config_path, f"cannot read ({os_error_message(err)})") from err
    if len(data) > MAX_CONFIG_BYTES:
        raise CheckpointError(config_path, f"larger than {MAX_CONFIG_BYTES:,} bytes: not a "
                                           "sertk checkpoint config")
    try:
        return json.loads(data.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, ValueError) as err:
        raise CheckpointError(config_path, f"not a sertk checkpoint config (unreadable JSON: "
                                           f"{_first_line(err)})") from err
    except RecursionError:
        raise CheckpointError(config_path, "not a sertk checkpoint config (JSON nested too "
                                           "deeply)") from None


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not a JSON number (numbers must be finite)")


def _first_line(err: Exception) -> str:
    return str(err).splitlines()[0][:200] if str(err) else type(err).__name__


def _parse(path: Path, key: str, parse, value):
    try:
        return parse(value)
    except (TypeError, ValueError) as err:
        raise CheckpointError(path / CONFIG_NAME, f"invalid {key}: {_first_line(err)}") from err


def _check_labels(path: Path, labels, n_classes: int) -> list[str]:
    """A list of ``n_classes`` distinct, non-empty class names of at most
    :data:`MAX_LABEL_CHARS` characters (so that messages and output stay one line)."""
    if not isinstance(labels, list) or not labels:
        raise CheckpointError(path, f"labels must be a non-empty list of class names, got "
                                    f"{reprlib.repr(labels)}")
    if len(labels) != n_classes:
        raise CheckpointError(path, f"{len(labels)} labels {reprlib.repr(labels)} but the "
                                    f"classifier has {n_classes} outputs")
    for label in labels:
        if (not isinstance(label, str) or not label.strip() or len(label) > MAX_LABEL_CHARS
                or not label.isprintable()):
            raise CheckpointError(path, f"labels must be non-empty printable strings of at most "
                                        f"{MAX_LABEL_CHARS} characters, got "
                                        f"{reprlib.repr(label)}")
    if len(set(labels)) != len(labels):
        repeated = sorted({x for x in labels if labels.count(x) > 1})
        raise CheckpointError(path, f"labels are not unique: {reprlib.repr(repeated)} repeated")
    return labels


def _check_dimensions(path: Path, dimensions: DimensionScaling | None, n_dims: int) -> None:
    """A model with a dimension head of ``n_dims`` outputs needs that many named dimensions;
    a model without one has none."""
    have = len(dimensions.names) if dimensions is not None else 0
    if have != n_dims:
        raise CheckpointError(path, f"the model has {n_dims} dimension output(s) but "
                                    f"dimensions names {have}")


def _stats_size(model_config) -> int:
    """Normalisation statistics a model's checkpoint holds: one per mel band for a SERNet,
    none for an SSLNet (its layer sum is layer-normalised instead)."""
    return 0 if isinstance(model_config, SSLNetConfig) else model_config.n_mels


def check_temperature(path: str | Path, value) -> float:
    """``value`` as a float if it is a finite number (not a bool) in
    :data:`TEMPERATURE_RANGE`; else :class:`CheckpointError` naming ``path``."""
    low, high = TEMPERATURE_RANGE
    if (isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number))
            or not np.isfinite(value) or not low <= float(value) <= high):
        raise CheckpointError(path, f"temperature must be a finite number in [{low:g}, "
                                    f"{high:g}], got {reprlib.repr(value)}")
    return float(value)


def _check_stats(path: Path, key: str, values, n_mels: int) -> list[float]:
    """``n_mels`` finite numbers; ``norm_std`` must also be > 0 (it divides the features)."""
    if not isinstance(values, (list, tuple, np.ndarray, torch.Tensor)) or len(values) != n_mels:
        raise CheckpointError(path, f"{key} must be a list of {n_mels} numbers (one per mel "
                                    f"band), got {reprlib.repr(values)}")
    if not all(isinstance(x, (int, float, np.number)) and not isinstance(x, (bool, np.bool_))
               for x in np.asarray(values, dtype=object).tolist()):
        raise CheckpointError(path, f"{key} must be a list of numbers, got "
                                    f"{reprlib.repr(values)}")
    array = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(array)):
        raise CheckpointError(path, f"{key} must be finite numbers")
    if key == "norm_std" and not np.all(array > 0):
        raise CheckpointError(path, f"norm_std must be > 0 (it divides the features), got "
                                    f"{float(array.min())}")
    return [float(x) for x in array]


def _max_weights_bytes(model: SERNet) -> int:
    """The largest weights file ``model`` can have: every value as float64, plus the header."""
    return 8 * sum(t.numel() for t in model.state_dict().values()) + (1 << 20)


def _read_weights(path: Path, config: dict[str, Any], max_bytes: int) -> dict[str, torch.Tensor]:
    name, digest = config["weights"], config["weights_sha256"]
    match = WEIGHTS_PATTERN.fullmatch(name) if isinstance(name, str) else None
    if match is None or not isinstance(digest, str) or not digest.startswith(match.group(1)):
        raise CheckpointError(path / CONFIG_NAME, f"weights entry {reprlib.repr(name)} is not "
                                                  "'weights-<first 12 hex of weights_sha256>"
                                                  ".safetensors'")
    weights_path = path / name
    if not weights_path.is_file():
        raise CheckpointError(weights_path, "weights file not found")
    if weights_path.stat().st_size > max_bytes:
        raise CheckpointError(weights_path, f"weights file of {weights_path.stat().st_size:,} "
                                            f"bytes is larger than this model's weights can be "
                                            f"({max_bytes:,})")
    data = weights_path.read_bytes()
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(weights_path, "weights file is corrupt or truncated "
                                            "(sha256 does not match config.json)")
    try:  # parses the safetensors header and raw buffers only; nothing is unpickled
        return safetensors.torch.load(data)
    except Exception as err:  # safetensors raises its own error types
        raise CheckpointError(weights_path, f"not a safetensors file ({err})") from err


def _load_tensors(path: Path, model: SERNet, tensors: dict[str, torch.Tensor]) -> None:
    expected = model.state_dict()
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise CheckpointError(path, f"weights do not match the model: missing tensors "
                                    f"{missing}, unexpected tensors {extra}")
    for name, tensor in tensors.items():
        want = expected[name]
        if tensor.shape != want.shape or tensor.is_floating_point() != want.is_floating_point():
            raise CheckpointError(path, f"tensor {name!r} has shape {tuple(tensor.shape)} "
                                        f"({tensor.dtype}); the model needs "
                                        f"{tuple(want.shape)} ({want.dtype})")
        tensors[name] = tensor.to(want.dtype)
    model.load_state_dict(tensors, strict=True)
