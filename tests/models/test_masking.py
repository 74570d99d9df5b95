import pytest
import torch

import sertk.models.sernet as sernet
from sertk.models import create_model
from sertk.models.masking import (channels_first, channels_last, check_lengths, drop_unpadded,
                                  valid_mask, zero_padding)


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


def test_drop_unpadded_only_drops_when_no_row_is_padded(monkeypatch):
    assert drop_unpadded(torch.tensor([7, 7, 7]), 7) is None
    assert drop_unpadded(None, 7) is None
    kept = torch.tensor([7, 6])
    assert drop_unpadded(kept, 7) is kept
    monkeypatch.setattr(torch.jit, "is_tracing", lambda: True)  # a traced graph keeps masks
    full = torch.tensor([7, 7])
    assert drop_unpadded(full, 7) is full


@pytest.mark.parametrize("name", ["proposed", "base3", "base7"])
def test_unpadded_batch_masked_and_plain_paths_agree(name, monkeypatch):
    """The shortcut is exact: on an unpadded batch the masked path (lengths kept) gives the
    plain path's logits, gradients and batch-norm running statistics (training mode)."""
    x = torch.randn(3, 40, 23)
    full = torch.full((3,), 23)

    def run(keep_masks: bool):
        torch.manual_seed(0)
        model = create_model(name, 4, blstm_dropout=0.0, pool_dropout=0.0,
                             transformer_dropout=0.0).train()
        if keep_masks:
            monkeypatch.setattr(sernet, "drop_unpadded", lambda lengths, n_frames: lengths)
        logits = model(x, full)
        monkeypatch.undo()
        logits.square().sum().backward()
        grads = [p.grad for p in model.parameters()]
        return logits, grads, [b.clone() for b in model.buffers()]

    masked, plain = run(True), run(False)
    torch.testing.assert_close(masked[0], plain[0], rtol=1e-4, atol=1e-5)
    for a, b in zip(masked[1] + masked[2], plain[1] + plain[2]):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
