"""A tiny model registry: a dict and a decorator (after timm's ``_registry.py``).

Constructors registered with :func:`register_model` take keyword overrides of
:class:`~sertk.models.sernet.SERNetConfig` fields and return a :class:`SERNet`.
"""
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


_MODELS: dict[str, ModelEntry] = {}


def register_model(description: str):
    """Decorator: register ``fn`` under its own name with a one-line ``description``."""
    def decorator(fn: Callable[..., SERNet]) -> Callable[..., SERNet]:
        if fn.__name__ in _MODELS:
            raise ValueError(f"model {fn.__name__!r} is already registered")
        _MODELS[fn.__name__] = ModelEntry(fn.__name__, fn, description)
        return fn
    return decorator


def list_models() -> list[str]:
    """Registered model names, in registration order (``proposed``, ``base1``..``base7``)."""
    return list(_MODELS)


def _entry(name: str) -> ModelEntry:
    try:
        return _MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; known models: {list_models()}") from None


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
