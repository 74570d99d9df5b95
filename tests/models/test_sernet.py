import json
import math

import pytest
import torch

from sertk.models import SERNet, SERNetConfig, create_model, list_models

N_MELS = 40


@pytest.mark.parametrize("name", list_models())
@pytest.mark.parametrize("n_frames", [1, 2, 7, 24])
@pytest.mark.parametrize("with_lengths", [False, True])
def test_forward_backward_finite(name, n_frames, with_lengths):
    torch.manual_seed(0)
    model = create_model(name, n_classes=4).train()
    x = torch.randn(2, N_MELS, n_frames)
    lengths = torch.tensor([n_frames, max(1, n_frames // 2 + 1)]) if with_lengths else None
    logits = model(x, lengths)
    assert logits.shape == (2, 4)
    assert torch.isfinite(logits).all()
    torch.nn.functional.cross_entropy(logits, torch.tensor([0, 3])).backward()
    for pname, param in model.named_parameters():
        assert param.grad is not None, f"{name}: {pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{name}: {pname} has non-finite gradient"


@pytest.mark.parametrize("name", list_models())
def test_padding_invariance(name):
    """A clip alone and padded (with random values) in a batch gives the same logits."""
    torch.manual_seed(1)
    model = create_model(name, n_classes=4).eval()
    n_frames = 16
    for length in (1, 2, 5, 8, 13):
        clip = torch.randn(1, N_MELS, length)
        batch = 10 * torch.randn(3, N_MELS, n_frames)
        batch[1, :, :length] = clip[0]
        lengths = torch.tensor([n_frames, length, 7])
        with torch.no_grad():
            alone = model(clip)
            batched = model(batch, lengths)[1:2]
        assert torch.allclose(alone, batched, atol=1e-5), (name, length, alone - batched)


@pytest.mark.parametrize("overrides", [
    {"pool_type": "avg"}, {"positional_encoding": "sinusoidal"}, {"encoder_layers": 2}])
def test_padding_invariance_of_options(overrides):
    torch.manual_seed(2)
    model = create_model("proposed", n_classes=3, **overrides).eval()
    clip = torch.randn(1, N_MELS, 7)
    batch = 10 * torch.randn(2, N_MELS, 12)
    batch[0, :, :7] = clip[0]
    with torch.no_grad():
        assert torch.allclose(model(clip), model(batch, torch.tensor([7, 12]))[:1], atol=1e-5)


def test_forward_is_head_of_features():
    torch.manual_seed(0)
    model = create_model("proposed", n_classes=5).eval()
    x, lengths = torch.randn(2, N_MELS, 11), torch.tensor([11, 6])
    embedding = model.forward_features(x, lengths)
    assert embedding.shape == (2, 256)
    assert torch.equal(model.forward_head(embedding), model(x, lengths))


def test_bad_inputs_are_refused():
    model = create_model("proposed", n_classes=4).eval()
    with pytest.raises(ValueError, match=r"\(B, 40, T>=1\)"):
        model(torch.randn(2, 13, 10))
    with pytest.raises(ValueError, match=r"\(B, 40, T>=1\)"):
        model(torch.randn(2, 40, 0))
    with pytest.raises(ValueError, match="lengths"):
        model(torch.randn(2, 40, 10), torch.tensor([10, 11]))


def _conv(c_in, c_out, k):
    return c_in * c_out * k + c_out


def _linear(n_in, n_out):
    return n_in * n_out + n_out


def _blstm(n_in, hidden):  # 4 gates x (input + recurrent weights + two biases), 2 directions
    return 2 * 4 * hidden * (n_in + hidden + 2)


def _encoder_layer(d, ffn):  # q,k,v + output projection, FFN, two LayerNorms
    return _linear(d, 3 * d) + _linear(d, d) + _linear(d, ffn) + _linear(ffn, d) + 2 * 2 * d


def spec_parameter_counts(n_classes: int) -> dict[str, int]:
    """Parameter counts derived by hand from SPEC 2-3's layer sizes."""
    d, ffn, n_mels = 128, 512, 40
    three_conv = _conv(n_mels, d, 5) + 2 * _conv(d, d, 3) + 3 * 2 * d  # + BatchNorm scale/shift
    residual_blstm = _blstm(d, d) + _linear(2 * d, ffn) + _linear(ffn, d)
    plain_blstm = _blstm(d, d) + _linear(2 * d, d)
    etransformer = 2 * (_conv(d, d, 3) + 2 * d) + _encoder_layer(d, ffn)
    plain_transformer = _encoder_layer(d, ffn)
    head = _linear(2 * d, n_classes)
    return {
        "proposed": three_conv + 2 * residual_blstm + 3 * etransformer + head,
        "base1": three_conv + 2 * plain_blstm + 3 * etransformer + head,
        "base2": three_conv + 2 * residual_blstm + 3 * plain_transformer + head,
        "base3": three_conv + 2 * plain_blstm + 3 * plain_transformer + head,
        "base4": three_conv + 2 * residual_blstm + 3 * etransformer + head,
        "base5": three_conv + 2 * residual_blstm + head,
        "base6": three_conv + 2 * plain_blstm + head,
        "base7": _blstm(n_mels, d) + _linear(2 * d, d) + plain_blstm + head,
    }


def test_parameter_counts_match_spec():
    expected = spec_parameter_counts(n_classes=4)
    for name in list_models():
        n = sum(p.numel() for p in create_model(name, n_classes=4).parameters())
        if name == "proposed":
            print(f"\nproposed model parameters (4 classes): {n:,}")
        assert n == expected[name], name


def test_config_round_trips_through_json():
    config = SERNetConfig(n_classes=6, pool_type="avg", encoder_layers=2,
                          conv_kernel_sizes=(7, 5, 3), positional_encoding="sinusoidal")
    again = SERNetConfig.from_dict(json.loads(json.dumps(config.to_dict())))
    assert again == config
    assert SERNet(again).config == config


def test_config_refuses_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match=r"unknown SERNetConfig keys \['n_layerz'\]"):
        SERNetConfig.from_dict({"n_layerz": 2})
    with pytest.raises(ValueError, match="pool_type"):
        SERNetConfig(pool_type="median")
    with pytest.raises(ValueError, match="n_heads"):
        SERNetConfig(n_heads=3)
    with pytest.raises(ValueError, match="n_classes"):
        SERNetConfig(n_classes=0)
    with pytest.raises(ValueError, match="residual"):
        SERNetConfig(conv_front=False, blstm="residual")


def test_paper_defaults():
    c = SERNetConfig()
    assert (c.n_mels, c.hidden, c.conv_kernel_sizes) == (40, 128, (5, 3, 3))
    assert (c.blstm_ffn_dim, c.transformer_ffn_dim, c.n_heads) == (512, 512, 8)
    assert (c.blstm_dropout, c.pool_dropout, c.transformer_dropout) == (0.2, 0.2, 0.1)
    assert (c.pool_type, c.encoder_layers, c.positional_encoding) == ("max", 1, "none")
    assert (c.n_blstm, c.n_transformer) == (2, 3)
    assert math.isclose(create_model("proposed", 4).pool.dropout.p, 0.2)
