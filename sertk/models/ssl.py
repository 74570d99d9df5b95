"""Self-supervised speech encoders (WavLM, wav2vec 2.0, HuBERT) as front-ends.

An :class:`SSLNet` is a pretrained ``transformers`` encoder (frozen by default), a learnable
softmax-weighted sum of its layer-normalised hidden layers (SUPERB style) and a back-end:

- ``backend="proposed"``: a projection to ``hidden`` and the paper's back-end without its
  3-Conv (residual-BLSTM, time pooling, E-transformer, statistics pooling: a
  :class:`~sertk.models.sernet.SERNet` with ``conv_front=False``);
- ``backend="linear"``: the light head of SSL benchmarks: projection, statistics pooling
  over the real frames, one hidden layer, the classifier.

The model reads waveforms ``(B, S)`` with sample lengths or, to the same logits, encoder
hidden states ``(B, L, T', D)`` with frame lengths (what :mod:`sertk.data.store` keeps, so
that a frozen encoder runs once per corpus).

Nothing is downloaded unless :func:`load_encoder` is given a hub name. The encoder's
``transformers`` config travels in :class:`SSLNetConfig` (``encoder_config``), checked
(model type, bounded sizes, parameters counted on the meta device) before anything is built,
so a checkpoint rebuilds the model without network or pickle. ``transformers`` is imported
inside functions only.
"""
from __future__ import annotations

import json
import math
import numbers
import warnings
from dataclasses import asdict, dataclass, fields
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sertk.configfields import bounded, check_fields
from sertk.models.masking import _capturing, valid_mask
from sertk.models.pooling import StatisticsPooling
from sertk.models.sernet import MAX_CLASSES, SERNet, SERNetConfig

SSL_MODELS = ("ssl-proposed", "ssl-linear")  # registered in sertk.models.zoo
ENCODER_TYPES = ("wavlm", "wav2vec2", "hubert")
BACKENDS = ("proposed", "linear")
MAX_ENCODER_PARAMETERS = 1_000_000_000
MAX_LAYERS = 129  # hidden states of a 128-layer encoder (plus its input embedding)
# per-key caps of an encoder config (a checkpoint's JSON is not trusted): far above any
# published model, small enough that counting parameters on the meta device stays quick
ENCODER_CAPS = {"hidden_size": 8192, "num_hidden_layers": 128, "num_attention_heads": 128,
                "intermediate_size": 65536, "num_conv_pos_embeddings": 1024,
                "num_conv_pos_embedding_groups": 1024, "num_buckets": 4096,
                "max_bucket_distance": 1 << 20, "num_feat_extract_layers": 32}
MAX_CONFIG_INT = 1 << 24
MAX_CONFIG_ITEMS = 256


def check_encoder_config(data: Any) -> dict[str, Any]:
    """A ``transformers`` encoder config dict, checked before anything is built: plain JSON
    values only, a supported ``model_type``, bounded sizes and lists, and at most
    :data:`MAX_ENCODER_PARAMETERS` parameters (counted on the meta device); else ValueError,
    one line naming the key and the reason."""
    if not isinstance(data, dict):
        raise ValueError(f"encoder_config must be a JSON object, got {type(data).__name__}")
    if data.get("model_type") not in ENCODER_TYPES:
        raise ValueError(f"encoder_config.model_type must be one of {ENCODER_TYPES}, got "
                         f"{str(data.get('model_type'))[:80]!r}")
    if len(data) > MAX_CONFIG_ITEMS:
        raise ValueError(f"encoder_config has {len(data)} keys, more than {MAX_CONFIG_ITEMS}")
    for key, value in data.items():
        _check_plain(f"encoder_config.{key}", value, depth=0)
        cap = ENCODER_CAPS.get(key)
        if cap is not None and not (isinstance(value, int) and 1 <= value <= cap):
            raise ValueError(f"encoder_config.{key} must be an integer in [1, {cap}], "
                             f"got {value!r}")
    for key in ("conv_dim", "conv_kernel", "conv_stride"):
        value = data.get(key)
        if value is not None and not (isinstance(value, list) and 1 <= len(value) <= 32 and all(
                isinstance(v, int) and 1 <= v <= 8192 for v in value)):
            raise ValueError(f"encoder_config.{key} must be 1..32 integers in [1, 8192]")
    params = encoder_parameter_count(data)
    if params > MAX_ENCODER_PARAMETERS:
        raise ValueError(f"this encoder_config needs {params:,} parameters, more than the "
                         f"{MAX_ENCODER_PARAMETERS:,} sertk builds")
    return data


def _check_plain(name: str, value: Any, depth: int) -> None:
    if value is None or isinstance(value, (bool, str)):
        if isinstance(value, str) and len(value) > 1000:
            raise ValueError(f"{name} is a string of {len(value)} characters (at most 1000)")
        return
    if isinstance(value, numbers.Real):
        if not math.isfinite(value) or abs(value) > MAX_CONFIG_INT:
            raise ValueError(f"{name} must be a finite number of magnitude <= {MAX_CONFIG_INT}")
        return
    if isinstance(value, (list, dict)) and depth < 2 and len(value) <= MAX_CONFIG_ITEMS:
        items = value.values() if isinstance(value, dict) else value
        for item in items:
            _check_plain(name, item, depth + 1)
        return
    raise ValueError(f"{name} must be a plain JSON value (bounded lists/objects), got "
                     f"{type(value).__name__}")


def _transformers():
    """The ``transformers`` module, or a one-line ValueError saying how to install it."""
    try:
        import transformers
    except ImportError:
        raise ValueError("SSL models need the transformers package: pip install "
                         "'sertk[ssl]' (or pip install transformers)") from None
    return transformers


def build_encoder(data: dict[str, Any]) -> nn.Module:
    """A randomly initialised encoder from a checked config dict (no network)."""
    transformers = _transformers()
    AutoConfig, AutoModel = transformers.AutoConfig, transformers.AutoModel
    params = {k: v for k, v in data.items() if k != "model_type"}
    config = AutoConfig.for_model(data["model_type"], **params)
    return AutoModel.from_config(config)


def encoder_parameter_count(data: dict[str, Any]) -> int:
    """Parameters of the encoder ``data`` describes, built on the meta device."""
    try:
        with torch.device("meta"):
            return sum(p.numel() for p in build_encoder(data).parameters())
    except (TypeError, ValueError, KeyError, AttributeError, IndexError, RuntimeError) as err:
        raise ValueError(f"encoder_config does not build: {str(err).splitlines()[0][:200]}") \
            from None


def encoder_config_dict(config) -> dict[str, Any]:
    """The JSON dict of a ``transformers`` config, without bookkeeping keys."""
    data = config.to_dict()
    return {k: v for k, v in data.items()
            if not k.startswith("_") and k not in ("transformers_version", "architectures",
                                                   "torch_dtype", "dtype")}


def load_encoder(name_or_path: str, revision: str | None = None) -> tuple[nn.Module, dict]:
    """A pretrained encoder and its config dict, from a local directory (read offline) or a
    hub name (downloaded, or read from the hub cache). Under ``torch.device("meta")`` only the
    config is read (no weights)."""
    from pathlib import Path

    transformers = _transformers()
    AutoConfig, AutoModel = transformers.AutoConfig, transformers.AutoModel
    from transformers.utils import logging as hf_logging
    hf_logging.disable_progress_bar()  # sertk's own progress is enough
    local = Path(name_or_path).expanduser().is_dir()
    kwargs = {"local_files_only": True} if local else {"revision": revision}
    try:
        config = AutoConfig.from_pretrained(str(name_or_path), **kwargs)
    except (OSError, ValueError) as err:
        raise ValueError(f"encoder {name_or_path!r}: {str(err).splitlines()[0][:200]}") from None
    data = check_encoder_config(encoder_config_dict(config))
    if torch.empty(0).device.type == "meta":  # a recipe check builds shapes, never weights
        return AutoModel.from_config(config), data
    model = AutoModel.from_pretrained(str(name_or_path), **kwargs)
    return model, data


@dataclass(frozen=True)
class SSLNetConfig:
    """An SSL encoder and the back-end on top of it; JSON round trip via to/from_dict.

    ``encoder``: the hub name or local path it was loaded from (a record; the checkpoint
    rebuilds from ``encoder_config``). ``layers``: indices of the hidden states summed
    (0 is the CNN features' projection); empty = all. ``finetune_layers``: the top N
    transformer layers train with the head (0: frozen encoder).
    """

    n_classes: int = bounded(4, 1, MAX_CLASSES)
    encoder: str = ""
    revision: str = ""
    encoder_json: str = ""
    layers: tuple[int, ...] = bounded((), 0, MAX_LAYERS - 1)
    backend: str = "linear"
    hidden: int = bounded(128, 1, 4096)
    n_blstm: int = bounded(2, 1, 16)
    n_transformer: int = bounded(3, 1, 16)
    n_heads: int = bounded(8, 1, 64)
    dropout: float = bounded(0.2, 0.0, 1.0, high_open=True)
    finetune_layers: int = bounded(0, 0, MAX_LAYERS)

    def __post_init__(self):
        check_fields(self)
        if self.backend not in BACKENDS:
            raise ValueError(f"SSLNetConfig.backend must be one of {BACKENDS}, got "
                             f"{self.backend!r}")
        data = self.encoder_config  # checked
        n_states = data["num_hidden_layers"] + 1
        if any(i >= n_states for i in self.layers):
            raise ValueError(f"SSLNetConfig.layers must lie in [0, {n_states - 1}] (the "
                             f"encoder has {n_states} hidden states), got {list(self.layers)}")
        if len(set(self.layers)) != len(self.layers):
            raise ValueError(f"SSLNetConfig.layers repeats a layer: {list(self.layers)}")
        if self.finetune_layers > data["num_hidden_layers"]:
            raise ValueError(f"SSLNetConfig.finetune_layers={self.finetune_layers} but the "
                             f"encoder has {data['num_hidden_layers']} layers")
        if self.backend == "proposed" and self.hidden % self.n_heads:
            raise ValueError(f"hidden={self.hidden} is not divisible by n_heads={self.n_heads}")

    @property
    def encoder_config(self) -> dict[str, Any]:
        if not self.encoder_json:
            raise ValueError("an SSL model needs an encoder: set model_args.encoder to a "
                             "hub name (e.g. microsoft/wavlm-base-plus) or a local directory")
        try:
            data = json.loads(self.encoder_json)
        except ValueError as err:
            raise ValueError(f"SSLNetConfig.encoder_json is not JSON ({err})") from None
        return check_encoder_config(data)

    @property
    def layer_indices(self) -> tuple[int, ...]:
        """The hidden-state indices summed (all when ``layers`` is empty)."""
        return self.layers or tuple(range(json.loads(self.encoder_json)["num_hidden_layers"] + 1))

    @property
    def width(self) -> int:
        """D, the encoder's hidden size."""
        return json.loads(self.encoder_json)["hidden_size"]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["layers"] = list(self.layers)
        data["encoder_config"] = json.loads(data.pop("encoder_json"))
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "SSLNetConfig":
        if not isinstance(data, dict):
            raise ValueError(f"SSLNetConfig.from_dict expects a dict, got {type(data).__name__}")
        data = dict(data)
        if "encoder_config" in data:
            data["encoder_json"] = json.dumps(check_encoder_config(data.pop("encoder_config")),
                                              sort_keys=True)
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(f"unknown SSLNetConfig keys {unknown}; known keys are {known}")
        return cls(**data)


def config_for_encoder(encoder: str, revision: str = "", **fields_) -> tuple[SSLNetConfig,
                                                                            nn.Module]:
    """The config and the pretrained encoder named ``encoder`` (hub name or local path)."""
    model, data = load_encoder(encoder, revision or None)
    config = SSLNetConfig(encoder=str(encoder), revision=revision,
                          encoder_json=json.dumps(data, sort_keys=True), **fields_)
    return config, model


def create_ssl_model(backend: str, overrides: dict[str, Any]) -> "SSLNet":
    """The registered constructors' body: ``overrides`` holds ``n_classes``, ``encoder``
    (hub name or local directory; required), optional ``revision`` and SSLNetConfig fields."""
    overrides = dict(overrides)
    if "backend" in overrides:
        raise ValueError("backend is set by the model's name (ssl-proposed or ssl-linear)")
    encoder = overrides.pop("encoder", "")
    if not encoder or not isinstance(encoder, str):
        SSLNetConfig(**overrides)  # the field errors first, then: no encoder
        raise ValueError("an SSL model needs an encoder: set model_args.encoder to a hub name "
                         "(e.g. microsoft/wavlm-base-plus) or a local directory")
    config, model = config_for_encoder(encoder, overrides.pop("revision", ""),
                                       backend=backend, **overrides)
    return SSLNet(config, model)


class LayerWeights(nn.Module):
    """Softmax-weighted sum of L layer-normalised hidden states: (B, L, T, D) -> (B, T, D)."""

    def __init__(self, n_layers: int, width: int):
        super().__init__()
        self.width = width
        self.logits = nn.Parameter(torch.zeros(n_layers))

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        states = F.layer_norm(states, (self.width,))
        weights = torch.softmax(self.logits, dim=0).to(states.dtype)
        return (states * weights[None, :, None, None]).sum(dim=1)


class LinearHead(nn.Module):
    """Projection, statistics pooling over the real frames, one hidden layer, classifier:
    (B, T, D), lengths (B,) -> logits (B, n_classes)."""

    def __init__(self, width: int, hidden: int, n_classes: int, dropout: float):
        super().__init__()
        self.project = nn.Linear(width, hidden)
        self.stats = StatisticsPooling()
        self.mlp = nn.Sequential(nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(hidden, n_classes))

    @property
    def in_features(self) -> int:
        """E, the size of the embedding the classifier reads."""
        return self.mlp[-1].in_features

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B,) -> the embedding (B, E): the hidden layer before the classifier."""
        return self.mlp[:-1](self.stats(self.project(x), lengths))

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, E) -> logits (B, n_classes)."""
        return self.mlp[-1](embedding)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x, lengths))


class ProposedHead(nn.Module):
    """Projection to ``hidden`` and the paper's back-end without its 3-Conv: (B, T, D),
    lengths (B,) -> logits (B, n_classes)."""

    def __init__(self, width: int, c: SSLNetConfig):
        super().__init__()
        self.project = nn.Linear(width, c.hidden)
        self.backend = SERNet(SERNetConfig(
            n_classes=c.n_classes, n_mels=c.hidden, hidden=c.hidden, conv_front=False,
            n_blstm=c.n_blstm, n_transformer=c.n_transformer, n_heads=c.n_heads,
            blstm_dropout=c.dropout, pool_dropout=c.dropout))

    @property
    def in_features(self) -> int:
        """E = 2 * hidden, the size of the back-end's pooled embedding."""
        return self.backend.head.in_features

    def embed(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D), (B,) -> the back-end's statistics-pooled embedding (B, 2 * hidden)."""
        return self.backend.forward_features(self.project(x).transpose(1, 2), lengths)

    def classify(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, 2 * hidden) -> logits (B, n_classes)."""
        return self.backend.forward_head(embedding)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return self.classify(self.embed(x, lengths))


class SSLNet(nn.Module):
    """An SSL encoder, its layer weights and a back-end.

    Shapes:
        forward(waveforms (B, S), sample lengths (B,) or None) -> logits (B, n_classes);
        forward(hidden states (B, L, T', D), frame lengths (B,) or None) -> the same logits
        (L = len(config.layer_indices), D = the encoder width).
        hidden_states(waveforms, lengths) -> (B, L, T', D) and frame lengths (B,).

    The frozen part of the encoder stays in eval mode (no dropout, no time masking), so the
    hidden states are the same in training and inference, and may be stored once.
    """

    takes_waveforms = True

    def __init__(self, config: SSLNetConfig, encoder: nn.Module | None = None):
        super().__init__()
        self.config = config
        self.encoder = encoder if encoder is not None else build_encoder(config.encoder_config)
        self.group_norm = getattr(self.encoder.config, "feat_extract_norm", "") == "group"
        self.layer_weights = LayerWeights(len(config.layer_indices), config.width)
        self.head = (LinearHead(config.width, config.hidden, config.n_classes, config.dropout)
                     if config.backend == "linear" else ProposedHead(config.width, config))
        self.encoder.requires_grad_(False)
        for layer in self.tuned_layers():
            layer.requires_grad_(True)
        self.train(self.training)

    def tuned_layers(self) -> list[nn.Module]:
        n = self.config.finetune_layers
        return list(self.encoder.encoder.layers[-n:]) if n else []

    def train(self, mode: bool = True):
        super().train(mode)
        self.encoder.eval()
        for layer in self.tuned_layers():
            layer.train(mode)
        return self

    def frame_lengths(self, sample_lengths: torch.Tensor) -> torch.Tensor:
        """Encoder frames of clips of ``sample_lengths`` samples (B,) -> (B,) int64."""
        return self.encoder._get_feat_extract_output_lengths(sample_lengths).long()

    @property
    def min_samples(self) -> int:
        """The fewest samples that give one encoder frame (the CNN's receptive field)."""
        c = self.encoder.config
        field_, jump = 1, 1
        for kernel, stride in zip(c.conv_kernel, c.conv_stride):
            field_ += (kernel - 1) * jump
            jump *= stride
        return field_

    def hidden_states(self, waveforms: torch.Tensor, lengths: torch.Tensor | None = None):
        """(B, S) waveforms, (B,) samples -> (B, L, T', D) hidden states, (B,) frames. Encoders
        whose first convolution is group-normalised over time (wav2vec 2.0 base) would see a
        batch's padding, so they run each clip alone."""
        if waveforms.dim() != 2:
            raise ValueError(f"expected waveforms (B, S), got {tuple(waveforms.shape)}")
        batch, samples = waveforms.shape
        if lengths is None:
            lengths = torch.full((batch,), samples, dtype=torch.long, device=waveforms.device)
        lengths = lengths.to(device=waveforms.device, dtype=torch.long)
        if batch and not _capturing() and int(lengths.min()) < self.min_samples:
            raise ValueError(f"a clip of {int(lengths.min())} samples is shorter than the "
                             f"encoder's receptive field ({self.min_samples} samples)")
        frames = self.frame_lengths(lengths)
        if self.group_norm and batch > 1 and not _capturing():
            parts = [self.hidden_states(waveforms[i:i + 1, :int(n)])[0][0]
                     for i, n in enumerate(lengths.tolist())]
            width = int(frames.max())
            out = parts[0].new_zeros(batch, *parts[0].shape[:1], width, parts[0].shape[-1])
            for i, part in enumerate(parts):
                out[i, :, :part.shape[1]] = part
            return out, frames
        inside = valid_mask(lengths, samples)
        waveforms = torch.where(inside, waveforms, torch.zeros((), dtype=waveforms.dtype,
                                                               device=waveforms.device))
        mask = None if self.group_norm else inside.long()
        with warnings.catch_warnings():  # torch's notice about transformers' mask types
            warnings.filterwarnings("ignore", message=".*mismatched key_padding_mask.*")
            out = self.encoder(waveforms, attention_mask=mask, output_hidden_states=True)
        states = torch.stack([out.hidden_states[i] for i in self.config.layer_indices], dim=1)
        if not _capturing():  # exported graphs keep the padded length (frames still mask)
            states = states[:, :, :int(frames.max())]
        return states, frames

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waveforms (B, S) or hidden states (B, L, T', D), lengths -> logits (B, n_classes)."""
        return self.forward_head(self.forward_features(x, lengths))

    def forward_features(self, x: torch.Tensor,
                         lengths: torch.Tensor | None = None) -> torch.Tensor:
        """Waveforms (B, S) or hidden states (B, L, T', D), lengths -> the pooled embedding
        (B, E) the classifier reads (E = ``head.in_features``), as ``SERNet``'s."""
        if x.dim() == 2:
            x, lengths = self.hidden_states(x, lengths)
        elif x.dim() != 4 or x.shape[1] != len(self.layer_weights.logits):
            raise ValueError(f"expected waveforms (B, S) or hidden states (B, "
                             f"{len(self.layer_weights.logits)}, T, {self.config.width}), got "
                             f"{tuple(x.shape)}")
        if lengths is None:
            lengths = torch.full((x.shape[0],), x.shape[2], dtype=torch.long, device=x.device)
        lengths = lengths.to(device=x.device, dtype=torch.long)
        return self.head.embed(self.mix_layers(x, lengths), lengths)

    def forward_head(self, embedding: torch.Tensor) -> torch.Tensor:
        """(B, E) -> logits (B, n_classes)."""
        return self.head.classify(embedding)

    def mix_layers(self, states: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        """(B, L, T, D), (B,) -> the weighted sum (B, T, D), padded frames zero."""
        mixed = self.layer_weights(states.float())
        keep = valid_mask(lengths, mixed.shape[1])[:, :, None]
        return torch.where(keep, mixed, torch.zeros((), dtype=mixed.dtype, device=mixed.device))
