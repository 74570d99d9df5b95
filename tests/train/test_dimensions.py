"""Training with dimensional targets: the recipe's checks, the multi-task loss, fold outputs."""
from __future__ import annotations

import csv
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from sertk.data.splits import make_folds
from sertk.features import FeatureConfig
from sertk.models import create_model, load_checkpoint
from sertk.train.config import ConfigError, TrainConfig
from sertk.train.datamodule import fold_datasets
from sertk.train.fitting import fit
from sertk.train.module import SERModule
from sertk.train.recipe import check_recipe

DIMS = "arousal,valence"


@pytest.fixture(scope="module")
def rated(corpus):
    """The synthetic corpus with arousal following the label and valence varying."""
    utts, feats = corpus
    rng = np.random.default_rng(0)
    arousal = {"ang": 4.0, "hap": 3.5, "neu": 2.5, "sad": 1.5}
    return [replace(u, arousal=arousal[u.label] + float(rng.uniform(-0.3, 0.3)),
                    valence=float(rng.uniform(1, 5))) for u in utts], feats


def test_the_recipe_refuses_dimensions_the_manifest_lacks(corpus, rated):
    config = TrainConfig.of(model="base7", dimensions="arousal,dominance")
    with pytest.raises(ConfigError, match="dimensions 'arousal,dominance': the manifest has no "
                                          "dominance column"):
        check_recipe(config, rated[0])
    with pytest.raises(ConfigError, match="no arousal column"):
        check_recipe(config, corpus[0])
    partly = [replace(u, arousal=None) if i == 3 else u for i, u in enumerate(rated[0])]
    with pytest.raises(ConfigError, match=r"1 utterance\(s\) have no arousal rating"):
        check_recipe(config.replace(dimensions="arousal"), partly)
    for model in ("egemaps-svm", "ssl-linear"):
        with pytest.raises(ConfigError, match=f"{model} has no dimension head"):
            check_recipe(config.replace(model=model, dimensions="arousal"), rated[0])
    for dims in ("arousal", ""):  # a head without names and scaling could not be saved
        with pytest.raises(ConfigError, match="model_args.n_dims is set by the dimensions key"):
            check_recipe(config.replace(dimensions=dims, model_args={"n_dims": 1}), rated[0])
    assert check_recipe(config.replace(dimensions="valence,arousal"), rated[0])


def test_targets_are_standardised_with_the_training_part_only(rated):
    utts, feats = rated
    fold = make_folds(utts, "lospk")[0]
    data = fold_datasets(feats, utts, fold, ["ang", "hap", "neu", "sad"],
                         FeatureConfig(max_seconds=1.0, padding="batch"),
                         dimensions=("valence", "arousal"))
    by_id = {u.id: u for u in utts}
    train = np.array([[by_id[i].valence, by_id[i].arousal] for i in fold.train_ids])
    np.testing.assert_allclose(data.dimensions.mean, train.mean(0))
    np.testing.assert_allclose(data.train.ratings.numpy(), (train - train.mean(0)) / train.std(0),
                               rtol=1e-5, atol=1e-5)
    test = np.array([[by_id[i].valence, by_id[i].arousal] for i in fold.test_ids])
    np.testing.assert_allclose(data.dimensions.unscale(data.test.ratings.numpy()), test,
                               rtol=1e-5)
    batch = data.train.collate([data.train[i] for i in (2, 0)])
    torch.testing.assert_close(batch.ratings, data.train.ratings[[2, 0]])


@pytest.mark.parametrize("kind", ["ccc", "mse"])
def test_the_multi_task_loss_adds_the_weighted_dimension_loss(kind):
    config = TrainConfig.of(model="base7", dimensions=DIMS, dimension_loss=kind,
                         dimension_weight=0.5)
    model = create_model("base7", 4, hidden=8, n_dims=2)
    module = SERModule(model, config, norm_std=np.ones(40), pad_value=torch.zeros(40),
                       max_frames=100, class_counts=np.ones(4))
    targets = torch.tensor([[0.5, -1.0], [1.5, 0.0], [-1.0, 2.0]])
    assert module.dimension_loss(targets, targets).item() == pytest.approx(0.0, abs=1e-6)
    worse = module.dimension_loss(torch.zeros(3, 2) + targets.mean(0), targets).item()
    assert worse == pytest.approx(2.0 if kind == "ccc" else float(targets.var(0, False).sum()))
    x = torch.randn(3, 40, 20)
    logits, ratings = module.outputs(x, torch.tensor([20, 20, 20]))
    assert ratings.shape == (3, 2)
    loss = module.loss(logits, torch.tensor([0, 1, 2])) + 0.5 * module.dimension_loss(
        ratings, targets)
    loss.backward()
    assert model.dimension_head.weight.grad.abs().sum() > 0


def test_fit_saves_the_scaling_and_writes_rated_predictions(tmp_path, rated):
    utts, feats = rated
    config = TrainConfig.of(model="base7", model_args={"hidden": 8}, protocol="lospk",
                         max_epochs=2, batch_size=8, lr=0.01, padding="batch", max_seconds=1.0,
                         progress_bar=False, cache_dir=str(tmp_path / "cache"), num_threads=1,
                         dimensions="valence,arousal")
    result = fit(config, utts, 0, out_dir=tmp_path / "run", features=feats)
    checkpoint = load_checkpoint(result.checkpoint)
    assert checkpoint.dimensions.names == ("valence", "arousal")
    assert "calibration" in checkpoint.metadata  # re-saved by calibration, scaling kept
    metrics = json.loads((result.directory / "metrics.json").read_text())
    assert set(metrics["dimensions"]) == {"valence", "arousal"}
    assert {"ccc", "pcc", "mae", "n"} <= set(metrics["dimensions"]["arousal"])
    with open(result.directory / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    by_id = {u.id: u for u in utts}
    for row in rows:
        assert float(row["true_arousal"]) == pytest.approx(by_id[row["id"]].arousal, rel=1e-5)
        assert np.isfinite(float(row["pred_valence"]))
    history = (result.directory / "history.csv").read_text().splitlines()[0]
    assert "val_ccc" in history
    assert metrics["info"]["best_epoch"] is not None  # selection on validation UA as before


def test_config_keys_are_checked_and_normalised():
    from sertk.train.config import resolve_config

    config = resolve_config(None, ["dimensions= valence , arousal", "dimension_loss=mse",
                                   "dimension_weight=0.3"])
    assert config.dimensions.names == ("valence", "arousal")
    assert TrainConfig().dimensions.names == () and TrainConfig().dimensions.loss == "ccc"
    for bad, reason in [("dimensions=joy", "dimensions must be distinct names"),
                        ("dimensions=arousal,arousal", "dimensions must be distinct names"),
                        ("dimension_loss=l1", "dimension_loss must be one of ccc, mse"),
                        ("dimension_weight=0", "dimension_weight must be > 0")]:
        with pytest.raises(ConfigError, match=reason):
            resolve_config(None, [bad])


def test_fine_tuning_a_categorical_checkpoint_adds_a_new_dimension_head(tmp_path, rated):
    utts, feats = rated
    base = TrainConfig.of(model="base7", model_args={"hidden": 8}, protocol="lospk",
                       max_epochs=1, batch_size=8, lr=0.01, padding="batch", max_seconds=1.0,
                       progress_bar=False, cache_dir=str(tmp_path / "cache"), num_threads=1)
    first = fit(base, utts, 0, out_dir=tmp_path / "plain", features=feats)
    tuned = fit(base.replace(init_from=str(first.checkpoint), dimensions="arousal"), utts, 0,
                out_dir=tmp_path / "tuned", features=feats)
    assert load_checkpoint(tuned.checkpoint).dimensions.names == ("arousal",)
