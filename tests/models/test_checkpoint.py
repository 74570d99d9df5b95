import hashlib
import io
import json
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import safetensors.torch
import torch

import sertk.models.checkpoint as checkpoint_module
from sertk.features import FeatureConfig
from sertk.models import (CheckpointError, create_model, list_models, load_checkpoint,
                          load_network, save_checkpoint)

LABELS = ["neutral", "happy", "angry", "sad"]


def _save(path: Path, model, name="proposed", **kwargs) -> Path:
    args = dict(model_name=name, labels=LABELS, feature_config=FeatureConfig(padding="batch"),
                norm_mean=np.linspace(-3, 3, 40), norm_std=np.linspace(1, 2, 40),
                metadata={"fold": 2, "val_ua": 0.61})
    args.update(kwargs)
    return save_checkpoint(path, model, **args)


def _outputs(model) -> torch.Tensor:
    generator = torch.Generator().manual_seed(123)
    x = torch.randn(2, 40, 13, generator=generator)
    with torch.no_grad():
        return model.eval()(x, torch.tensor([13, 9]))


def _trained_like(name="proposed", seed=0):
    """A model with non-default weights and batch-norm statistics."""
    torch.manual_seed(seed)
    model = create_model(name, n_classes=4)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.05 * torch.randn_like(param))
        model.train()(torch.randn(3, 40, 20))
    return model.eval()


def _weights_file(path: Path) -> Path:
    (weights,) = path.glob("weights-*.safetensors")
    return weights


def _edit_config(path: Path, **changes):
    config = json.loads((path / "config.json").read_text())
    config.update(changes)
    (path / "config.json").write_text(json.dumps(config))


def _replace_weights(path: Path, data: bytes):
    """Put ``data`` in place of the weights with a matching name and sha256, so that
    only the content check can refuse it."""
    _weights_file(path).unlink()
    digest = hashlib.sha256(data).hexdigest()
    name = f"weights-{digest[:12]}.safetensors"
    (path / name).write_bytes(data)
    _edit_config(path, weights=name, weights_sha256=digest)


@pytest.mark.parametrize("name", list_models())
def test_round_trip_gives_identical_outputs(tmp_path, name):
    model = _trained_like(name)
    path = _save(tmp_path / "ckpt", model, name=name)
    loaded = load_checkpoint(path)
    assert torch.equal(_outputs(loaded.model), _outputs(model))
    assert not loaded.model.training
    assert loaded.model_name == name and loaded.model_config == model.config


def test_checkpoint_holds_everything_inference_needs(tmp_path):
    path = _save(tmp_path / "ckpt", _trained_like())
    ckpt = load_checkpoint(path)
    assert ckpt.labels == LABELS
    assert ckpt.feature_config == FeatureConfig(padding="batch")
    assert ckpt.norm_mean.dtype == np.float32 and ckpt.norm_mean.shape == (40,)
    assert np.allclose(ckpt.norm_std, np.linspace(1, 2, 40))
    assert ckpt.metadata == {"fold": 2, "val_ua": 0.61}
    assert ckpt.path == path
    config = json.loads((path / "config.json").read_text())
    assert config["format"] == "sertk-checkpoint" and config["version"] == 1
    weights = _weights_file(path)
    assert config["weights"] == weights.name
    assert config["weights_sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert weights.name == f"weights-{config['weights_sha256'][:12]}.safetensors"
    assert isinstance(load_network(path), type(ckpt.model))


def test_float16_save_is_smaller_and_close(tmp_path):
    model = _trained_like()
    full = _save(tmp_path / "fp32", model)
    half = _save(tmp_path / "fp16", model, dtype=torch.float16)
    assert _weights_file(half).stat().st_size < 0.6 * _weights_file(full).stat().st_size
    loaded = load_network(half)
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert torch.allclose(_outputs(loaded), _outputs(model), atol=2e-2, rtol=1e-2)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    path = _save(tmp_path / "ckpt", _trained_like())

    def refuse(*args, **kwargs):
        raise AssertionError("checkpoint loading must not unpickle")

    monkeypatch.setattr(torch, "load", refuse)
    monkeypatch.setattr(pickle, "loads", refuse)
    monkeypatch.setattr(pickle, "load", refuse)
    load_checkpoint(path)


class _Evil:
    """Unpickling this creates a directory: proof that something unpickled it."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (str(self.marker),))


@pytest.mark.parametrize("update_hash", [False, True])
def test_pickle_in_place_of_weights_is_refused(tmp_path, update_hash):
    path = _save(tmp_path / "ckpt", _trained_like())
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"state_dict": _Evil(marker)})
    if update_hash:
        _replace_weights(path, payload)
    else:
        _weights_file(path).write_bytes(payload)
    with pytest.raises(CheckpointError, match="safetensors" if update_hash else "sha256") as err:
        load_checkpoint(path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_torch_save_zip_in_place_of_weights_is_refused(tmp_path):
    path = _save(tmp_path / "ckpt", _trained_like())
    buffer = io.BytesIO()
    torch.save(_trained_like().state_dict(), buffer)
    _replace_weights(path, buffer.getvalue())
    with pytest.raises(CheckpointError, match="not a safetensors file"):
        load_checkpoint(path)


@pytest.mark.parametrize("update_hash", [False, True])
def test_truncated_weights_are_refused(tmp_path, update_hash):
    path = _save(tmp_path / "ckpt", _trained_like())
    data = _weights_file(path).read_bytes()[:-1000]
    if update_hash:
        _replace_weights(path, data)
    else:
        _weights_file(path).write_bytes(data)
    with pytest.raises(CheckpointError, match="safetensors" if update_hash else "truncated"):
        load_checkpoint(path)


def test_wrong_label_count_is_refused(tmp_path):
    model = _trained_like()
    with pytest.raises(CheckpointError, match="3 labels .* 4 outputs"):
        _save(tmp_path / "bad", model, labels=LABELS[:3])
    assert not (tmp_path / "bad").exists()
    path = _save(tmp_path / "ckpt", model)
    _edit_config(path, labels=LABELS + ["fear"])
    with pytest.raises(CheckpointError, match="5 labels .* 4 outputs"):
        load_checkpoint(path)


def test_unknown_model_name_is_refused(tmp_path):
    with pytest.raises(CheckpointError, match="unknown model name 'resnet'"):
        _save(tmp_path / "bad", _trained_like(), name="resnet")
    path = _save(tmp_path / "ckpt", _trained_like())
    _edit_config(path, model_name="base9")
    with pytest.raises(CheckpointError, match="unknown model name 'base9'"):
        load_checkpoint(path)


def test_unknown_config_key_is_refused(tmp_path):
    path = _save(tmp_path / "ckpt", _trained_like())
    config = json.loads((path / "config.json").read_text())
    _edit_config(path, model_config={**config["model_config"], "n_layerz": 3})
    with pytest.raises(CheckpointError, match="n_layerz"):
        load_checkpoint(path)


@pytest.mark.parametrize("change", ["extra", "missing", "misshaped"])
def test_tensor_mismatch_is_refused(tmp_path, change):
    model = _trained_like()
    path = _save(tmp_path / "ckpt", model)
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    if change == "extra":
        tensors["head.extra"] = torch.zeros(3)
        message = "head.extra"
    elif change == "missing":
        del tensors["head.weight"]
        message = "missing tensors \\['head.weight'\\]"
    else:
        tensors["head.weight"] = torch.zeros(5, 256)
        message = "head.weight.*\\(5, 256\\)"
    _replace_weights(path, safetensors.torch.save(tensors))
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)


def test_missing_or_foreign_paths_are_refused(tmp_path):
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nowhere")
    (tmp_path / "file.pt").write_bytes(b"\x80\x04junk")
    with pytest.raises(CheckpointError, match="not a directory"):
        load_checkpoint(tmp_path / "file.pt")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="no config.json"):
        load_checkpoint(tmp_path / "empty")
    path = _save(tmp_path / "ckpt", _trained_like())
    _edit_config(path, format="something-else")
    with pytest.raises(CheckpointError, match="not a sertk checkpoint"):
        load_checkpoint(path)
    (path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="unreadable JSON"):
        load_checkpoint(path)


def test_missing_weights_file_is_refused(tmp_path):
    path = _save(tmp_path / "ckpt", _trained_like())
    _weights_file(path).unlink()
    with pytest.raises(CheckpointError, match="weights file not found"):
        load_checkpoint(path)


def test_weights_name_cannot_escape_the_directory(tmp_path):
    path = _save(tmp_path / "ckpt", _trained_like())
    _edit_config(path, weights="../outside.safetensors")
    with pytest.raises(CheckpointError, match="weights entry"):
        load_checkpoint(path)


def test_crash_before_config_replace_keeps_previous_checkpoint(tmp_path, monkeypatch):
    old_model, new_model = _trained_like(seed=0), _trained_like(seed=1)
    path = _save(tmp_path / "ckpt", old_model)
    old_weights = _weights_file(path).name
    real_replace = os.replace

    def crash_on_config(src, dst):
        if Path(dst).name == "config.json":
            raise OSError("simulated crash")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_config)
    with pytest.raises(OSError, match="simulated crash"):
        _save(path, new_model)
    monkeypatch.setattr(os, "replace", real_replace)

    assert len(list(path.glob("weights-*.safetensors"))) == 2  # the new weights were written
    assert not list(path.glob(".*tmp*"))
    assert torch.equal(_outputs(load_network(path)), _outputs(old_model))

    _save(path, new_model)  # a later save succeeds and removes the orphan
    assert old_weights not in [p.name for p in path.glob("weights-*.safetensors")]
    assert torch.equal(_outputs(load_network(path)), _outputs(new_model))


def test_crash_before_cleanup_leaves_new_checkpoint(tmp_path, monkeypatch):
    old_model, new_model = _trained_like(seed=0), _trained_like(seed=1)
    path = _save(tmp_path / "ckpt", old_model)

    def crash(*args, **kwargs):
        raise OSError("simulated crash")

    monkeypatch.setattr(checkpoint_module, "_remove_unreferenced_weights", crash)
    with pytest.raises(OSError):
        _save(path, new_model)
    assert torch.equal(_outputs(load_network(path)), _outputs(new_model))


def test_metadata_must_be_plain_json(tmp_path):
    with pytest.raises(CheckpointError, match="metadata"):
        _save(tmp_path / "ckpt", _trained_like(), metadata={"bad": object()})
