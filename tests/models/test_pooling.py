import math

import pytest
import torch

from sertk.models.pooling import StatisticsPooling, TimePooling


@pytest.mark.parametrize("n_frames", [1, 2, 5, 8])
def test_time_pooling_halves_with_ceil(n_frames):
    pool = TimePooling("max").eval()
    out, lengths = pool(torch.randn(2, n_frames, 3), torch.tensor([n_frames, 1]))
    assert out.shape == (2, math.ceil(n_frames / 2), 3)
    assert lengths.tolist() == [math.ceil(n_frames / 2), 1]
    assert pool(torch.randn(2, n_frames, 3))[1] is None


def test_max_pooling_ignores_padding_and_pools_odd_last_frame_alone():
    x = torch.tensor([[1.0, 5.0, -3.0, 100.0, 100.0]])[:, :, None]  # (1, 5, 1); last two padded
    out, lengths = TimePooling("max").eval()(x, torch.tensor([3]))
    assert lengths.tolist() == [2]
    assert out[0, :2, 0].tolist() == [5.0, -3.0]  # padding (100) never wins
    assert out[0, 2, 0].item() == 0.0  # a window with no real frame is zero, not -inf


def test_avg_pooling_averages_real_frames_only():
    x = torch.tensor([[1.0, 5.0, -3.0, 100.0]])[:, :, None]
    out, _ = TimePooling("avg").eval()(x, torch.tensor([3]))
    assert out[0, :, 0].tolist() == [3.0, -3.0]
    alone, _ = TimePooling("avg").eval()(x[:, :3])
    assert torch.equal(alone, out)


def test_time_pooling_rejects_unknown_type():
    with pytest.raises(ValueError, match="pool_type"):
        TimePooling("median")


def test_statistics_pooling_over_valid_frames():
    torch.manual_seed(0)
    x = torch.randn(2, 6, 4)
    out = StatisticsPooling()(x, torch.tensor([6, 3]))
    for row, n in ((0, 6), (1, 3)):
        frames = x[row, :n]
        expected = torch.cat([frames.mean(0), frames.std(0, unbiased=False)])
        assert torch.allclose(out[row], expected, atol=1e-6)
    assert torch.allclose(StatisticsPooling()(x[1:, :3]), out[1:], atol=1e-6)


def test_statistics_pooling_single_frame_is_finite_with_gradients():
    x = torch.randn(1, 1, 4, requires_grad=True)
    out = StatisticsPooling()(x)
    out.sum().backward()
    assert torch.isfinite(out).all() and torch.isfinite(x.grad).all()
