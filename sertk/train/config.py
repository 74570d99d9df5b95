"""The training recipe: one section per concern, read and checked by pydantic.

Defaults are the paper's recipe (SPEC section 4): Adam, learning rate 1e-4, batch 32,
cross-entropy, a shuffle every epoch, model selection and early stopping on validation UA
(at most 100 epochs, patience 20). Every extra (class weights, SpecAugment, speed/gain
perturbation, mixup, label smoothing, weight decay, LR schedule, gradient clipping) is off
by default. ``configs/*.yaml`` hold named recipes.

A :class:`TrainConfig` is a tree of sections: ``data``, ``protocol``, ``model``, ``features``
(the front-end's own :class:`~sertk.features.FeatureConfig`), ``batching``, ``optim``,
``augment`` (:class:`~sertk.train.augment.AugmentOptions`), ``dimensions`` and ``runtime``.
Code reads ``config.optim.lr``; people write either the flat keys of a recipe file
(``lr: 1e-3``: every key names one field of one section, :data:`FLAT_KEYS`) or sections
(``optim: {lr: 1e-3}``), and ``--set lr=1e-3`` or ``--set optim.lr=1e-3`` on the command
line. ``model_args`` (keyword overrides for ``sertk.models.create_model``) is merged key by
key. Unknown keys raise :class:`ConfigError` with a did-you-mean suggestion, bad values name
the key (and the file). Every run directory holds the resolved config in sections
(``config.yaml``, ``config.json``); one saved in the former flat layout reads the same way.

Why pydantic: it comes with the service (FastAPI's models are pydantic) and validates plain
dataclasses in place (``TypeAdapter``), so each section stays its layer's dataclass; it
coerces command-line strings by field type, checks ``Literal`` choices and ``Field`` ranges
and reports each error's location. OmegaConf's structured configs would add a dependency and
its own container types; jsonargparse would also take over the command line (``sertk.cli``'s).

Example:
    >>> cfg = resolve_config(None, ["epochs=3", "model_args.hidden=32", "optim.lr=1e-3"])
    >>> cfg.optim.max_epochs, cfg.model.args, cfg.optim.lr
    (3, {'hidden': 32}, 0.001)
"""
from __future__ import annotations

import difflib
import json
import types
import typing
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal

import yaml
from pydantic import BeforeValidator, Field, TypeAdapter, ValidationError

from sertk.features import FeatureConfig
from sertk.fileio import atomic_write, read_text
from sertk.train.augment import AugmentOptions

FREEZE_FRONT = "front"  # freeze: the 3-Conv front-end and every residual-BLSTM block

NonNegativeInt = Annotated[int, Field(ge=0)]
PositiveInt = Annotated[int, Field(ge=1)]
NonNegativeFloat = Annotated[float, Field(ge=0)]


class ConfigError(ValueError):
    """A recipe that cannot be used; the message names the key, the file and the reason."""


@dataclass
class DataOptions:
    """``manifest``: CSV/JSONL from ``sertk prepare``; ``cache_dir``: the feature cache
    ("" = ``$SERTK_CACHE`` or ``~/.cache/sertk/features``)."""

    manifest: str = ""
    cache_dir: str = ""


@dataclass
class ProtocolOptions:
    """How the data is split (flat key ``protocol`` is ``name``): ``kfold`` (stratified, ``k``
    folds, ``val_fraction`` of each training part for validation), ``loso``/``lospk``
    (``val_speakers`` held-out training speakers), or ``final`` (all data, no test part: for a
    model to ship; ``final_val`` says what it validates on: ``clips``, a stratified
    ``val_fraction`` of them, or ``speakers``, ``val_speakers`` whole speakers drawn with the
    seed, so that selection is judged on speakers it does not train on). ``fold`` runs one
    fold (its index from 0, as in ``fold-00``), ``max_folds`` the first n."""

    name: Literal["kfold", "loso", "lospk", "final"] = "kfold"
    k: PositiveInt = 5
    val_fraction: Annotated[float, Field(ge=0, lt=1)] = 0.1
    val_speakers: NonNegativeInt | NonNegativeFloat = 1
    fold: NonNegativeInt | None = None
    max_folds: PositiveInt | None = None
    final_val: Literal["clips", "speakers"] = "clips"


def _check_freeze(value: Any) -> Any:
    if value in ("", FREEZE_FRONT) or (isinstance(value, str) and value.isdigit()
                                       and value.isascii()):
        return value
    raise ValueError(f"must be {FREEZE_FRONT!r} or a number of blocks (0, 1, 2, ...); "
                     f"got {value!r}")


@dataclass
class ModelOptions:
    """The network (flat keys ``model`` and ``model_args`` are ``name`` and ``args``).

    ``args``: keyword overrides for ``sertk.models.create_model``. Fine-tuning
    (:mod:`sertk.train.warmstart`): ``init_from`` (a checkpoint directory or a bundled model's
    name) starts from that model's weights; ``freeze`` (``front`` or a number of blocks) keeps
    the first blocks fixed. Both change the numbers, so both belong to the recipe.
    """

    name: str = "proposed"
    args: dict = field(default_factory=dict)
    init_from: str = ""
    freeze: Annotated[str, BeforeValidator(_check_freeze)] = ""


@dataclass
class BatchOptions:
    """``mode`` (flat key ``batching``): ``random`` (a shuffle per epoch, the paper) or
    ``bucketed`` (batches of clips of similar length, in a shuffled order; less padding,
    needs ``padding: batch``). ``batch_size`` is per process."""

    mode: Literal["random", "bucketed"] = "random"
    batch_size: PositiveInt = 32
    eval_batch_size: PositiveInt = 64


@dataclass
class OptimOptions:
    """Optimisation: the paper's Adam at 1e-4, at most ``max_epochs``, early stopping after
    ``patience`` epochs without a better validation UA (0: never stop early); the epoch with
    the best validation UA is kept. The rest is off by default."""

    lr: Annotated[float, Field(gt=0)] = 1e-4
    optimizer: Literal["adam", "adamw"] = "adam"
    max_epochs: PositiveInt = 100
    patience: NonNegativeInt = 20
    weight_decay: NonNegativeFloat = 0.0
    lr_schedule: Literal["none", "cosine"] = "none"
    warmup_epochs: NonNegativeInt = 0
    label_smoothing: Annotated[float, Field(ge=0, lt=1)] = 0.0
    class_weights: bool = False
    grad_clip: NonNegativeFloat = 0.0
    mixup_alpha: NonNegativeFloat = 0.0


def _dimension_names(value: Any) -> Any:
    """``"arousal, valence"`` -> ``("arousal", "valence")``; unknown or repeated names raise."""
    from sertk.data.manifest import DIMENSIONS

    if value is None:
        return ()
    if not isinstance(value, str):
        return value
    names = [n.strip() for n in value.split(",") if n.strip()]
    if any(n not in DIMENSIONS for n in names) or len(set(names)) != len(names):
        raise ValueError(f"must be distinct names from {', '.join(DIMENSIONS)} "
                         f"(comma-separated), got {value!r}")
    return tuple(names)


@dataclass
class DimensionOptions:
    """Dimensional emotion, off by default (flat keys ``dimensions``, ``dimension_loss``,
    ``dimension_weight``).

    ``names``: manifest ratings to predict beside the class (``arousal,valence,dominance`` or
    a subset; every utterance must be rated) by a regression head on the same embedding; the
    loss is cross-entropy + ``weight`` x the sum over dimensions of ``loss`` (``ccc``: 1 -
    concordance correlation over the batch; ``mse``) on targets standardised with the
    training part's statistics. Selection stays on validation UA.
    """

    names: Annotated[tuple[str, ...], BeforeValidator(_dimension_names)] = ()
    loss: Literal["ccc", "mse"] = "ccc"
    weight: Annotated[float, Field(gt=0)] = 1.0


@dataclass
class RuntimeOptions:
    """How a run executes: ``seed``, Lightning's ``accelerator``/``devices``/``num_nodes``/
    ``strategy``/``precision``, ``num_threads`` (0: the count the run directory recorded,
    else torch's, :func:`settle_threads`; the count used is saved with the run),
    ``limit_train_batches``/``limit_val_batches`` (Lightning's, for smoke tests; 1 is one
    batch, 1.0 all), the progress bar, and ``keep_resume`` (keep each fold's resume state)."""

    seed: NonNegativeInt = 0
    accelerator: str = "auto"
    devices: int | str = 1
    num_nodes: PositiveInt = 1
    strategy: str = "auto"
    precision: str = "32-true"
    num_threads: NonNegativeInt = 0
    deterministic: bool = False
    limit_train_batches: int | float = 1.0
    limit_val_batches: int | float = 1.0
    progress_bar: bool = True
    keep_resume: bool = False


@dataclass
class TrainConfig:
    """Every knob of a training run, in sections; defaults are the paper's recipe (SPEC 4).

    ``features`` is the front-end (``padding``: ``fixed``, every clip padded to
    ``max_seconds`` as in the paper, or ``batch``, to the longest in the batch with lengths
    passed to the model; ``normalisation``: ``fold``, per-feature statistics of the training
    part as in the paper, ``utterance``, each clip's own statistics first, or ``speaker``,
    each speaker's over all of its clips, test speakers included: transductive, needs a
    speaker for every utterance; both need, and default to, ``padding: batch``). ``augment``
    acts on training batches only. Classical models (``egemaps-svm``, ...:
    :mod:`sertk.classical`) use the protocol, the seed and ``normalisation`` (``fold`` or
    ``speaker``) and ignore the neural training keys.
    """

    data: DataOptions = field(default_factory=DataOptions)
    protocol: ProtocolOptions = field(default_factory=ProtocolOptions)
    model: ModelOptions = field(default_factory=ModelOptions)
    features: FeatureConfig = field(default_factory=FeatureConfig)
    batching: BatchOptions = field(default_factory=BatchOptions)
    optim: OptimOptions = field(default_factory=OptimOptions)
    augment: AugmentOptions = field(default_factory=AugmentOptions)
    dimensions: DimensionOptions = field(default_factory=DimensionOptions)
    runtime: RuntimeOptions = field(default_factory=RuntimeOptions)

    def __post_init__(self):
        if self.batching.mode == "bucketed" and not self.features.padder.gives_lengths:
            raise ConfigError("batching 'bucketed' needs padding 'batch' (with padding "
                              f"{self.features.padding!r} every clip is padded to "
                              "max_seconds anyway)")

    @classmethod
    def of(cls, **keys: Any) -> "TrainConfig":
        """A config from flat recipe keys: ``TrainConfig.of(model="base7", lr=1e-3)``."""
        return from_dict(keys, where="TrainConfig.of()")

    def network_args(self) -> dict:
        """``create_model`` keyword arguments of the recipe: ``model.args``, plus ``n_dims``
        for the dimension head when the recipe predicts dimensions, and ``n_mels`` when the
        front-end's differs from the paper's 40."""
        extra = {}
        if self.dimensions.names:
            extra["n_dims"] = len(self.dimensions.names)
        if self.features.n_mels != FeatureConfig().n_mels:
            extra["n_mels"] = self.features.n_mels
        return {**self.model.args, **extra}

    def to_dict(self) -> dict[str, Any]:
        """The sections as plain JSON types (what ``config.json`` holds)."""
        return _adapter().dump_python(self, mode="json")

    def flat_dict(self) -> dict[str, Any]:
        """``{flat key: value}``: the recipe as people write it (:data:`FLAT_KEYS`)."""
        tree = self.to_dict()
        return {key: tree[section][name] for key, (section, name) in FLAT_KEYS.items()}

    def replace(self, **changes: Any) -> "TrainConfig":
        """A copy with flat-key ``changes``, checked and coerced like a config file's."""
        tree = self.to_dict()
        for section, values in _nest(changes, "replace()").items():
            tree[section].update(values)
        return from_dict(tree, where="replace()")

    def result_dict(self) -> dict[str, Any]:
        """The flat keys that decide a run's numbers (everything but :data:`RUNTIME_KEYS`)."""
        return {k: v for k, v in self.flat_dict().items() if k not in RUNTIME_KEYS}


SECTIONS: dict[str, type] = {f.name: f.default_factory for f in fields(TrainConfig)}
# Flat keys whose field has another name inside its section.
RENAMED = {"model": ("model", "name"), "model_args": ("model", "args"),
           "protocol": ("protocol", "name"), "batching": ("batching", "mode"),
           "dimensions": ("dimensions", "names"), "dimension_loss": ("dimensions", "loss"),
           "dimension_weight": ("dimensions", "weight")}


def _flat_keys() -> dict[str, tuple[str, str]]:
    inside = {v: k for k, v in RENAMED.items()}
    out: dict[str, tuple[str, str]] = {}
    for section, kind in SECTIONS.items():
        for f in fields(kind):
            key = inside.get((section, f.name), f.name)
            assert key not in out, f"flat key {key!r} is in two sections"
            out[key] = (section, f.name)
    return out


#: flat recipe key -> (section, field); every field of every section has exactly one.
FLAT_KEYS = _flat_keys()
FLAT_NAME = {place: key for key, place in FLAT_KEYS.items()}
ALIASES = {"epochs": "max_epochs", "folds": "max_folds"}
# Keys that change how a run executes, not what it computes: a run directory may be resumed
# or extended with different values (e.g. one cluster job per ``--fold``).
# ``manifest`` is here because the split itself (run.json) guards the data's identity.
RUNTIME_KEYS = frozenset({"fold", "max_folds", "progress_bar", "cache_dir", "keep_resume",
                          "manifest", "num_threads"})


@cache
def _adapter() -> TypeAdapter:
    return TypeAdapter(TrainConfig)


# --- reading, merging and saving ---------------------------------------------------------------

def from_dict(data: Any, where: str = "config") -> TrainConfig:
    """A :class:`TrainConfig` from a mapping of flat keys and/or sections, checked."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping of keys to values, got {type(data).__name__}")
    tree = _nest(data, where)
    features = tree.get("features", {})
    if features.get("normalisation", "fold") != "fold" and "padding" not in features:
        features["padding"] = "batch"  # the one padding these normalisations work with
    try:
        return _adapter().validate_python(tree)
    except ValidationError as err:
        raise ConfigError(f"{where}: {_one_line(err)}") from None


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a ``.yaml``/``.yml``/``.json``/``.toml`` file."""
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
    """``["lr=1e-3", "optim.patience=5", "model_args.hidden=64"]`` -> ``{"lr": "1e-3",
    "optim": {"patience": "5"}, "model_args": {"hidden": 64}}``.

    Values stay strings (read by field type later), except model arguments, which have no
    declared type and are read as YAML scalars (``64`` -> int, ``1e-4`` -> float).
    """
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        path = [part.strip() for part in key.split(".")]
        if not sep or not all(path):
            raise ConfigError(f"override {item!r} is not of the form key=value")
        is_model_arg = path[0] == "model_args" or path[:2] == ["model", "args"]
        node = out
        for part in path[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {item!r}: {part!r} is already set to a value")
        node[path[-1]] = _yaml_scalar(value) if is_model_arg and len(path) > 1 else value
    return out


def resolve_config(path: str | Path | None = None, overrides: Iterable[str] = (),
                   **values: Any) -> TrainConfig:
    """Config file, then ``key=value`` overrides, then flat keyword values (None = not given)."""
    where = str(path) if path else "config"
    layers = [read_config_file(path) if path else {}, parse_overrides(overrides),
              {k: v for k, v in values.items() if v is not None}]
    merged: dict[str, Any] = {}
    for layer in layers:
        merged = _deep_merge(merged, _nest(layer, where))
    return from_dict(merged, where=where)


def save_config(config: TrainConfig, run_dir: str | Path) -> None:
    """Write ``config.yaml`` and ``config.json`` into ``run_dir`` (atomically)."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    data = config.to_dict()
    atomic_write(run_dir / "config.json", json.dumps(data, indent=2) + "\n")
    atomic_write(run_dir / "config.yaml", yaml.safe_dump(data, sort_keys=False))


def load_run_config(run_dir: str | Path) -> TrainConfig | None:
    """The config saved in ``run_dir`` (in sections, or the former flat layout), or None."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        return None
    try:
        data = json.loads(read_text(path))
    except ValueError as err:
        raise ConfigError(f"{path}: cannot parse ({err})") from None
    return from_dict(data, where=str(path))


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
    if config.runtime.num_threads:
        return config
    saved = load_run_config(run_dir)
    if saved is not None and saved.runtime.num_threads:
        return config.replace(num_threads=saved.runtime.num_threads)
    import torch

    return config.replace(num_threads=torch.get_num_threads())


# --- from what people write to sections ----------------------------------------------------------

def _nest(data: dict[str, Any], where: str) -> dict[str, dict[str, Any]]:
    """Flat keys and sections -> ``{section: {field: value}}``; unknown keys raise.

    A string for a field that is not a string is read as a YAML scalar (so ``1.0`` stays a
    float and ``none`` is None where None is allowed); a number for a string field becomes
    its text (``freeze: 2``). Everything else is left to pydantic.
    """
    out: dict[str, dict[str, Any]] = {}
    for key, value in data.items():
        if key in SECTIONS and isinstance(value, dict):
            known = [f.name for f in fields(SECTIONS[key])]
            for name, item in value.items():
                if name not in known:
                    raise ConfigError(f"{where}: unknown key '{key}.{name}'"
                                      f"{_suggest(name, known, prefix=key + '.')}")
                _put(out, key, name, item)
            continue
        flat = ALIASES.get(key, key)
        if flat not in FLAT_KEYS:
            raise ConfigError(f"{where}: unknown key {key!r}"
                              f"{_suggest(key, list(FLAT_KEYS) + list(ALIASES))}")
        _put(out, *FLAT_KEYS[flat], value)
    return out


def _put(out: dict, section: str, name: str, value: Any) -> None:
    kind = _field_type(section, name)
    union = typing.get_origin(kind) in (typing.Union, types.UnionType)
    options = typing.get_args(kind) if union else (kind,)
    if isinstance(value, str) and not (kind is str or typing.get_origin(kind) is Literal):
        if value.strip().lower() in ("", "none", "null") and type(None) in options:
            value = None
        else:
            value = _yaml_scalar(value)
    elif isinstance(value, (int, float)) and not isinstance(value, bool) and kind is str:
        value = str(value)
    if kind is dict and isinstance(value, dict):
        value = {**out.get(section, {}).get(name, {}), **value}
    out.setdefault(section, {})[name] = value


@cache
def _field_type(section: str, name: str) -> Any:
    return typing.get_type_hints(SECTIONS[section])[name]  # Annotated[...] stripped


def _deep_merge(base: dict, top: dict) -> dict:
    out = dict(base)
    for key, value in top.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


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


_MESSAGES = {"greater_than": "must be > {gt}", "greater_than_equal": "must be >= {ge}",
             "less_than": "must be < {lt}", "less_than_equal": "must be <= {le}",
             "bool_parsing": "must be bool",
             "bool_type": "must be bool", "int_parsing": "must be int",
             "int_from_float": "must be int", "int_type": "must be int",
             "float_parsing": "must be float", "float_type": "must be float",
             "string_type": "must be str", "dict_type": "must be a mapping"}


def _one_line(err: ValidationError) -> str:
    """The first problem of a pydantic error as ``key must be ..., got value``."""
    first = err.errors(include_url=False)[0]
    loc = tuple(str(part) for part in first["loc"] if not isinstance(part, int))
    place = loc[:2]
    key = FLAT_NAME.get(place, ".".join(loc)) if len(place) == 2 else ".".join(loc)
    if first["type"] == "value_error":
        reason = str(first["ctx"]["error"])
        if not loc:  # a check across sections (TrainConfig.__post_init__)
            return reason
        if len(loc) == 1:  # a section's own check, e.g. FeatureConfig's
            return f"{loc[0]}: {reason}"
        return f"{key} {reason}"
    if first["type"] == "literal_error" and len(place) == 2:
        choices = typing.get_args(_field_type(*place))
        return f"{key} must be one of {', '.join(choices)}; got {first['input']!r}"
    template = _MESSAGES.get(first["type"])
    reason = template.format(**first.get("ctx", {})) if template else first["msg"].lower()
    return f"{key} {reason}, got {first['input']!r}"


def _suggest(key: str, known: list[str], prefix: str = "") -> str:
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{prefix}{close[0]}'?" if close else ""
    return f"{hint} (known keys: {', '.join(prefix + k for k in known)})"
