"""Linear classifiers: C chosen on validation, exact save/load, hostile files refused."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.classical.linear import (LinearConfig, fit_linear, load_linear, normalise_by_group,
                                    standardiser)

LABELS = ["a", "b", "c"]


def blobs(n: int, seed: int, spread: float = 1.0):
    """Three Gaussian classes in 6-d, with features on very different scales."""
    rng = np.random.default_rng(seed)
    y = np.array(LABELS)[rng.integers(0, 3, n)]
    centres = {"a": [2, 0, 0, 0, 0, 0], "b": [0, 2, 0, 0, 0, 0], "c": [0, 0, 2, 0, 0, 0]}
    x = np.array([centres[c] for c in y]) + spread * rng.standard_normal((n, 6))
    return x * np.array([1, 100, 0.01, 1, 1, 1]), list(y)


def test_learns_and_chooses_c_on_the_validation_part():
    x, y = blobs(300, 0)
    xv, yv = blobs(100, 1)
    model = fit_linear(x, y, LABELS, x_val=xv, y_val=yv)
    assert model.c in LinearConfig().c_grid
    assert 0.8 < model.metadata["val_ua"] <= 1.0
    xt, yt = blobs(200, 2)
    assert np.mean(np.array(model.predict(xt)) == np.array(yt)) > 0.8
    # the chosen C is the best of the grid on validation, not on anything else
    uas = [np.mean([p == t for p, t in zip(
        fit_linear(x, y, LABELS, LinearConfig(c_grid=(c,)), x_val=xv, y_val=yv).predict(xv), yv)])
        for c in LinearConfig().c_grid]
    assert len(set(uas)) > 1  # the grid matters on this data


def test_the_temperature_fitted_on_validation_lowers_its_log_loss_not_its_labels(tmp_path):
    from sertk.eval.calibration import nll

    x, y = blobs(300, 0)
    xv, yv = blobs(100, 1)
    model = fit_linear(x, y, LABELS, LinearConfig(c_grid=(1e-4,)), x_val=xv, y_val=yv)
    targets = [LABELS.index(t) for t in yv]
    scores = model.scores(xv)
    # tiny C gives tiny margins: near-uniform probabilities until they are sharpened
    assert model.temperature < 1.0
    assert nll(scores, targets, model.temperature) < nll(scores, targets, 1.0)
    for t in (model.temperature * 0.7, model.temperature * 1.4):  # a minimum, not a bound
        assert nll(scores, targets, model.temperature) <= nll(scores, targets, t)
    sharp = model.probabilities(xv)
    assert sharp.max(axis=1).mean() > 0.5
    assert (sharp.argmax(axis=1) == scores.argmax(axis=1)).all()
    assert load_linear(model.save(tmp_path / "m")).temperature == model.temperature


def test_without_validation_the_default_c_is_used():
    x, y = blobs(100, 0)
    model = fit_linear(x, y, LABELS, LinearConfig(default_c=0.5))
    assert model.c == 0.5 and "val_ua" not in model.metadata


@pytest.mark.parametrize("classifier", ["svm", "logreg"])
def test_save_load_gives_the_same_probabilities(tmp_path, classifier):
    x, y = blobs(120, 3)
    model = fit_linear(x, y, LABELS, LinearConfig(classifier=classifier))
    loaded = load_linear(model.save(tmp_path / "ckpt"))
    np.testing.assert_array_equal(loaded.probabilities(x), model.probabilities(x))
    assert loaded.labels == LABELS and loaded.config == model.config


def test_binary_logreg_probabilities_equal_sklearn():
    from sklearn.linear_model import LogisticRegression

    x, y = blobs(200, 4)
    y2 = ["a" if c == "a" else "b" for c in y]
    model = fit_linear(x, y2, ["a", "b"], LinearConfig(classifier="logreg", default_c=1.0,
                                                       class_weight=None))
    mean, std = standardiser(x)
    reference = LogisticRegression(C=1.0, max_iter=10000).fit((x - mean) / std, y2)
    np.testing.assert_allclose(model.probabilities(x), reference.predict_proba((x - mean) / std),
                               atol=1e-6)


def test_a_label_missing_from_training_is_never_predicted():
    x, y = blobs(150, 5)
    keep = [i for i, c in enumerate(y) if c != "c"]
    model = fit_linear(x[keep], [y[i] for i in keep], LABELS)
    assert "c" not in model.predict(x)
    assert np.allclose(model.probabilities(x)[:, 2], 0.0)


def test_normalise_by_group_standardises_each_group():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3)) + np.repeat([[0, 0, 0], [50, -5, 3]], 20, axis=0)
    z = normalise_by_group(x, ["s1"] * 20 + ["s2"] * 20)
    for rows in (slice(0, 20), slice(20, 40)):
        np.testing.assert_allclose(z[rows].mean(axis=0), 0, atol=1e-9)
        np.testing.assert_allclose(z[rows].std(axis=0), 1, atol=1e-9)


@pytest.mark.parametrize("options", [dict(classifier="forest"), dict(normalisation="utterance"),
                                     dict(c_grid=()), dict(c_grid=(0.0,)),
                                     dict(default_c=float("nan")), dict(class_weight="x")])
def test_bad_options_are_refused(options):
    with pytest.raises(ValueError):
        LinearConfig(**options)


def _tamper(directory, change):
    path = directory / "config.json"
    raw = json.loads(path.read_text())
    change(raw)
    path.write_text(json.dumps(raw) if isinstance(raw, dict) else raw)


@pytest.mark.parametrize("change", [
    lambda r: r.update(format="other"),
    lambda r: r.update(labels=[]),
    lambda r: r.update(labels=["a", "a", "b"]),
    lambda r: r.update(labels=["a", "b"]),  # fewer labels than weight rows
    lambda r: r.pop("c"),
    lambda r: r["config"].update(classifier="forest"),
    lambda r: r["config"].update(c_grid=[-1]),
    lambda r: r.update(temperature=0),
    lambda r: r.update(temperature=1e9),
    lambda r: r.update(temperature="hot"),
])
def test_hostile_or_inconsistent_config_is_refused_naming_the_directory(tmp_path, change):
    x, y = blobs(60, 6)
    directory = fit_linear(x, y, LABELS).save(tmp_path / "ckpt")
    _tamper(directory, change)
    with pytest.raises(ValueError, match="ckpt"):
        load_linear(directory)


def test_nan_literals_and_deep_nesting_are_refused(tmp_path):
    x, y = blobs(60, 6)
    directory = fit_linear(x, y, LABELS).save(tmp_path / "ckpt")
    text = (directory / "config.json").read_text()
    (directory / "config.json").write_text(text.replace('"c": ', '"c": NaN, "x": ', 1))
    with pytest.raises(ValueError, match="NaN"):
        load_linear(directory)
    (directory / "config.json").write_text("[" * 200_000 + "]" * 200_000)
    with pytest.raises(ValueError, match="ckpt"):
        load_linear(directory)


def test_a_config_claiming_gigabytes_is_refused_before_it_is_read(tmp_path, monkeypatch):
    from sertk.classical import linear
    from sertk.infer.linear import is_linear_model

    x, y = blobs(60, 6)
    directory = fit_linear(x, y, LABELS).save(tmp_path / "ckpt")
    with open(directory / "config.json", "r+b") as fh:
        fh.truncate(4 << 30)  # 4 GiB, sparse: nothing is written
    monkeypatch.setattr(linear, "read_text", lambda *a: pytest.fail("read a 4 GiB config"))
    with pytest.raises(ValueError, match="ckpt.*implausibly large"):
        load_linear(directory)
    assert not is_linear_model(directory)


def test_weights_with_wrong_shapes_are_refused(tmp_path):
    from safetensors.numpy import save_file

    x, y = blobs(60, 6)
    directory = fit_linear(x, y, LABELS).save(tmp_path / "ckpt")
    save_file({"mean": np.zeros(6), "std": np.ones(6), "weight": np.zeros((3, 5)),
               "bias": np.zeros(3)}, str(directory / "weights.safetensors"))
    with pytest.raises(ValueError, match="shapes"):
        load_linear(directory)
