"""SSL front-ends (sertk.models.ssl) on tiny random encoders saved locally: registration,
shapes, masking, padding invariance through the encoder, frozen/fine-tuned parameters,
stored hidden states = waveform path, checkpoint round trip without the encoder directory."""
import json
import shutil

import numpy as np
import pytest
import torch

from sertk.features import FeatureConfig
from sertk.models import (CheckpointError, create_model, list_models, load_checkpoint,
                          save_checkpoint, summarize_models)
from tests.ssl_encoders import write_tiny_encoder

LABELS = ["angry", "happy", "neutral"]
# Padding invariance tolerance on logits. A clip alone and the same clip padded in a batch
# differ only by float32 summation order (attention over a masked key set, layer norms):
# measured 4e-8 (linear head) and 5e-7 (proposed head, BLSTM + attention) on these tiny
# encoders; 1e-5 leaves margin for other BLAS builds while any leak of padding into the
# clip (which moves logits by ~1e-2 here) still fails.
PAD_TOL = 1e-5


@pytest.fixture(scope="module")
def encoder_dir(tmp_path_factory):
    return write_tiny_encoder(tmp_path_factory.mktemp("enc") / "wavlm")


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    lengths = torch.tensor([4000, 2500, 1200])
    x = torch.randn(3, 4000, generator=g)
    return x, lengths


def _alone(model, x, lengths):
    return torch.cat([model(x[i:i + 1, :n]) for i, n in enumerate(lengths.tolist())])


def test_ssl_models_are_listed_with_what_they_need():
    assert {"ssl-proposed", "ssl-linear"} <= set(list_models(all_models=True))
    assert not {"ssl-proposed", "ssl-linear"} & set(list_models())  # not in the ablation
    rows = {r.name: r for r in summarize_models(names=["ssl-linear", "proposed"], timing=False)}
    assert rows["ssl-linear"].n_params is None and "model_args.encoder" in rows[
        "ssl-linear"].description
    assert rows["proposed"].n_params > 0


def test_ssl_model_without_an_encoder_says_so():
    with pytest.raises(ValueError, match="needs an encoder: set model_args.encoder"):
        create_model("ssl-linear", n_classes=4)


def test_without_transformers_the_error_says_how_to_install(monkeypatch, encoder_dir):
    import sys
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    with pytest.raises(ValueError, match=r"pip install 'sertk\[ssl\]'"):
        create_model("ssl-linear", n_classes=4, encoder=str(encoder_dir))


def test_missing_local_encoder_is_one_line_error(tmp_path):
    with pytest.raises(ValueError, match="encoder"):
        create_model("ssl-linear", n_classes=4, encoder=str(tmp_path / "none"))


@pytest.mark.parametrize("kind,norm", [("wavlm", "layer"), ("wav2vec2", "layer"),
                                       ("hubert", "layer"), ("wav2vec2", "group")])
@pytest.mark.parametrize("name", ["ssl-linear", "ssl-proposed"])
def test_padding_invariance_through_the_encoder(tmp_path, kind, norm, name):
    directory = write_tiny_encoder(tmp_path / kind, kind, feat_extract_norm=norm)
    model = create_model(name, n_classes=3, encoder=str(directory), hidden=32, n_heads=4).eval()
    x, lengths = _batch()
    with torch.no_grad():
        batched, alone = model(x, lengths), _alone(model, x, lengths)
        garbage = x.clone()
        for i, n in enumerate(lengths.tolist()):
            garbage[i, n:] = 1e3  # whatever lies past a clip's end is ignored
        noisy = model(garbage, lengths)
    assert batched.shape == (3, 3)
    assert (batched - alone).abs().max() < PAD_TOL
    assert (noisy - batched).abs().max() < PAD_TOL


def test_stored_hidden_states_give_the_waveform_logits(encoder_dir):
    model = create_model("ssl-proposed", n_classes=3, encoder=str(encoder_dir), hidden=32,
                         n_heads=4, layers=[0, 2]).eval()
    x, lengths = _batch(1)
    with torch.no_grad():
        states, frames = model.hidden_states(x, lengths)
        assert states.shape == (3, 2, int(frames.max()), 32)
        assert frames.tolist() == model.frame_lengths(lengths).tolist() == [399, 249, 119]
        stored = states.half().float()  # the feature store keeps float16
        assert (model(states, frames) - model(x, lengths)).abs().max() < 1e-5
        assert (model(stored, frames) - model(x, lengths)).abs().max() < 1e-2


def test_encoder_is_frozen_unless_top_layers_are_tuned(encoder_dir):
    frozen = create_model("ssl-linear", n_classes=3, encoder=str(encoder_dir)).train()
    trainable = {n for n, p in frozen.named_parameters() if p.requires_grad}
    assert trainable and not any(n.startswith("encoder.") for n in trainable)
    assert not frozen.encoder.training  # no dropout / time masking in a frozen encoder
    tuned = create_model("ssl-linear", n_classes=3, encoder=str(encoder_dir),
                         finetune_layers=1).train()
    tuned_names = {n for n, p in tuned.named_parameters() if p.requires_grad}
    assert any(n.startswith("encoder.encoder.layers.1.") for n in tuned_names)
    assert not any(n.startswith("encoder.encoder.layers.0.") for n in tuned_names)
    assert tuned.encoder.encoder.layers[1].training and not tuned.encoder.encoder.layers[0].training
    x, lengths = _batch(2)
    tuned(x, lengths).sum().backward()
    assert tuned.encoder.encoder.layers[1].feed_forward.output_dense.weight.grad is not None


@pytest.mark.parametrize("fields,match", [({"layers": [5]}, "layers must lie in"),
                                          ({"finetune_layers": 3}, "finetune_layers"),
                                          ({"backend": "proposed"}, "set by the model")])
def test_bad_ssl_fields_are_refused(encoder_dir, fields, match):
    with pytest.raises(ValueError, match=match):
        create_model("ssl-linear", n_classes=3, encoder=str(encoder_dir), **fields)


def _save(path, model, name):
    return save_checkpoint(path, model, model_name=name, labels=LABELS,
                           feature_config=FeatureConfig(padding="batch"), norm_mean=[],
                           norm_std=[], metadata={"fold": 0})


@pytest.mark.parametrize("name", ["ssl-linear", "ssl-proposed"])
def test_checkpoint_round_trip_needs_neither_network_nor_encoder_dir(tmp_path, name):
    encoder = write_tiny_encoder(tmp_path / "enc")
    model = create_model(name, n_classes=3, encoder=str(encoder), hidden=32, n_heads=4).eval()
    with torch.no_grad():
        model.layer_weights.logits.copy_(torch.tensor([0.5, -1.0, 2.0]))
    path = _save(tmp_path / "ckpt", model, name)
    shutil.rmtree(encoder)  # the checkpoint alone rebuilds the model
    loaded = load_checkpoint(path)
    x, lengths = _batch(3)
    with torch.no_grad():
        assert torch.equal(loaded.model(x, lengths), model(x, lengths))
    config = json.loads((path / "config.json").read_text())
    assert config["model_config"]["encoder_config"]["model_type"] == "wavlm"
    assert config["norm_mean"] == []


@pytest.mark.parametrize("change,match", [
    ({"model_type": "bert"}, "model_type must be one of"),
    ({"hidden_size": 10 ** 7}, "hidden_size must be an integer in"),
    ({"num_hidden_layers": 100_000}, "num_hidden_layers"),
    ({"conv_dim": [32] * 1000}, "conv_dim"),
    ({"intermediate_size": 65536, "hidden_size": 8192, "num_attention_heads": 64,
      "num_hidden_layers": 128}, "parameters, more than"),
])
def test_tampered_encoder_config_is_refused_before_building(tmp_path, encoder_dir, change,
                                                            match):
    model = create_model("ssl-linear", n_classes=3, encoder=str(encoder_dir)).eval()
    path = _save(tmp_path / "ckpt", model, "ssl-linear")
    config = json.loads((path / "config.json").read_text())
    config["model_config"]["encoder_config"].update(change)
    (path / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointError, match=match):
        load_checkpoint(path)


def test_predictor_on_an_ssl_checkpoint_matches_the_model(tmp_path, encoder_dir):
    from sertk.infer.predictor import Predictor
    model = create_model("ssl-linear", n_classes=3, encoder=str(encoder_dir)).eval()
    predictor = Predictor(load_checkpoint(_save(tmp_path / "ckpt", model, "ssl-linear")),
                          device="cpu")
    x, lengths = _batch(4)
    waves = [x[i, :n].numpy() for i, n in enumerate(lengths.tolist())]
    probs = predictor.probabilities(waves)
    with torch.no_grad():
        want = torch.softmax(model(x, lengths), dim=1).numpy()
    np.testing.assert_allclose(probs, want, atol=1e-6)
