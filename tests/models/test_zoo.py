"""Structure checks: each variant holds exactly the blocks SPEC 3 names, in order."""
import math
from collections import Counter

import pytest
import torch
from torch import nn

from sertk.models import create_model, describe_model, list_models
from sertk.models.blocks import PlainBLSTM, ResidualBLSTM, ThreeConv
from sertk.models.etransformer import ETransformer, SelfAttention, TransformerBlock
from sertk.models.pooling import StatisticsPooling, TimePooling

KINDS = {"three_conv": ThreeConv, "residual_blstm": ResidualBLSTM, "plain_blstm": PlainBLSTM,
         "time_pooling": TimePooling, "etransformer": ETransformer,
         "plain_transformer": TransformerBlock, "attention": SelfAttention,
         "conv1d": nn.Conv1d, "lstm": nn.LSTM, "stats_pooling": StatisticsPooling}

# From SPEC 3's composition table (conv1d: 3 in 3-Conv + 2 per E-transformer).
EXPECTED = {
    "proposed": dict(three_conv=1, residual_blstm=2, time_pooling=1, etransformer=3,
                     attention=3, conv1d=9, lstm=2, stats_pooling=1),
    "base1": dict(three_conv=1, plain_blstm=2, time_pooling=1, etransformer=3, attention=3,
                  conv1d=9, lstm=2, stats_pooling=1),
    "base2": dict(three_conv=1, residual_blstm=2, time_pooling=1, plain_transformer=3,
                  attention=3, conv1d=3, lstm=2, stats_pooling=1),
    "base3": dict(three_conv=1, plain_blstm=2, time_pooling=1, plain_transformer=3,
                  attention=3, conv1d=3, lstm=2, stats_pooling=1),
    "base4": dict(three_conv=1, residual_blstm=2, etransformer=3, attention=3, conv1d=9,
                  lstm=2, stats_pooling=1),
    "base5": dict(three_conv=1, residual_blstm=2, conv1d=3, lstm=2, stats_pooling=1),
    "base6": dict(three_conv=1, plain_blstm=2, conv1d=3, lstm=2, stats_pooling=1),
    "base7": dict(plain_blstm=2, lstm=2, stats_pooling=1),
}


def block_counts(model: nn.Module) -> dict[str, int]:
    counts = Counter()
    for module in model.modules():
        for kind, cls in KINDS.items():
            if isinstance(module, cls):
                counts[kind] += 1
    return {kind: n for kind, n in counts.items() if n}


def test_registry_names_and_descriptions():
    assert list_models() == ["proposed"] + [f"base{i}" for i in range(1, 8)]
    descriptions = [describe_model(name) for name in list_models()]
    assert all(descriptions) and len(set(descriptions)) == 8
    with pytest.raises(ValueError, match="unknown model 'base9'"):
        create_model("base9", n_classes=4)


@pytest.mark.parametrize("name", list_models())
def test_block_counts(name):
    assert block_counts(create_model(name, n_classes=4)) == EXPECTED[name]


def test_ablations_miss_exactly_their_block():
    models = {name: create_model(name, n_classes=4) for name in list_models()}
    assert not any(isinstance(m, ResidualBLSTM) for m in models["base1"].modules())
    assert not any(isinstance(m, ETransformer) for m in models["base2"].modules())
    for name in ("base5", "base6", "base7"):
        assert not any(isinstance(m, SelfAttention) for m in models[name].modules())
    assert not any(isinstance(m, (nn.Conv1d, ThreeConv)) for m in models["base7"].modules())
    assert models["base7"].blstm[0].blstm.lstm.input_size == 40


def _frames_seen(model: nn.Module, cls: type, n_frames: int) -> list[int]:
    seen = []
    hooks = [m.register_forward_hook(lambda mod, args, out: seen.append(args[0].shape[1]))
             for m in model.modules() if isinstance(m, cls)]
    with torch.no_grad():
        model.eval()(torch.randn(1, 40, n_frames))
    for hook in hooks:
        hook.remove()
    return seen


@pytest.mark.parametrize("n_frames", [9, 10])
def test_time_pooling_halves_what_the_transformer_sees(n_frames):
    half = math.ceil(n_frames / 2)
    assert _frames_seen(create_model("proposed", 4), ETransformer, n_frames) == [half] * 3
    assert _frames_seen(create_model("base2", 4), TransformerBlock, n_frames) == [half] * 3
    assert _frames_seen(create_model("base4", 4), ETransformer, n_frames) == [n_frames] * 3
    assert _frames_seen(create_model("base5", 4), StatisticsPooling, n_frames) == [n_frames]


def test_proposed_runs_blocks_in_paper_order():
    model = create_model("proposed", n_classes=4).eval()
    order = []
    for top, child in model.named_children():
        items = ([(f"{top}.{i}", m) for i, m in enumerate(child)]
                 if isinstance(child, nn.ModuleList) else [(top, child)])
        for name, module in items:
            module.register_forward_hook(lambda mod, args, out, name=name: order.append(name))
    with torch.no_grad():
        model(torch.randn(1, 40, 8))
    assert order == ["conv", "blstm.0", "blstm.1", "pool", "transformer.0", "transformer.1",
                     "transformer.2", "stats", "head"]


def test_overrides_reach_the_config():
    model = create_model("base1", n_classes=7, pool_type="avg", encoder_layers=2)
    assert model.config.blstm == "plain" and model.config.pool_type == "avg"
    assert model.head.out_features == 7
    assert all(len(block.encoder) == 2 for block in model.transformer)
