"""Typed, bounded fields for the flat config dataclasses that travel in checkpoints.

A config dataclass (:class:`~sertk.features.FeatureConfig`,
:class:`~sertk.models.sernet.SERNetConfig`) declares each number with :func:`bounded`, and its
``__post_init__`` calls :func:`check_fields`. That one check runs however the config is made
(from user options, from a recipe or from a checkpoint's ``config.json``): every field has
its declared type (``int``, ``float``, ``bool``, ``str``, ``float | None``, ``tuple[int, ...]``),
numbers are finite and inside their range, and integral numbers are stored as ``int`` so
that equal configs have equal dicts. The first bad field raises a one-line ``ValueError``
naming ``Class.field``.

Example:
    >>> from dataclasses import dataclass
    >>> @dataclass(frozen=True)
    ... class Demo:
    ...     size: int = bounded(4, 1, 64)
    ...     def __post_init__(self):
    ...         check_fields(self)
    >>> Demo(size=1000)
    Traceback (most recent call last):
    ...
    ValueError: Demo.size must be <= 64, got 1000
"""
from __future__ import annotations

import math
import numbers
import types
import typing
from dataclasses import field, fields
from typing import Any

import numpy as np


def bounded(default: Any, low: float | None = None, high: float | None = None, *,
            low_open: bool = False, high_open: bool = False):
    """A dataclass field whose number (or each number of a tuple) lies in [low, high];
    ``low_open``/``high_open`` exclude the end. ``None`` leaves that side unbounded."""
    return field(default=default, metadata={"range": (low, high, low_open, high_open)})


def check_fields(config) -> None:
    """Check and normalise every field of the frozen dataclass ``config`` in place."""
    hints = typing.get_type_hints(type(config))
    for f in fields(config):
        name = f"{type(config).__name__}.{f.name}"
        value = _checked(name, getattr(config, f.name), hints[f.name])
        bounds = f.metadata.get("range")
        if bounds is not None and value is not None:
            for item in value if isinstance(value, tuple) else (value,):
                _check_range(name, item, *bounds)
        object.__setattr__(config, f.name, value)


def _checked(name: str, value: Any, kind: Any) -> Any:
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (kind,) = [a for a in args if a is not type(None)]
        return _checked(name, value, kind)
    if origin is tuple:
        if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
            raise ValueError(f"{name} must be a list of {len(args)} numbers, got {value!r}")
        if args[-1] is not Ellipsis and len(value) != len(args):
            raise ValueError(f"{name} must hold {len(args)} values, got {len(value)}")
        return tuple(_checked(name, item, args[0]) for item in value)
    if kind is bool:
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        return bool(value)
    if kind is str:
        if not isinstance(value, str):
            raise ValueError(f"{name} must be a string, got {value!r}")
        return value
    if kind in (int, float):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
            raise ValueError(f"{name} must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"{name} must be finite, got {value!r}")
        if kind is int:
            if int(value) != value:
                raise ValueError(f"{name} must be an integer, got {value!r}")
            return int(value)
        return float(value)
    raise TypeError(f"{name}: unsupported field type {kind!r}")  # a programming error


def _check_range(name: str, value: Any, low, high, low_open: bool, high_open: bool) -> None:
    if low is not None and (value <= low if low_open else value < low):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (value >= high if high_open else value > high):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
