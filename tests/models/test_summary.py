import pytest

from sertk.models import create_model, describe_model
from sertk.models.summary import (UTTERANCE_FRAMES, count_parameters, format_model_table,
                                  summarize_models, time_forward)


def test_utterance_is_four_seconds_of_frames():
    assert UTTERANCE_FRAMES == 1 + 4 * 16000 // 160


def test_summaries_describe_and_count_each_model():
    rows = summarize_models(n_classes=4, n_frames=20, repeats=1, names=["proposed", "base7"])
    assert [r.name for r in rows] == ["proposed", "base7"]
    for row in rows:
        assert row.n_params == count_parameters(create_model(row.name, n_classes=4))
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
