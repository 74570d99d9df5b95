"""The paper's component study (section 3.3, Table 2, Figure 3): every model, one protocol.

:func:`ablate` cross-validates ``proposed`` and ``base1``..``base7`` with the same recipe,
protocol, folds and seed (only ``model`` changes), each into ``OUT/<model>/``, then writes
``OUT/ablation.md`` (Table 2's layout: WA and UA mean ± std across folds, parameters, training
time, and the paper's IEMOCAP numbers alongside), ``OUT/ablation.json`` and
``OUT/confusion-grid.png`` (pooled confusion matrices side by side, as Figure 3). Features are
computed once and shared; re-running resumes, as for :func:`~sertk.train.cv.cross_validate`.
Every model's recipe is checked before anything is written.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from sertk.data.manifest import Utterance
from sertk.eval.report import write_ablation
from sertk.models import list_models
from sertk.train.config import ConfigError, TrainConfig, save_config
from sertk.train.cv import cross_validate
from sertk.train.fitting import is_global_zero, load_fold_features, writing
from sertk.train.recipe import check_recipe


def ablate(config: TrainConfig, utterances: Sequence[Utterance], out_dir: str | Path, *,
           models: Sequence[str] | None = None,
           features: Mapping[str, np.ndarray] | None = None) -> Path | None:
    """Cross-validate each of ``models`` (default: every registered model) under ``config``;
    returns the path of ``ablation.md`` (None on DDP ranks other than 0, or while a ``fold=K``
    fan-out still misses folds)."""
    models = list(models or list_models())
    unknown = [m for m in models if m not in list_models()]
    if unknown:
        raise ConfigError(f"unknown model(s) {unknown}; known: {list_models()}")
    for name in models:  # every recipe, before anything is written
        check_recipe(config.replace(model=name), utterances)
    out_dir = Path(out_dir)
    if features is None:
        features = load_fold_features(config, utterances)
    if is_global_zero():
        with writing(out_dir):
            save_config(config, out_dir)
    runs, complete = {}, True
    for name in models:
        runs[name] = out_dir / name
        metrics = cross_validate(config.replace(model=name), utterances, runs[name],
                                 features=features)
        complete = complete and metrics is not None
    if not complete or not is_global_zero():
        return None
    return write_ablation(runs, out_dir)
