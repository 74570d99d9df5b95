"""Temperature scaling (Guo et al. 2017): one number that makes probabilities honest.

A network trained with cross-entropy is usually over-confident: its top probability is
higher than its accuracy. Dividing the logits by a temperature ``T > 1`` softens them
(``T < 1`` sharpens them) without changing which label is on top, so accuracy, UA and the
confusion matrix stay the same while the probabilities get closer to how often the model
is right.

At the end of training :func:`calibrate_checkpoint` takes the best-validation checkpoint,
computes its logits on the fold's *validation* part (never the test part), fits ``T`` by
minimising the validation negative log-likelihood, and saves ``T`` in the checkpoint's
``config.json`` (``temperature``; :mod:`sertk.models.checkpoint`). Prediction
(:class:`sertk.infer.Predictor`) and export (the exported graph divides by ``T``) use it.

The fit is a bounded 1-D search: the NLL of ``softmax(z / T)`` is convex in ``1 / T``, so it
has one minimum along ``log T``; golden-section search over ``log T`` in
:data:`~sertk.models.checkpoint.TEMPERATURE_RANGE` finds it in float64, deterministically.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from sertk.models.checkpoint import TEMPERATURE_RANGE, load_checkpoint, save_checkpoint
from sertk.padding import Padding

GOLDEN_STEPS = 100  # the bracket shrinks by 0.618 per step: far below float precision


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``targets`` (N,) under ``softmax(logits / T)``
    (logits (N, C)), in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(z)), np.asarray(targets)].mean())


def fit_temperature(logits, targets, bounds: tuple[float, float] = TEMPERATURE_RANGE) -> float:
    """The temperature in ``bounds`` (default :data:`TEMPERATURE_RANGE`) minimising
    :func:`nll` on ``logits`` (N, C) and class indices ``targets`` (N,); 1.0 when N = 0.

    Raises:
        ValueError: mismatched shapes, a target out of range or non-finite logits.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, C) and targets (N,); got {logits.shape} and "
                         f"{targets.shape}")
    if not len(targets):
        return 1.0
    if not np.isfinite(logits).all():
        raise ValueError("logits hold NaN or infinity")
    if targets.min() < 0 or targets.max() >= logits.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {logits.shape[1]})")
    low, high = (math.log(x) for x in bounds)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low + (1 - ratio) * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, targets, math.exp(a)), nll(logits, targets, math.exp(b))
    for _ in range(GOLDEN_STEPS):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = low + (1 - ratio) * (high - low)
            fa = nll(logits, targets, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, targets, math.exp(b))
    best = math.exp((low + high) / 2)
    # the range's ends are candidates too (the search never evaluates them exactly)
    candidates = [*bounds, 1.0, best]  # ties: a range end, or no change
    scores = [nll(logits, targets, t) for t in candidates]
    return float(min(bounds[1], max(bounds[0], candidates[int(np.argmin(scores))])))


@torch.inference_mode()
def predict_logits(model: torch.nn.Module, dataset, batch_size: int, *,
                   padding: Padding) -> np.ndarray:
    """Logits (N, C) float32 of every item of ``dataset`` (a
    :class:`~sertk.data.dataset.FeatureDataset`), in order (eval mode)."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=dataset.collate)
    out = [model(batch.features, padding.model_lengths(batch.lengths)).float()
           for batch in loader]
    return torch.cat(out).numpy() if out else np.zeros((0, 0), np.float32)


@torch.inference_mode()
def predict_ratings(model: torch.nn.Module, dataset, batch_size: int, *,
                    padding: Padding) -> np.ndarray:
    """The dimension head's outputs (N, D) float32 (standardised scale) of every item of
    ``dataset``, in order (eval mode); ``model`` must have a dimension head."""
    model.eval()
    loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=False,
                                         collate_fn=dataset.collate)
    out = [model.forward_outputs(batch.features, padding.model_lengths(batch.lengths))[1]
           .float() for batch in loader]
    return torch.cat(out).numpy()


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """``softmax(logits / temperature)`` over the last axis, computed as the predictor does
    (float32 torch), so run files and predictions agree."""
    z = torch.as_tensor(np.asarray(logits, dtype=np.float32))
    if temperature != 1.0:
        z = z / temperature
    return torch.softmax(z, dim=-1).numpy()


def calibrate_checkpoint(directory: str | Path, validation, batch_size: int, *,
                         padding: Padding) -> dict:
    """Fit the temperature of the checkpoint in ``directory`` on ``validation`` (a
    FeatureDataset with targets) and save it into the checkpoint (weights unchanged).

    Returns ``{"temperature", "val_nll_before", "val_nll_after", "n_val"}``.
    """
    checkpoint = load_checkpoint(directory)
    logits = predict_logits(checkpoint.model, validation, batch_size, padding=padding)
    targets = np.asarray(validation.targets)
    temperature = fit_temperature(logits, targets)
    facts = {"temperature": temperature, "val_nll_before": nll(logits, targets),
             "val_nll_after": nll(logits, targets, temperature), "n_val": int(len(targets))}
    save_checkpoint(directory, checkpoint.model, model_name=checkpoint.model_name,
                    labels=checkpoint.labels, feature_config=checkpoint.feature_config,
                    norm_mean=checkpoint.norm_mean, norm_std=checkpoint.norm_std,
                    metadata={**checkpoint.metadata, "calibration": facts},
                    temperature=temperature, dimensions=checkpoint.dimensions)
    return facts
