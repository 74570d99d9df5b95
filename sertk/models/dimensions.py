"""Dimensional targets of a model: which ratings its regression head predicts, and how.

A model trained on dimensions (:data:`sertk.data.manifest.DIMENSIONS`) predicts each one
standardised with the training part's mean and standard deviation (z-scores: every dimension
weighs alike in the loss, whatever the corpus's scale). :class:`DimensionScaling` holds the
names and those numbers; the checkpoint saves it (``"dimensions"`` in ``config.json``) and
inference maps the head's output back with :meth:`DimensionScaling.unscale`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from sertk.data.manifest import DIMENSIONS

#: a standard deviation below this (every training rating alike) is taken as 1
MIN_STD = 1e-6


@dataclass(frozen=True)
class DimensionScaling:
    """``names``: the head's outputs in order; ``mean``/``std``: per name, on the
    corpus's scale. Output ``z`` of the head means rating ``z * std + mean``."""

    names: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self):
        names = self.names
        if (not isinstance(names, (list, tuple)) or not names
                or any(n not in DIMENSIONS for n in names) or len(set(names)) != len(names)):
            raise ValueError(f"dimension names must be distinct names from "
                             f"{', '.join(DIMENSIONS)}, got {names!r}")
        for key in ("mean", "std"):
            values = getattr(self, key)
            if (not isinstance(values, (list, tuple)) or len(values) != len(names)
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                               and math.isfinite(v) for v in values)):
                raise ValueError(f"dimension {key} must be {len(names)} finite numbers, "
                                 f"got {values!r}")
        if not all(v > 0 for v in self.std):
            raise ValueError(f"dimension std must be > 0, got {list(self.std)}")
        object.__setattr__(self, "names", tuple(names))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @classmethod
    def fit(cls, names: Sequence[str], values: np.ndarray) -> "DimensionScaling":
        """The scaling of training ratings ``values`` (N, len(names))."""
        values = np.asarray(values, dtype=np.float64).reshape(-1, len(names))
        std = values.std(axis=0)
        return cls(tuple(names), tuple(values.mean(axis=0).tolist()),
                   tuple(float(s) if s >= MIN_STD else 1.0 for s in std))

    def scale(self, values: np.ndarray) -> np.ndarray:
        """Ratings (..., D) on the corpus's scale -> standardised (..., D) float32."""
        return ((np.asarray(values, dtype=np.float64) - self.mean) / self.std).astype(np.float32)

    def unscale(self, scaled: np.ndarray) -> np.ndarray:
        """Head outputs (..., D) -> ratings (..., D) float64 on the corpus's scale."""
        return np.asarray(scaled, dtype=np.float64) * self.std + self.mean

    def to_dict(self) -> dict[str, Any]:
        return {"names": list(self.names), "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, data: Any) -> "DimensionScaling":
        """Inverse of :meth:`to_dict`; ValueError for anything else."""
        if not isinstance(data, dict) or set(data) != {"names", "mean", "std"}:
            raise ValueError("dimensions must be an object with keys names, mean, std")
        return cls(data["names"], data["mean"], data["std"])
