"""Temperature fitting, and ECE and reliability bins against an independent computation."""
from __future__ import annotations

import numpy as np
import pytest

from sertk.eval.calibration import (Bins, calibration_lines, fit_temperature, fold_calibration,
                                    nll, reliability_bins, run_calibration)
from sertk.models.checkpoint import TEMPERATURE_RANGE
from sertk.train.calibration import softmax


def _reference_ece(probs, targets, n_bins=15):
    """A plain loop over bins (lo, hi], as in Guo et al. 2017."""
    conf = probs.max(1)
    acc = (probs.argmax(1) == targets).astype(float)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf > lo) & (conf <= hi) if b else (conf >= lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(conf[inside].mean() - acc[inside].mean())
    return total


def test_ece_matches_an_independent_computation():
    rng = np.random.default_rng(3)
    logits = rng.normal(0, 2, (500, 5))
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    targets = rng.integers(0, 5, 500)
    assert reliability_bins(probs, targets).ece == pytest.approx(
        _reference_ece(probs, targets), abs=1e-12)
    assert reliability_bins(probs, targets, 7).ece == pytest.approx(
        _reference_ece(probs, targets, 7), abs=1e-12)


def test_ece_on_fixed_data():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.5, 0.5]])
    targets = np.array([0, 1, 1, 0])
    # bins of 1/15: 0.9 -> bin 13 (right), 0.6 -> bin 8 (wrong), 0.8 -> bin 11 (right),
    # 0.5 -> bin 7 (right)
    expected = (abs(0.9 - 1) + abs(0.6 - 0) + abs(0.8 - 1) + abs(0.5 - 1)) / 4
    assert reliability_bins(probs, targets).ece == pytest.approx(expected)
    bins = reliability_bins(probs, targets)
    assert bins.count[13] == bins.count[8] == bins.count[11] == bins.count[7] == 1


def test_fold_bins_add_up_to_the_pooled_ece():
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(4) * 0.3, 300)
    targets = rng.integers(0, 4, 300)
    parts = [reliability_bins(probs[:100], targets[:100]), reliability_bins(probs[100:], targets[100:])]
    assert (parts[0] + parts[1]).ece == pytest.approx(reliability_bins(probs, targets).ece)
    assert Bins.from_dict(parts[0].to_dict()) == parts[0]


def test_run_calibration_pools_folds_and_renders():
    rng = np.random.default_rng(1)
    folds = []
    for k in range(2):
        probs = rng.dirichlet(np.ones(3) * 0.2, 50)
        softer = (probs + 0.2) / (probs + 0.2).sum(1, keepdims=True)
        folds.append({"name": f"f{k}", "info": {"calibration": fold_calibration(
            probs, softer, rng.integers(0, 3, 50), 1.7)}})
    folds.append({"name": "old", "info": {}})  # trained before calibration: left out
    summary = run_calibration(folds)
    assert [r["name"] for r in summary["folds"]] == ["f0", "f1"]
    assert summary["pooled"]["ece_before"] == pytest.approx(np.mean(
        [r["ece_before"] for r in summary["folds"]]))  # equal-sized folds
    text = "\n".join(calibration_lines(summary))
    assert "| f1 | 1.700 |" in text and "| pooled |" in text
    assert run_calibration([{"name": "x", "info": {}}]) is None


def _overconfident(n=400, classes=4, seed=0):
    """Logits of a model right 60 % of the time but ~99 % sure of every answer."""
    rng = np.random.default_rng(seed)
    targets = rng.integers(0, classes, n)
    top = np.where(rng.random(n) < 0.6, targets, (targets + 1) % classes)
    logits = rng.normal(0, 0.5, (n, classes))
    logits[np.arange(n), top] += 8.0
    return logits, targets


def test_fit_lowers_nll_of_an_overconfident_model():
    logits, targets = _overconfident()
    temperature = fit_temperature(logits, targets, TEMPERATURE_RANGE)
    assert temperature > 2  # softened
    assert nll(logits, targets, temperature) < nll(logits, targets) - 0.5
    # it is the minimum: neighbours are no better
    for t in (temperature * 0.9, temperature * 1.1):
        assert nll(logits, targets, t) >= nll(logits, targets, temperature)
    # the argmax (so accuracy and UA) does not move
    assert (softmax(logits, temperature).argmax(1) == logits.argmax(1)).all()


def test_fit_sharpens_an_underconfident_model_and_stays_in_range():
    logits, targets = _overconfident()
    assert fit_temperature(logits / 40, targets, TEMPERATURE_RANGE) < 1
    perfect = np.eye(3)[[0, 1, 2, 0]] * 5.0
    assert fit_temperature(perfect, [0, 1, 2, 0], TEMPERATURE_RANGE) == TEMPERATURE_RANGE[0]  # bounded
    assert fit_temperature(np.zeros((0, 3)), np.zeros(0, int), TEMPERATURE_RANGE) == 1.0
    with pytest.raises(ValueError, match="NaN"):
        fit_temperature([[np.nan, 0.0]], [0], TEMPERATURE_RANGE)
    with pytest.raises(ValueError, match="class indices"):
        fit_temperature([[1.0, 0.0]], [2], TEMPERATURE_RANGE)
