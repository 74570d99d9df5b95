"""A whole recipe checked before a run directory is touched.

A run directory keeps its first recipe and refuses a different one, so a recipe that cannot
train must fail *before* anything is written: a misspelt ``--model`` or ``model_args`` key,
a bad value, an unknown precision, labels that clash, a fold that does not exist.
:func:`check_recipe` does every check that needs no training; the model is built on
PyTorch's ``meta`` device (shapes only, no memory), so its own code checks its arguments.

Example:
    >>> labels = check_recipe(TrainConfig.of(model="base7"), utterances)  # doctest: +SKIP
"""
from __future__ import annotations

import difflib
import typing
from typing import Sequence

import torch

from sertk.classical import CLASSICAL_MODELS, LinearConfig, is_classical
from sertk.data.manifest import ManifestError, Utterance, check_dimensions, label_names
from sertk.models import create_model, list_models
from sertk.models.registry import is_model, model_requires
from sertk.train.config import ConfigError, TrainConfig


def check_recipe(config: TrainConfig, utterances: Sequence[Utterance]) -> list[str]:
    """Check everything about ``config`` that can be checked without training; returns the
    class list (sorted labels of ``utterances``).

    Raises:
        ConfigError: naming the key and the reason (unknown model, a ``model_args`` key or
            value the model refuses, an unknown precision, a bad front-end setting,
            ``dimensions`` that the manifest does not rate on every utterance or that the
            model cannot predict: classical and SSL models have no dimension head).
        ManifestError: labels that differ only by case or whitespace.
    """
    labels = label_names(utterances)
    if "n_dims" in config.model.args:  # the head and its scaling come together
        raise ConfigError("model_args.n_dims is set by the dimensions key (e.g. dimensions: "
                          "arousal,valence); leave it out of model_args")
    if config.dimensions.names:
        if is_classical(config.model.name) or (is_model(config.model.name)
                                          and model_requires(config.model.name)):  # SSL models
            raise ConfigError(f"dimensions: {config.model.name} has no dimension head; use one of "
                              f"{', '.join(list_models())}")
        try:
            check_dimensions(utterances, config.dimensions.names)
        except ManifestError as err:
            raise ConfigError(f"dimensions {','.join(config.dimensions.names)!r}: {err}") from None
    if config.features.normalisation == "speaker":
        missing = [u.id for u in utterances if not u.speaker]
        if missing:
            raise ConfigError(f"normalisation 'speaker' needs a speaker for every utterance; "
                              f"{len(missing)} have none (e.g. {', '.join(missing[:3])})")
    if is_classical(config.model.name):
        if config.model.init_from or config.model.freeze:
            raise ConfigError(f"init_from/freeze start a neural model from a checkpoint; "
                              f"{config.model.name} is a classical model")
        if config.features.normalisation == "utterance":
            raise ConfigError(f"normalisation 'utterance' does not apply to {config.model.name} "
                              "(one vector per clip); use 'fold' or 'speaker'")
        linear_config(config)  # its model_args
        return labels
    check_model(config, n_classes=max(len(labels), 2))
    check_precision(config.runtime.precision)
    if config.model.init_from or config.model.freeze:  # the checkpoint must fit the recipe
        from sertk.train.warmstart import load_init_checkpoint

        load_init_checkpoint(config, config.features, max(len(labels), 2))
    return labels


# model_args a classical model takes: fields of LinearConfig (the rest comes from the recipe).
LINEAR_ARGS = ("c_grid", "default_c", "class_weight", "max_iter")


def linear_config(config: TrainConfig) -> LinearConfig:
    """The classical model's settings taken from a recipe: its feature set and classifier,
    the seed, ``normalisation``, and :data:`LINEAR_ARGS` from ``model_args`` (e.g.
    ``model_args.c_grid=[0.001]`` fixes C).

    Raises:
        ConfigError: a ``model_args`` key the classical model does not take, or a bad value.
    """
    feature_set, classifier = CLASSICAL_MODELS[config.model.name]
    args = dict(config.model.args)
    unknown = sorted(set(args) - set(LINEAR_ARGS))
    if unknown:
        raise ConfigError(f"model_args {', '.join(unknown)}: {config.model.name} takes only "
                          f"{', '.join(LINEAR_ARGS)}")
    if "c_grid" in args:
        grid = args["c_grid"]
        args["c_grid"] = tuple(grid) if isinstance(grid, (list, tuple)) else (grid,)
    try:
        return LinearConfig(classifier=classifier, feature_set=feature_set,
                            seed=config.runtime.seed,
                            normalisation=config.features.normalisation, **args)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"model_args {config.model.args} for {config.model.name!r}: "
                          f"{_first_line(err)}") from None


def check_model(config: TrainConfig, n_classes: int) -> None:
    """Build ``config.model.name`` with ``config.model.args`` on the meta device, or raise
    :class:`ConfigError` naming the model or argument."""
    if not is_model(config.model.name):
        known = [*list_models(all_models=True), *CLASSICAL_MODELS]
        close = difflib.get_close_matches(config.model.name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"model: unknown model {config.model.name!r}{hint} "
                          f"(known: {', '.join(known)}; see `sertk models`)")
    try:
        with torch.device("meta"):
            create_model(config.model.name, n_classes=n_classes, **config.network_args())
    except (TypeError, ValueError, RuntimeError, OverflowError) as err:
        raise ConfigError(f"model_args {config.model.args} for {config.model.name!r}: "
                          f"{_first_line(err)}") from None


def check_precision(precision: str) -> None:
    """Raise :class:`ConfigError` unless Lightning knows ``precision``."""
    from lightning.fabric.plugins.precision.precision import (_PRECISION_INPUT_STR,
                                                              _PRECISION_INPUT_STR_ALIAS)
    known = typing.get_args(_PRECISION_INPUT_STR) + typing.get_args(_PRECISION_INPUT_STR_ALIAS)
    if str(precision) not in known:
        raise ConfigError(f"precision must be one of {', '.join(known)}; got {precision!r}")


def _first_line(err: Exception) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
