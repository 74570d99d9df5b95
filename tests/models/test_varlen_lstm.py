"""The exact variable-length BLSTM equals the packed nn.LSTM, without packing."""
import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from sertk.models import create_model, list_models
from sertk.models.blocks import BLSTM
from sertk.models.varlen_lstm import bidirectional_lstm, reverse_within_lengths


def _packed_reference(lstm: nn.LSTM, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, _ = pad_packed_sequence(lstm(packed)[0], batch_first=True, total_length=x.shape[1])
    return out


def _batch(lengths: list[int], n_frames: int, size: int) -> torch.Tensor:
    """Random rows whose padding holds large values (it must not matter)."""
    x = torch.randn(len(lengths), n_frames, size)
    for row, length in zip(x, lengths):
        row[length:] = 100 * torch.randn(n_frames - length, size)
    return x


def test_reverse_within_lengths_reverses_real_frames_and_is_its_own_inverse():
    x = torch.arange(10.).view(2, 5, 1)
    lengths = torch.tensor([3, 5])
    out = reverse_within_lengths(x, lengths)
    assert out[..., 0].tolist() == [[2, 1, 0, 3, 4], [9, 8, 7, 6, 5]]
    assert torch.equal(reverse_within_lengths(out, lengths), x)


@pytest.mark.parametrize("lengths", [[9, 4, 1, 9], [1], [6, 6], [2, 9, 5]])
def test_equals_the_packed_lstm_outputs_and_gradients(lengths):
    torch.manual_seed(0)
    lstm = nn.LSTM(5, 3, batch_first=True, bidirectional=True)
    x = _batch(lengths, max(lengths) + 2, 5).requires_grad_()
    lengths = torch.tensor(lengths)
    dense = bidirectional_lstm(lstm, x, lengths)
    packed = _packed_reference(lstm, x, lengths)
    assert dense.shape == packed.shape == (len(lengths), x.shape[1], 6)
    assert torch.allclose(dense, packed, atol=1e-6)
    weights = torch.randn_like(dense)
    dense_grads = torch.autograd.grad((dense * weights).sum(), [x, *lstm.parameters()])
    packed_grads = torch.autograd.grad((packed * weights).sum(), [x, *lstm.parameters()])
    for a, b in zip(dense_grads, packed_grads):
        assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(dense_grads[0][0, lengths[0]:], torch.zeros_like(x[0, lengths[0]:]))


def test_non_finite_padding_does_not_leak():
    torch.manual_seed(0)
    lstm = nn.LSTM(4, 3, batch_first=True, bidirectional=True)
    x = torch.randn(2, 6, 4)
    x[0, 3:] = float("nan")
    x[1, 5:] = float("inf")
    out = bidirectional_lstm(lstm, x, torch.tensor([3, 5]))
    assert torch.isfinite(out).all()
    assert torch.equal(out[0, 3:], torch.zeros(3, 6))


def test_refuses_an_lstm_it_cannot_run():
    with pytest.raises(ValueError, match="bidirectional"):
        bidirectional_lstm(nn.LSTM(4, 3, batch_first=True), torch.randn(1, 2, 4),
                           torch.tensor([2]))


def test_blstm_block_keeps_nn_lstm_parameters():
    block = BLSTM(6, 4, dropout=0.0)
    reference = nn.LSTM(6, 4, batch_first=True, bidirectional=True)
    assert [k.removeprefix("lstm.") for k in block.state_dict()] == list(reference.state_dict())


@pytest.mark.parametrize("name", list_models())
def test_no_model_packs_sequences(name):
    """Every BLSTM of the zoo runs densely on a padded batch (packing is ~3x slower on CPU)."""
    model = create_model(name, n_classes=4).eval()
    seen = []
    for module in model.modules():
        if isinstance(module, nn.LSTM):
            module.register_forward_pre_hook(lambda mod, args: seen.append(type(args[0])))
    with torch.no_grad():
        model(torch.randn(2, 40, 12), torch.tensor([12, 5]))
    assert nn.utils.rnn.PackedSequence not in seen
