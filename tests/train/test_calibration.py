"""Temperature scaling: its place in training and its round trip through a checkpoint."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.models import CheckpointError, SERNet, SERNetConfig, load_checkpoint, save_checkpoint
from sertk.features import FeatureConfig
from sertk.train.fitting import CHECKPOINT_DIR, RESULT_FILE, fit


def _save(path, temperature=1.0):
    model = SERNet(SERNetConfig(n_classes=2, hidden=8, n_blstm=1, transformer="none"))
    return save_checkpoint(path, model, model_name="proposed", labels=["a", "b"],
                           feature_config=FeatureConfig(), norm_mean=np.zeros(40),
                           norm_std=np.ones(40), temperature=temperature)


def test_temperature_round_trips_bit_exactly(tmp_path):
    value = 1.2345678901234567
    assert load_checkpoint(_save(tmp_path / "c", value)).temperature == value
    assert load_checkpoint(_save(tmp_path / "d")).temperature == 1.0


def test_old_checkpoints_without_temperature_load_as_one(tmp_path):
    path = _save(tmp_path / "c", 2.0)
    config = json.loads((path / "config.json").read_text())
    del config["temperature"]
    (path / "config.json").write_text(json.dumps(config))
    assert load_checkpoint(path).temperature == 1.0


@pytest.mark.parametrize("bad", [0.0, -1.0, 1e9, "2", True, None, [1.0]])
def test_bad_temperatures_are_refused_on_load(tmp_path, bad):
    path = _save(tmp_path / "c")
    config = json.loads((path / "config.json").read_text())
    config["temperature"] = bad
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match="temperature must be a finite number"):
        load_checkpoint(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0.0])
def test_bad_temperatures_are_refused_on_save(tmp_path, bad):
    with pytest.raises(CheckpointError, match="temperature"):
        _save(tmp_path / "c", bad)
    assert not (tmp_path / "c").exists()


def test_training_fits_the_temperature_on_validation_and_reports_test_ece(tiny, corpus,
                                                                           tmp_path):
    utts, feats = corpus
    result = fit(tiny.replace(max_epochs=3), utts, 0, out_dir=tmp_path / "run", features=feats)
    checkpoint = load_checkpoint(result.checkpoint)
    facts = json.loads((result.directory / RESULT_FILE).read_text())["calibration"]
    assert checkpoint.temperature == facts["temperature"]
    assert facts["val_nll_after"] <= facts["val_nll_before"]
    assert facts["n_val"] == len(result.fold.val_ids)
    test = result.metrics["info"]["calibration"]
    assert test["temperature"] == checkpoint.temperature
    assert 0 <= test["ece_before"] <= 1 and 0 <= test["ece_after"] <= 1
    assert sum(test["bins_after"]["count"]) == len(result.fold.test_ids)
    # the test predictions are the calibrated probabilities
    rows = (result.directory / "predictions.csv").read_text().splitlines()[1:]
    top = max(float(x) for x in rows[0].split(",")[4:])
    assert top <= 1.0 and (result.directory / CHECKPOINT_DIR).is_dir()
