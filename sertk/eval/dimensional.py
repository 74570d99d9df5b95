"""Metrics of dimensional emotion (arousal, valence, dominance): CCC, PCC and MAE.

- **CCC**, Lin's concordance correlation coefficient,
  ``2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2)`` with population (1/N)
  moments: 1 only when predictions equal the truth, lowered by correlation, scale and
  offset errors alike. The loss ``1 - CCC`` (:func:`ccc` works on torch tensors too) is
  what training minimises with ``dimension_loss: ccc``.
- **PCC**, Pearson's correlation: insensitive to scale and offset.
- **MAE**, the mean absolute error on the corpus's scale (IEMOCAP: 1-5).

A fold's metrics are ``{dimension: {"ccc", "pcc", "mae", "n"}}``; across folds
:func:`summarize_dimensions` gives the mean and sample std (n-1) of each, and the metrics
of all test predictions pooled. A constant prediction has no correlation: PCC is None (and
so is CCC when the truth is constant too).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from sertk.eval.metrics import STD_DDOF

DIMENSION_METRICS = ("ccc", "pcc", "mae")
METRIC_TITLES = {"ccc": "CCC", "pcc": "PCC", "mae": "MAE"}


def ccc(pred, true, eps: float = 0.0):
    """Concordance correlation of ``pred`` and ``true`` along axis 0: (N,) -> scalar,
    (N, D) -> (D,). numpy arrays or torch tensors (differentiable); ``eps`` is added to the
    denominator (a training batch may be constant)."""
    mean_p, mean_t = pred.mean(0), true.mean(0)
    cov = ((pred - mean_p) * (true - mean_t)).mean(0)
    var_p, var_t = ((pred - mean_p) ** 2).mean(0), ((true - mean_t) ** 2).mean(0)
    return 2 * cov / (var_p + var_t + (mean_p - mean_t) ** 2 + eps)


def pearson(pred: np.ndarray, true: np.ndarray) -> float | None:
    """Pearson's r of two (N,) arrays; None when either is constant."""
    pred, true = np.asarray(pred, dtype=float), np.asarray(true, dtype=float)
    dp, dt = pred - pred.mean(), true - true.mean()
    norm = np.sqrt((dp ** 2).sum() * (dt ** 2).sum())
    return float((dp * dt).sum() / norm) if norm > 0 else None


def dimension_metrics(true: np.ndarray, pred: np.ndarray, names: Sequence[str]) -> dict:
    """CCC, PCC, MAE and n per dimension of ratings ``true``, ``pred`` (N, D), ``names`` (D,)."""
    true = np.asarray(true, dtype=float).reshape(-1, len(names))
    pred = np.asarray(pred, dtype=float).reshape(-1, len(names))
    if true.shape != pred.shape or not len(true):
        raise ValueError(f"need (N >= 1, {len(names)}) ratings, got {true.shape} and {pred.shape}")
    out = {}
    for d, name in enumerate(names):
        concordance = ccc(pred[:, d], true[:, d])
        out[name] = {"ccc": float(concordance) if np.isfinite(concordance) else None,
                     "pcc": pearson(pred[:, d], true[:, d]),
                     "mae": float(np.abs(pred[:, d] - true[:, d]).mean()), "n": len(true)}
    return out


def summarize_dimensions(per_fold: Sequence[dict], true: np.ndarray, pred: np.ndarray,
                         names: Sequence[str]) -> dict:
    """``{"mean": {dim: {ccc, pcc, mae}}, "std": {...}, "pooled": dimension_metrics(...)}``
    from the folds' :func:`dimension_metrics` and all folds' ratings (N, D) pooled; a std
    is None for one fold, a mean or std None when a fold has no value."""
    mean, std = {}, {}
    for name in names:
        mean[name], std[name] = {}, {}
        for key in DIMENSION_METRICS:
            values = [f[name][key] for f in per_fold]
            if None in values:
                mean[name][key] = std[name][key] = None
                continue
            values = np.array(values, dtype=float)
            mean[name][key] = float(values.mean())
            std[name][key] = float(values.std(ddof=STD_DDOF)) if len(values) > STD_DDOF else None
    return {"names": list(names), "mean": mean, "std": std, "std_ddof": STD_DDOF,
            "pooled": dimension_metrics(true, pred, names)}


def dimension_table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    """The report's table of :func:`summarize_dimensions`: a header and one row per
    dimension (mean ± std over folds, then pooled, three decimals)."""
    header = ["dimension", *(f"{METRIC_TITLES[k]} (folds)" for k in DIMENSION_METRICS),
              *(f"{METRIC_TITLES[k]} (pooled)" for k in DIMENSION_METRICS)]
    rows = []
    for name in summary["names"]:
        mean, std, pooled = summary["mean"][name], summary["std"][name], summary["pooled"][name]
        rows.append([name, *(_number(mean[k]) + ("" if std[k] is None else f" ± {std[k]:.3f}")
                             for k in DIMENSION_METRICS),
                     *(_number(pooled[k]) for k in DIMENSION_METRICS)])
    return header, rows


def _number(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"
