import pytest
from torch import nn

from sertk.models import create_model, describe_model
from sertk.models.summary import (UTTERANCE_FRAMES, count_parameters, format_model_table,
                                  summarize_models, time_forward)

from tests.models.test_sernet import spec_parameter_counts


def test_utterance_is_four_seconds_of_frames():
    assert UTTERANCE_FRAMES == 1 + 4 * 16000 // 160


def test_summaries_describe_and_count_each_model():
    rows = summarize_models(n_classes=4, n_frames=20, repeats=1, names=["proposed", "base7"])
    assert [r.name for r in rows] == ["proposed", "base7"]
    by_hand = spec_parameter_counts(4)  # from the layer sizes, not from the models
    assert [r.n_params for r in rows] == [by_hand["proposed"], by_hand["base7"]]
    for row in rows:
        assert row.description == describe_model(row.name)
        assert row.forward_ms is not None and row.forward_ms > 0
    table = format_model_table(rows, n_frames=20)
    assert table.splitlines()[0].split()[:2] == ["model", "what"]
    assert f"{rows[0].n_params:,}" in table and rows[1].description in table


def test_summaries_without_timing():
    (row,) = summarize_models(names=["base6"], timing=False)
    assert row.forward_ms is None
    assert format_model_table([row]).splitlines()[-1].endswith("-")


def test_time_forward_needs_a_run():
    with pytest.raises(ValueError, match="repeats"):
        time_forward(create_model("base7", 4), 40, 10, repeats=0)


def test_count_parameters_counts_trainable_values_only():
    layer = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2), nn.Linear(2, 5, bias=False))
    assert count_parameters(layer) == (3 * 2 + 2) + (2 + 2) + 2 * 5  # buffers not counted
    layer[0].requires_grad_(False)
    assert count_parameters(layer) == (2 + 2) + 2 * 5
