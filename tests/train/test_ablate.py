"""The ablation runner: several models, one protocol, Table 2 and the confusion grid."""
from __future__ import annotations

import json

import pytest

from sertk.train.ablation import ablate
from sertk.train.config import ConfigError


def test_ablation_table_and_grid(tiny, corpus, tmp_path):
    utts, feats = corpus
    config = tiny.replace(max_epochs=1, max_folds=2)
    path = ablate(config, utts, tmp_path, models=["base7", "base6"], features=feats)
    text = path.read_text()
    assert "Base7: BLSTM (baseline)" in text and "Base6: Conv-BLSTM" in text
    assert (tmp_path / "confusion-grid.png").is_file()
    table = json.loads((tmp_path / "ablation.json").read_text())
    assert set(table) == {"base7", "base6"}
    assert table["base6"]["params"] > table["base7"]["params"] > 0
    assert table["base7"]["train_seconds"] > 0
    for model in ("base7", "base6"):
        folds = [json.loads((tmp_path / model / f"fold-0{i}" / "metrics.json").read_text())
                 for i in (0, 1)]
        mean_ua = sum(f["ua"] for f in folds) / 2  # the table's numbers are the folds' mean
        assert table[model]["mean"]["ua"] == pytest.approx(mean_ua)
        assert f"{100 * mean_ua:.2f}" in text
        assert json.loads((tmp_path / model / "config.json").read_text())["model"]["name"] == model


def test_unknown_models_are_refused(tiny, corpus, tmp_path):
    utts, feats = corpus
    with pytest.raises(ConfigError, match="unknown model"):
        ablate(tiny, utts, tmp_path, models=["base9"], features=feats)
