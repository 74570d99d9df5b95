"""A tiny model registry: a dict and a decorator (after timm's ``_registry.py``). Registered
constructors take keyword overrides of :class:`~sertk.models.sernet.SERNetConfig` fields."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from sertk.models.sernet import SERNet


@dataclass(frozen=True)
class ModelEntry:
    """One registered model: its constructor and what it changes, in one line."""

    name: str
    constructor: Callable[..., SERNet]
    description: str
    requires: str = ""  # what the constructor needs beyond n_classes (shown by `sertk models`)


_MODELS: dict[str, ModelEntry] = {}


def register_model(description: str, *, name: str | None = None, requires: str = ""):
    """Decorator: register ``fn`` under ``name`` (default: its own name) with a one-line
    ``description``; ``requires`` names what it needs beyond ``n_classes`` (such models are
    left out of :func:`list_models` by default and not built by ``sertk models``)."""
    def decorator(fn: Callable[..., SERNet]) -> Callable[..., SERNet]:
        key = name or fn.__name__
        if key in _MODELS:
            raise ValueError(f"model {key!r} is already registered")
        _MODELS[key] = ModelEntry(key, fn, description, requires)
        return fn
    return decorator


def list_models(all_models: bool = False) -> list[str]:
    """Registered model names, in registration order: those that build from ``n_classes``
    alone (the paper's Table 2: ``proposed``, ``base1``..``base7``), or with
    ``all_models=True`` also those that need more (``ssl-proposed``, ``ssl-linear``)."""
    return [name for name, entry in _MODELS.items() if all_models or not entry.requires]


def model_requires(name: str) -> str:
    """What model ``name`` needs beyond ``n_classes`` ("" for none)."""
    return _entry(name).requires


def _entry(name: str) -> ModelEntry:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {list_models(True)}") from None


def is_model(name: str) -> bool:
    return name in _MODELS


def describe_model(name: str) -> str:
    """The one-line description of what model ``name`` changes."""
    return _entry(name).description


def create_model(name: str, n_classes: int, **overrides) -> SERNet:
    """Build model ``name`` for ``n_classes`` classes; ``overrides`` set SERNetConfig fields.

    Example:
        >>> create_model("base4", n_classes=4, pool_type="avg").config.time_pooling
        False
    """
    return _entry(name).constructor(n_classes=n_classes, **overrides)
