"""Training, cross-validation and the ablation study (SPEC section 4), on PyTorch Lightning.

Library entry points, one per command:

- :func:`fit` (``sertk train``): one split -> :class:`FoldResult`.
- :func:`cross_validate` (``sertk cv``): every fold of a protocol into a run directory.
- :func:`ablate` (``sertk ablate``): every model under one protocol, Table 2 and Figure 3.
- ``sertk report`` is :func:`sertk.eval.report.aggregate_run`.

Example:
    >>> from sertk.train import resolve_config, cross_validate          # doctest: +SKIP
    >>> cfg = resolve_config("configs/paper.yaml", ["protocol=lospk"])  # doctest: +SKIP
    >>> cross_validate(cfg, read_manifest("emodb.csv"), "runs/emodb")   # doctest: +SKIP
"""
from sertk.train.ablate import ablate
from sertk.train.config import ConfigError, TrainConfig, resolve_config
from sertk.train.cv import cross_validate
from sertk.train.errors import TrainingInterrupted
from sertk.train.fit import FoldResult, fit

__all__ = ["ConfigError", "FoldResult", "TrainConfig", "TrainingInterrupted", "ablate",
           "cross_validate", "fit", "resolve_config"]
