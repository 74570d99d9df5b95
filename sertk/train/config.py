"""The training recipe as one flat dataclass, read from YAML/TOML plus ``key=value`` overrides.

Defaults are the paper's recipe (SPEC section 4): Adam, learning rate 1e-4, batch 32,
cross-entropy, data shuffled every epoch; model selection on validation UA only, early
stopping on validation UA (at most 100 epochs, patience 20). Every extra that can make a
better recipe (class weights, SpecAugment, speed/gain perturbation, mixup, label smoothing,
weight decay, LR schedule, gradient clipping) is off by default, so the faithful recipe stays
the default. ``configs/*.yaml`` hold named recipes.

A config file is a flat mapping of these field names; only ``model_args`` (keyword overrides
for ``sertk.models.create_model``) is itself a mapping. Unknown keys and bad values raise
:class:`ConfigError` naming the key (and the file). The resolved config is saved in every run
directory (``config.yaml`` and ``config.json``), so a run is described by its directory alone.

Example:
    >>> cfg = resolve_config(None, ["epochs=3", "model_args.hidden=32", "lr=1e-3"])
    >>> cfg.max_epochs, cfg.model_args, cfg.lr
    (3, {'hidden': 32}, 0.001)
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import types
import typing
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

import yaml

from sertk.fileio import atomic_write, read_text
from sertk.padding import PADDING_MODES, Padding

PROTOCOL_CHOICES = ("kfold", "loso", "lospk", "final")
BATCHING_CHOICES = ("random", "bucketed")
NORMALISATION_CHOICES = ("fold", "utterance", "speaker")
OPTIMIZER_CHOICES = ("adam", "adamw")
SCHEDULE_CHOICES = ("none", "cosine")
DIMENSION_LOSS_CHOICES = ("ccc", "mse")
FREEZE_FRONT = "front"  # freeze: the 3-Conv front-end and every residual-BLSTM block

# Keys that change how a run executes, not what it computes: a run directory may be resumed
# or extended with different values (e.g. one cluster job per ``--fold``).
# ``manifest`` is here because the split itself (run.json) guards the data's identity.
RUNTIME_KEYS = frozenset({"fold", "max_folds", "progress_bar", "cache_dir", "keep_resume",
                          "manifest", "num_threads"})
ALIASES = {"epochs": "max_epochs", "folds": "max_folds"}


class ConfigError(ValueError):
    """A recipe that cannot be used; the message names the key, the file and the reason."""


@dataclass
class TrainConfig:
    """Every knob of a training run; defaults are the paper's recipe (SPEC 4).

    Data: ``manifest`` (CSV/JSONL from ``sertk prepare``); ``cache_dir`` for features
    ("" = ``$SERTK_CACHE`` or ``~/.cache/sertk/features``).
    Protocol: ``protocol`` is ``kfold`` (stratified, ``k`` folds, ``val_fraction`` of each
    training part for validation), ``loso``/``lospk`` (``val_speakers`` held-out training
    speakers), or ``final`` (a stratified ``val_fraction`` split of all data, no test part:
    for training a model to ship). ``fold`` runs one fold (its index from 0, as in the
    run directory's ``fold-00``), ``max_folds`` the first n.
    Features: ``padding`` ``fixed`` (every clip padded to ``max_seconds``, the paper) or
    ``batch`` (padded to the longest in the batch, lengths passed to the model).
    ``batching``: ``random`` (a shuffle per epoch, the paper) or ``bucketed`` (batches of clips
    of similar length, in a shuffled order; less padding, needs ``padding: batch``).
    ``normalisation``: ``fold`` (per-feature statistics of the training part, the paper),
    ``utterance`` (each clip's own statistics first: deployable, no extra information) or
    ``speaker`` (each speaker's statistics over all of its clips, test speakers included:
    transductive, needs a speaker for every utterance).
    Classical models (``egemaps-svm``, ``egemaps-logreg``) use ``protocol``, ``seed`` and
    ``normalisation`` (``fold`` or ``speaker``) and ignore the neural training keys.
    Selection: the epoch with the best validation UA is kept; early stopping after
    ``patience`` epochs without a better validation UA (0: never stop early).
    Augmentation (training batches only, feature level): ``spec_augment`` masks,
    ``speed_perturb`` (time-stretch factor in [1 - s, 1 + s]), ``gain_perturb_db`` (a gain
    in [-g, g] dB, i.e. a constant added to the log-mel), ``mixup_alpha``.
    Fine-tuning: ``init_from`` (a checkpoint directory or a bundled model's name) starts
    from that model's weights; ``freeze`` (``front`` or a number of blocks) keeps the first
    blocks fixed (:mod:`sertk.train.warmstart`). Both change the numbers, so both belong
    to the recipe a run directory is tied to.
    Runtime: Lightning ``accelerator``/``devices``/``num_nodes``/``strategy``/``precision``;
    ``batch_size`` is per process. ``num_threads`` 0: the count the run directory recorded,
    else torch's (:func:`settle_threads`); the count used is saved with the run.
    ``limit_train_batches``/``limit_val_batches`` are Lightning's (for smoke tests).
    Dimensional emotion (off by default): ``dimensions`` names manifest ratings to predict
    beside the class (``arousal,valence,dominance`` or a subset, comma-separated; every
    utterance must be rated), through a regression head on the same embedding; the loss is
    cross-entropy + ``dimension_weight`` x the sum over dimensions of ``dimension_loss``
    (``ccc``: 1 - concordance correlation over the batch; ``mse``), on targets standardised
    with the training part's statistics. Selection stays on validation UA.
    """

    # data
    manifest: str = ""
    cache_dir: str = ""
    # protocol
    protocol: str = "kfold"
    k: int = 5
    val_fraction: float = 0.1
    val_speakers: int | float = 1
    fold: int | None = None
    max_folds: int | None = None
    # model and features
    model: str = "proposed"
    model_args: dict = field(default_factory=dict)
    padding: str = "fixed"
    batching: str = "random"
    normalisation: str = "fold"
    max_seconds: float = 4.0
    # the paper's optimisation
    batch_size: int = 32
    lr: float = 1e-4
    optimizer: str = "adam"
    max_epochs: int = 100
    patience: int = 20
    # extras, all off by default
    weight_decay: float = 0.0
    lr_schedule: str = "none"
    warmup_epochs: int = 0
    label_smoothing: float = 0.0
    class_weights: bool = False
    grad_clip: float = 0.0
    mixup_alpha: float = 0.0
    spec_augment: bool = False
    freq_mask: int = 8
    time_mask: int = 20
    n_freq_masks: int = 2
    n_time_masks: int = 2
    speed_perturb: float = 0.0
    gain_perturb_db: float = 0.0
    # fine-tuning
    init_from: str = ""
    freeze: str = ""
    # runtime
    seed: int = 0
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_threads: int = 0
    deterministic: bool = False
    eval_batch_size: int = 64
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    progress_bar: bool = True
    keep_resume: bool = False
    # --- dimensional emotion (multi-task) ---
    dimensions: str = ""
    dimension_loss: str = "ccc"
    dimension_weight: float = 1.0
    # --- end dimensional emotion ---

    def __post_init__(self):
        _check_choice("protocol", self.protocol, PROTOCOL_CHOICES)
        _check_choice("padding", self.padding, PADDING_MODES)
        _check_choice("batching", self.batching, BATCHING_CHOICES)
        _check_choice("normalisation", self.normalisation, NORMALISATION_CHOICES)
        if self.batching == "bucketed" and not Padding(self.padding).gives_lengths:
            raise ConfigError("batching 'bucketed' needs padding 'batch' (with padding "
                              f"{self.padding!r} every clip is padded to max_seconds anyway)")
        _check_choice("optimizer", self.optimizer, OPTIMIZER_CHOICES)
        _check_choice("lr_schedule", self.lr_schedule, SCHEDULE_CHOICES)
        positive = ("k", "batch_size", "max_epochs", "num_nodes", "eval_batch_size")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)!r}")
        if self.fold is not None and self.fold < 0:
            raise ConfigError(f"fold is an index from 0, got {self.fold!r}")
        if self.max_folds is not None and self.max_folds < 1:
            raise ConfigError(f"max_folds must be >= 1, got {self.max_folds!r}")
        non_negative = ("patience", "weight_decay", "warmup_epochs", "grad_clip", "mixup_alpha",
                        "freq_mask", "time_mask", "n_freq_masks", "n_time_masks",
                        "gain_perturb_db", "num_threads", "val_speakers", "seed")
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")
        if not 0.0 < self.lr:
            raise ConfigError(f"lr must be > 0, got {self.lr!r}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction must be in [0, 1), got {self.val_fraction!r}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing must be in [0, 1), got {self.label_smoothing!r}")
        if not 0.0 <= self.speed_perturb < 0.5:
            raise ConfigError(f"speed_perturb must be in [0, 0.5), got {self.speed_perturb!r}")
        if self.max_seconds <= 0:
            raise ConfigError(f"max_seconds must be > 0, got {self.max_seconds!r}")
        if not (self.freeze in ("", FREEZE_FRONT) or (self.freeze.isdigit()
                                                      and self.freeze.isascii())):
            raise ConfigError(f"freeze must be {FREEZE_FRONT!r} or a number of blocks (0, 1, "
                              f"2, ...); got {self.freeze!r}")
        if not isinstance(self.model_args, dict):
            raise ConfigError(f"model_args must be a mapping, got {self.model_args!r}")
        # --- dimensional emotion ---
        self.dimensions = ",".join(_dimension_names(self.dimensions))
        _check_choice("dimension_loss", self.dimension_loss, DIMENSION_LOSS_CHOICES)
        if not self.dimension_weight > 0:
            raise ConfigError(f"dimension_weight must be > 0, got {self.dimension_weight!r}")
        # --- end dimensional emotion ---

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """The dimensions to predict, in the recipe's order (empty: categorical only)."""
        return tuple(self.dimensions.split(",")) if self.dimensions else ()

    def network_args(self) -> dict:
        """``create_model`` keyword arguments of the recipe: ``model_args``, plus ``n_dims``
        for the dimension head when the recipe predicts ``dimensions``."""
        dims = len(self.dimension_names)
        return {**self.model_args, **({"n_dims": dims} if dims else {})}

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "TrainConfig":
        """A copy with ``changes`` (keys checked and coerced like a config file's)."""
        return from_dict({**self.to_dict(), **changes}, where="replace()")

    def result_dict(self) -> dict[str, Any]:
        """The keys that decide a run's numbers (everything but :data:`RUNTIME_KEYS`)."""
        return {k: v for k, v in self.to_dict().items() if k not in RUNTIME_KEYS}


def _dimension_names(text: str) -> list[str]:
    """``"arousal, valence"`` -> ``["arousal", "valence"]``; unknown or repeated names raise."""
    from sertk.data.manifest import DIMENSIONS

    names = [n.strip() for n in str(text).split(",") if n.strip()]
    unknown = [n for n in names if n not in DIMENSIONS]
    if unknown or len(set(names)) != len(names):
        raise ConfigError(f"dimensions must be distinct names from {', '.join(DIMENSIONS)} "
                          f"(comma-separated), got {text!r}")
    return names


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


# --- reading, coercing and saving --------------------------------------------------------------

def field_names() -> list[str]:
    return [f.name for f in fields(TrainConfig)]


def from_dict(data: dict[str, Any], where: str = "config") -> TrainConfig:
    """Build a :class:`TrainConfig` from a flat mapping, coercing strings by field type."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    hints = typing.get_type_hints(TrainConfig)
    values = {}
    for key, value in data.items():
        name = ALIASES.get(key, key)
        if name not in hints:
            raise ConfigError(f"{where}: unknown key {key!r}{_suggest(key)}")
        values[name] = _coerce(name, value, hints[name], where)
    try:
        return TrainConfig(**values)
    except ConfigError as err:
        raise ConfigError(f"{where}: {err}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The flat mapping in a ``.yaml``/``.yml``/``.json``/``.toml`` file."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    text = read_text(path)
    try:
        if path.suffix == ".toml":
            import tomllib  # Python >= 3.11

            data = tomllib.loads(text)
        elif path.suffix == ".json":
            data = json.loads(text)
        else:
            data = yaml.safe_load(text)
    except ImportError:
        raise ConfigError(f"{path}: TOML needs Python >= 3.11; use YAML instead") from None
    except Exception as err:  # yaml/json/toml each raise their own error types
        raise ConfigError(f"{path}: cannot parse ({err})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of keys to values at the top level")
    return data


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """``["lr=1e-3", "model_args.hidden=64"]`` -> ``{"lr": "1e-3", "model_args": {"hidden": 64}}``.

    Values stay strings (coerced later by field type), except inside ``model_args``, where
    they are parsed as YAML scalars (``64`` -> int, ``max`` -> str).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"override {item!r} is not of the form key=value")
        if key.startswith("model_args."):
            sub = key[len("model_args."):]
            out.setdefault("model_args", {})[sub] = _yaml_scalar(value)
        else:
            out[key] = value
    return out


def resolve_config(path: str | Path | None = None, overrides: Iterable[str] = (),
                   **values: Any) -> TrainConfig:
    """Config file, then ``key=value`` overrides, then keyword values (None = not given)."""
    data = read_config_file(path) if path else {}
    where = str(path) if path else "config"
    merged = dict(data)
    for key, value in parse_overrides(overrides).items():
        if key == "model_args" and isinstance(merged.get("model_args"), dict):
            value = {**merged["model_args"], **value}
        merged[key] = value
    merged.update({k: v for k, v in values.items() if v is not None})
    return from_dict(merged, where=where)


def save_config(config: TrainConfig, run_dir: str | Path) -> None:
    """Write ``config.yaml`` and ``config.json`` into ``run_dir`` (atomically)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = config.to_dict()
    write_text_atomic(run_dir / "config.json", json.dumps(data, indent=2) + "\n")
    write_text_atomic(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False))


def load_run_config(run_dir: str | Path) -> TrainConfig | None:
    """The config saved in ``run_dir``, or None when there is none."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    return from_dict(json.loads(read_text(path)), where=str(path))


def check_same_run(config: TrainConfig, run_dir: str | Path) -> None:
    """Refuse to resume ``run_dir`` with a recipe that would compute different numbers."""
    saved = load_run_config(run_dir)
    if saved is None:
        return
    old, new = saved.result_dict(), config.result_dict()
    changed = sorted(k for k in new if old.get(k) != new[k])
    if changed:
        diffs = "; ".join(f"{k}: {old.get(k)!r} -> {new[k]!r}" for k in changed)
        raise ConfigError(f"{run_dir} holds a run with a different recipe ({diffs}); "
                          "use another output directory or delete it")


def settle_threads(config: TrainConfig, run_dir: str | Path) -> TrainConfig:
    """``config`` with a concrete ``num_threads``, so a run always records its thread count.

    A count given by the user wins. Otherwise (``num_threads`` 0) a run directory that
    recorded one is resumed with it (CPU sums in another order can change the last bits, so
    a resumed fold continues exactly as it began), and a new run records torch's count in
    this process (``OMP_NUM_THREADS`` or the machine's cores): deterministic for a machine.
    """
    if config.num_threads:
        return config
    saved = load_run_config(run_dir)
    if saved is not None and saved.num_threads:
        return dataclasses.replace(config, num_threads=saved.num_threads)
    import torch

    return dataclasses.replace(config, num_threads=torch.get_num_threads())


def write_text_atomic(path: Path, text: str) -> None:
    atomic_write(path, text)  # whole or absent; an OSError names the path (sertk.fileio)


def _coerce(name: str, value: Any, hint: Any, where: str) -> Any:
    """``value`` as the field's type; strings from the command line are parsed."""
    options = _type_options(hint)
    nullable = type(None) in options
    if value is None or (nullable and isinstance(value, str)
                         and value.strip().lower() in ("", "none", "null")):
        if nullable:
            return None
        raise ConfigError(f"{where}: {name} cannot be empty")
    for kind in [t for t in (bool, int, float, dict, str) if t in options]:
        try:
            return _as(kind, value)
        except (TypeError, ValueError):
            continue
    wanted = " or ".join(t.__name__ for t in options if t is not type(None))
    raise ConfigError(f"{where}: {name} must be {wanted}, got {value!r}")


def _type_options(hint: Any) -> tuple:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        return typing.get_args(hint)
    return (typing.get_origin(hint) or hint,)


def _as(kind: type, value: Any) -> Any:
    """``value`` as ``kind``, or ValueError. Strings are parsed; 1.0 never becomes an int,
    since for Lightning's ``limit_*_batches`` 1 (one batch) and 1.0 (all) differ."""
    if isinstance(value, bool):
        if kind is bool:
            return value
        raise ValueError
    if kind is bool:
        if isinstance(value, str) and value.strip().lower() in _BOOLS:
            return _BOOLS[value.strip().lower()]
    elif kind is int:
        if isinstance(value, (int, str)):
            return int(value)
    elif kind is float:
        if isinstance(value, (int, float, str)):
            return float(value)
    elif kind is dict:
        if isinstance(value, dict):
            return dict(value)
    elif isinstance(value, (str, int, float)):
        return str(value)
    raise ValueError


_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}


def _yaml_scalar(text: str) -> Any:
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError:
        return text
    if isinstance(value, str):
        try:
            return float(value) if any(c in value for c in ".eE") else value
        except ValueError:
            return value
    return value


def _suggest(key: str) -> str:
    close = difflib.get_close_matches(key, field_names() + list(ALIASES), n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return f"{hint} (known keys: {', '.join(field_names())})"
