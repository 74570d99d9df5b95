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

The fit itself (:func:`sertk.eval.calibration.fit_temperature`) searches
:data:`~sertk.models.checkpoint.TEMPERATURE_RANGE`.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sertk.eval.calibration import fit_temperature, nll
from sertk.models.checkpoint import TEMPERATURE_RANGE, load_checkpoint, save_checkpoint
from sertk.padding import Padding

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
    temperature = fit_temperature(logits, targets, TEMPERATURE_RANGE)
    facts = {"temperature": temperature, "val_nll_before": nll(logits, targets),
             "val_nll_after": nll(logits, targets, temperature), "n_val": int(len(targets))}
    save_checkpoint(directory, checkpoint.model, model_name=checkpoint.model_name,
                    labels=checkpoint.labels, feature_config=checkpoint.feature_config,
                    norm_mean=checkpoint.norm_mean, norm_std=checkpoint.norm_std,
                    metadata={**checkpoint.metadata, "calibration": facts},
                    temperature=temperature, dimensions=checkpoint.dimensions)
    return facts
