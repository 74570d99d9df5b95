import pytest
import torch
from torch import nn

from sertk.models.etransformer import (ConvLayer, EncoderLayer, ETransformer,
                                       SinusoidalPositionalEncoding, TransformerBlock)


def _padded(clip: torch.Tensor, n_frames: int) -> torch.Tensor:
    other = torch.randn(n_frames, clip.shape[1])
    padded = torch.cat([clip, 10 * torch.randn(n_frames - clip.shape[0], clip.shape[1])])
    return torch.stack([other, padded])


def test_etransformer_is_conv_encoder_conv_plus_input():
    torch.manual_seed(0)
    block = ETransformer(16, n_heads=4, ffn_dim=32, dropout=0.1).eval()
    x = torch.randn(2, 7, 16)
    h = block.conv_in(x)
    for layer in block.encoder:
        h = layer(h)
    assert torch.allclose(block(x), block.conv_out(h) + x, atol=1e-6)
    assert len(block.encoder) == 1
    assert block.encoder[0].norm_first is False  # post-norm (paper Fig. 2)


def test_encoder_layers_option():
    block = ETransformer(16, n_heads=4, ffn_dim=32, dropout=0.1, n_layers=3)
    assert len(block.encoder) == 3


def test_etransformer_and_plain_block_ignore_padding():
    torch.manual_seed(0)
    clip = torch.randn(5, 16)
    lengths = torch.tensor([9, 5])
    for block in (ETransformer(16, 4, 32, 0.1), TransformerBlock(16, 4, 32, 0.1)):
        block.eval()
        with torch.no_grad():
            alone = block(clip[None])[0]
            batched = block(_padded(clip, 9), lengths)[1, :5]
        assert torch.allclose(alone, batched, atol=1e-5)


def test_conv_layer_normalises_channels():
    torch.manual_seed(0)
    out = ConvLayer(16).eval()(torch.randn(2, 7, 16))
    assert out.shape == (2, 7, 16)
    assert torch.allclose(out.mean(-1), torch.zeros(2, 7), atol=1e-5)


def test_sinusoidal_positions():
    pe = SinusoidalPositionalEncoding(8)
    out = pe(torch.zeros(1, 3, 8))
    assert torch.allclose(out[0, 0], torch.tensor([0.0, 1.0] * 4))
    assert torch.allclose(out[0, 2, :2], torch.tensor([torch.sin(torch.tensor(2.0)),
                                                       torch.cos(torch.tensor(2.0))]))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("padded", [False, True])
def test_encoder_layer_is_torch_encoder_layer(training, padded):
    """Same parameters, same values as nn.TransformerEncoderLayer: in eval mode against its
    inference fast path, in training mode (same dropout draws) against its training path."""
    torch.manual_seed(0)
    ours = EncoderLayer(16, 4, dim_feedforward=32, dropout=0.1)
    torch.manual_seed(0)
    ref = nn.TransformerEncoderLayer(16, 4, dim_feedforward=32, dropout=0.1, batch_first=True)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    for (name, ours_p), (ref_name, ref_p) in zip(ours.named_parameters(), ref.named_parameters()):
        assert name == ref_name and torch.equal(ours_p, ref_p)  # same order, same seeded init
    ref.load_state_dict(ours.state_dict())
    ours.train(training), ref.train(training)
    x = torch.randn(3, 9, 16)
    mask = torch.arange(9)[None, :] >= torch.tensor([9, 5, 2])[:, None] if padded else None
    with torch.inference_mode(not training):
        torch.manual_seed(1)
        expected = ref(x, src_key_padding_mask=mask)
        torch.manual_seed(1)
        got = ours(x, src_key_padding_mask=mask)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_the_bundled_model_predicts_as_before_the_attention_module():
    """Probabilities of the bundled EmoDB model on examples/clips, recorded with the
    nn.TransformerEncoderLayer-based layer: the explicit attention module loads the same
    weights and gives the same numbers."""
    import json
    from pathlib import Path

    import sertk

    repo = Path(__file__).resolve().parents[2]
    recorded = json.loads((Path(__file__).with_name("bundled_clip_probabilities.json")).read_text())
    predictor = sertk.load_model(device="cpu", vad=False)
    results = predictor.predict_files([repo / "examples" / "clips" / name for name in recorded])
    for name, result in zip(recorded, results):
        assert result.prediction.probabilities == pytest.approx(recorded[name], abs=1e-5)
