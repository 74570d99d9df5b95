import pytest
import torch
from torch import nn

from sertk.models.blocks import (BLSTM, ConvBNReLU, MaskedBatchNorm1d, PlainBLSTM, ResidualBLSTM,
                                 ThreeConv)


def _pad(clips: list[torch.Tensor], n_frames: int, time_dim: int) -> torch.Tensor:
    """Stack clips (each without batch dim) padded with large random values along time."""
    rows = []
    for clip in clips:
        shape = list(clip.shape)
        shape[time_dim - 1] = n_frames - clip.shape[time_dim - 1]
        rows.append(torch.cat([clip, 10 * torch.randn(shape)], dim=time_dim - 1))
    return torch.stack(rows)


def test_masked_batchnorm_training_uses_real_frames_only():
    torch.manual_seed(0)
    clips = [torch.randn(3, 5), torch.randn(3, 2)]
    masked, plain = MaskedBatchNorm1d(3), nn.BatchNorm1d(3)
    out = masked(_pad(clips, 5, time_dim=2), torch.tensor([5, 2]))
    reference = plain(torch.cat(clips, dim=1)[None])  # the 7 real frames as one clip
    assert torch.allclose(out[0], reference[0, :, :5], atol=1e-5)
    assert torch.allclose(out[1, :, :2], reference[0, :, 5:], atol=1e-5)
    assert torch.allclose(masked.running_mean, plain.running_mean, atol=1e-6)
    assert torch.allclose(masked.running_var, plain.running_var, atol=1e-6)
    assert masked.num_batches_tracked.item() == 1


def test_masked_batchnorm_without_lengths_is_batchnorm():
    torch.manual_seed(0)
    masked, plain = MaskedBatchNorm1d(4), nn.BatchNorm1d(4)
    x = torch.randn(2, 4, 6)
    assert torch.allclose(masked(x), plain(x), atol=1e-6)
    assert masked.state_dict().keys() == plain.state_dict().keys()


def test_conv_block_sees_zeros_past_the_end():
    torch.manual_seed(0)
    block = ConvBNReLU(4, 6, kernel_size=5).eval()
    clip = torch.randn(4, 3)
    alone = block(clip[None])
    batched = block(_pad([clip], 8, time_dim=2), torch.tensor([3]))
    assert torch.allclose(alone[0], batched[0, :, :3], atol=1e-6)
    with pytest.raises(ValueError, match="odd"):
        ConvBNReLU(4, 6, kernel_size=4)


def test_three_conv_residual_spans_the_last_block():
    torch.manual_seed(0)
    module = ThreeConv(40, 16, (5, 3, 3)).eval()
    x = torch.randn(2, 40, 9)
    h2 = module.block2(module.block1(x))
    assert torch.equal(module(x), module.block3(h2) + h2)
    assert module(x).shape == (2, 16, 9)
    blocks = (module.block1, module.block2, module.block3)
    assert [block.conv.kernel_size[0] for block in blocks] == [5, 3, 3]


def test_blstm_keeps_padding_away():
    torch.manual_seed(0)
    blstm = BLSTM(6, 4, dropout=0.2).eval()
    clip = torch.randn(3, 6)
    batched = blstm(_pad([torch.randn(7, 6), clip], 7, time_dim=1), torch.tensor([7, 3]))
    assert batched.shape == (2, 7, 8)
    assert torch.allclose(blstm(clip[None])[0], batched[1, :3], atol=1e-6)
    assert torch.equal(batched[1, 3:], torch.zeros(4, 8))  # the backward pass starts at frame 3


def test_residual_blstm_is_ffn_of_blstm_plus_input():
    torch.manual_seed(0)
    block = ResidualBLSTM(8, ffn_dim=16, dropout=0.2).eval()
    x = torch.randn(2, 5, 8)
    assert torch.equal(block(x), block.ffn(block.blstm(x)) + x)
    assert block.ffn.linear1.in_features == 16 and block.ffn.linear2.out_features == 8


def test_plain_blstm_has_no_residual_and_maps_widths():
    torch.manual_seed(0)
    block = PlainBLSTM(40, 8, dropout=0.2).eval()
    x = torch.randn(2, 5, 40)
    assert block(x).shape == (2, 5, 8)
    assert torch.equal(block(x), block.proj(block.blstm(x)))
