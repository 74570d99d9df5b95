"""Tests for dimensional models: SERNet's dimension head, DimensionScaling and checkpoints."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from sertk.features import FeatureConfig
from sertk.models import CheckpointError, create_model, load_checkpoint, save_checkpoint
from sertk.models.dimensions import DimensionScaling

TINY = {"hidden": 8, "n_heads": 2, "blstm_ffn_dim": 8, "transformer_ffn_dim": 8}


def _save(path, n_dims=2, dimensions=None):
    model = create_model("proposed", 2, n_dims=n_dims, **TINY)
    return model, save_checkpoint(path, model, model_name="proposed", labels=["a", "b"],
                                  feature_config=FeatureConfig(), norm_mean=np.zeros(40),
                                  norm_std=np.ones(40), dimensions=dimensions)


def test_dimension_head_shares_the_embedding_and_is_counted():
    model = create_model("proposed", 3, n_dims=2, **TINY).eval()
    x, lengths = torch.randn(2, 40, 30), torch.tensor([30, 17])
    logits, dims = model.forward_outputs(x, lengths)
    assert logits.shape == (2, 3) and dims.shape == (2, 2)
    torch.testing.assert_close(logits, model(x, lengths))
    assert model.config.parameter_count() == sum(p.numel() for p in model.parameters())
    plain = create_model("proposed", 3, **TINY)
    assert plain.dimension_head is None and "n_dims" not in plain.config.to_dict()
    assert plain.forward_outputs(x, lengths)[1] is None


def test_scaling_standardises_and_inverts():
    values = np.array([[1.0, 2.0], [3.0, 2.0], [5.0, 2.0]])
    scaling = DimensionScaling.fit(["arousal", "valence"], values)
    z = scaling.scale(values)
    np.testing.assert_allclose(z[:, 0].mean(), 0, atol=1e-6)
    np.testing.assert_allclose(z[:, 0].std(), 1, atol=1e-6)
    assert scaling.std[1] == 1.0  # constant ratings: no division by zero
    np.testing.assert_allclose(scaling.unscale(z), values, atol=1e-5)


@pytest.mark.parametrize("bad", [
    {"names": ["joy"], "mean": [0.0], "std": [1.0]},
    {"names": ["arousal", "arousal"], "mean": [0, 0], "std": [1, 1]},
    {"names": ["arousal"], "mean": [0.0, 1.0], "std": [1.0]},
    {"names": ["arousal"], "mean": [0.0], "std": [0.0]},
    {"names": ["arousal"], "mean": ["x"], "std": [1.0]},
    {"names": ["arousal"], "mean": [0.0]},
])
def test_scaling_refuses_bad_values(bad):
    with pytest.raises(ValueError):
        DimensionScaling.from_dict(bad)


def test_checkpoint_round_trips_dimensions(tmp_path):
    scaling = DimensionScaling(("valence", "arousal"), (3.0, 2.5), (0.5, 1.25))
    model, path = _save(tmp_path / "ck", dimensions=scaling)
    loaded = load_checkpoint(path)
    assert loaded.dimensions == scaling
    x = torch.randn(1, 40, 20)
    torch.testing.assert_close(loaded.model.forward_outputs(x)[1],
                               model.eval().forward_outputs(x)[1])


def test_checkpoint_without_dimensions_has_no_key(tmp_path):
    _, path = _save(tmp_path / "ck", n_dims=0)
    config = json.loads((path / "config.json").read_text())
    assert "dimensions" not in config and "n_dims" not in config["model_config"]
    assert load_checkpoint(path).dimensions is None


def test_save_refuses_a_head_without_names(tmp_path):
    with pytest.raises(CheckpointError, match="2 dimension output"):
        _save(tmp_path / "ck", dimensions=None)


@pytest.mark.parametrize("edit", ["drop", "too_few", "bad_std", "no_head"])
def test_load_refuses_tampered_dimensions(tmp_path, edit):
    scaling = DimensionScaling(("valence", "arousal"), (3.0, 2.5), (0.5, 1.25))
    _, path = _save(tmp_path / "ck", dimensions=scaling)
    config = json.loads((path / "config.json").read_text())
    if edit == "drop":
        del config["dimensions"]
    elif edit == "too_few":
        config["dimensions"] = {"names": ["valence"], "mean": [3.0], "std": [0.5]}
    elif edit == "bad_std":
        config["dimensions"]["std"] = [0.5, -1.0]
    else:
        del config["model_config"]["n_dims"]
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and "\n" not in str(err.value)
