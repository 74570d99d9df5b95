import pytest
import torch

from sertk.models.masking import (channels_first, channels_last, check_lengths, valid_mask,
                                  zero_padding)


def test_valid_mask_marks_real_frames():
    mask = valid_mask(torch.tensor([1, 3, 2]), 3)
    assert mask.tolist() == [[True, False, False], [True, True, True], [True, True, False]]


@pytest.mark.parametrize("time_dim", [1, 2])
def test_zero_padding_zeroes_only_padded_frames(time_dim):
    x = torch.randn(2, 4, 5) if time_dim == 2 else torch.randn(2, 5, 4)
    x[1].fill_(float("inf"))  # even non-finite padding must not leak
    lengths = torch.tensor([5, 2])
    out = zero_padding(x, lengths, time_dim)
    frames = out[1].movedim(time_dim - 1, 0)  # (T, C)
    source = x[1].movedim(time_dim - 1, 0)
    assert torch.equal(frames[:2], source[:2])
    assert torch.equal(frames[2:], torch.zeros_like(frames[2:]))
    assert torch.equal(out[0], x[0])
    assert zero_padding(x, None, time_dim) is x


def test_layout_helpers_are_inverse_transposes():
    x = torch.randn(2, 3, 5)
    assert channels_last(x).shape == (2, 5, 3)
    assert torch.equal(channels_first(channels_last(x)), x)


@pytest.mark.parametrize("lengths, message", [
    (torch.tensor([3]), "shape"),
    (torch.tensor([1.0, 2.0]), "integer"),
    (torch.tensor([0, 2]), r"\[1, 4\]"),
    (torch.tensor([2, 5]), r"\[1, 4\]"),
])
def test_check_lengths_rejects_bad_lengths(lengths, message):
    with pytest.raises(ValueError, match=message):
        check_lengths(lengths, batch=2, n_frames=4, device=torch.device("cpu"))


def test_check_lengths_returns_int64():
    out = check_lengths(torch.tensor([1, 4], dtype=torch.int32), 2, 4, torch.device("cpu"))
    assert out.dtype == torch.long and out.tolist() == [1, 4]
    assert check_lengths(None, 2, 4, torch.device("cpu")) is None
