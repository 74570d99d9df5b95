"""Training, cross-validation and the ablation study (SPEC section 4), on PyTorch Lightning.

Library entry points, one per command (modules ``fitting``, ``cv``, ``ablation``):

- :func:`fit` (``sertk train``): one split -> :class:`FoldResult`.
- :func:`cross_validate` (``sertk cv``): every fold of a protocol into a run directory.
- :func:`ablate` (``sertk ablate``): every model under one protocol, Table 2 and Figure 3.
- :func:`run_study` (``sertk study``): named systems (recipes) under one protocol, one
  comparison table with paired statistics (systems from :mod:`sertk.train.studyspec`).
- ``sertk report`` is :func:`sertk.eval.report.aggregate_run`.

They are imported on first use, so ``import sertk.train.config`` loads no Lightning.

Example:
    >>> from sertk.train import resolve_config, cross_validate          # doctest: +SKIP
    >>> cfg = resolve_config("configs/paper.yaml", ["protocol=lospk"])  # doctest: +SKIP
    >>> cross_validate(cfg, read_manifest("emodb.csv"), "runs/emodb")   # doctest: +SKIP
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

_LAZY = {
    "ablate": "sertk.train.ablation",
    "ConfigError": "sertk.train.config",
    "TrainConfig": "sertk.train.config",
    "resolve_config": "sertk.train.config",
    "cross_validate": "sertk.train.cv",
    "TrainingInterrupted": "sertk.train.errors",
    "FoldResult": "sertk.train.fitting",
    "fit": "sertk.train.fitting",
    "run_study": "sertk.train.study",
}

__all__ = sorted(_LAZY)

if TYPE_CHECKING:  # pragma: no cover
    from sertk.train.ablation import ablate
    from sertk.train.config import ConfigError, TrainConfig, resolve_config
    from sertk.train.cv import cross_validate
    from sertk.train.errors import TrainingInterrupted
    from sertk.train.fitting import FoldResult, fit
    from sertk.train.study import run_study


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'sertk.train' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
