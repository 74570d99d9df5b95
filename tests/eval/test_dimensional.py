"""Tests for sertk.eval.dimensional against independent formulas (numpy, scipy)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch

from sertk.eval.dimensional import ccc, dimension_metrics, pearson, summarize_dimensions

TRUE = np.array([2.5, 3.0, 1.5, 4.0, 3.5, 2.0, 4.5, 1.0])
PRED = np.array([2.8, 2.9, 2.0, 3.6, 3.9, 2.6, 3.8, 1.9])


def lin_ccc(x, y):
    """Lin (1989) from the correlation: 2 r sx sy / (sx^2 + sy^2 + (mx - my)^2), 1/N moments."""
    r = np.corrcoef(x, y)[0, 1]
    sx, sy = np.std(x), np.std(y)
    return 2 * r * sx * sy / (sx ** 2 + sy ** 2 + (np.mean(x) - np.mean(y)) ** 2)


def test_ccc_matches_an_independent_numpy_formula():
    assert ccc(PRED, TRUE) == pytest.approx(lin_ccc(PRED, TRUE), abs=1e-12)
    assert ccc(PRED, TRUE) == pytest.approx(0.844459, abs=1e-6)  # plain-Python loop, once
    assert ccc(TRUE, TRUE) == pytest.approx(1.0)
    shifted = ccc(TRUE + 1.0, TRUE)  # perfect correlation, wrong offset: below 1
    assert pearson(TRUE + 1.0, TRUE) == pytest.approx(1.0) and shifted < 0.8


def test_ccc_on_columns_and_on_torch_tensors_agrees():
    pair = np.stack([PRED, PRED[::-1]], axis=1), np.stack([TRUE, TRUE], axis=1)
    columns = ccc(*pair)
    assert columns.shape == (2,)
    assert columns[1] == pytest.approx(lin_ccc(PRED[::-1], TRUE), abs=1e-12)
    tensor = ccc(*(torch.tensor(a, requires_grad=True) for a in pair))
    np.testing.assert_allclose(tensor.detach().numpy(), columns, atol=1e-12)
    (1 - tensor).sum().backward()  # differentiable: the training loss


def test_pearson_matches_scipy_and_constant_input_has_none():
    assert pearson(PRED, TRUE) == pytest.approx(scipy.stats.pearsonr(PRED, TRUE)[0], abs=1e-12)
    assert pearson(np.full(4, 3.0), TRUE[:4]) is None


def test_dimension_metrics_and_summary():
    true = np.stack([TRUE, TRUE[::-1]], axis=1)
    pred = np.stack([PRED, PRED], axis=1)
    m = dimension_metrics(true, pred, ["arousal", "valence"])
    assert m["arousal"]["mae"] == pytest.approx(np.abs(PRED - TRUE).mean())
    assert m["valence"]["ccc"] == pytest.approx(lin_ccc(PRED, TRUE[::-1]))
    folds = [dimension_metrics(true[:4], pred[:4], ["arousal", "valence"]),
             dimension_metrics(true[4:], pred[4:], ["arousal", "valence"])]
    s = summarize_dimensions(folds, true, pred, ["arousal", "valence"])
    both = [folds[0]["arousal"]["ccc"], folds[1]["arousal"]["ccc"]]
    assert s["mean"]["arousal"]["ccc"] == pytest.approx(np.mean(both))
    assert s["std"]["arousal"]["ccc"] == pytest.approx(np.std(both, ddof=1))
    assert s["pooled"] == m
    with pytest.raises(ValueError):
        dimension_metrics(true, pred[:3], ["arousal", "valence"])
