"""Cross-validation: every fold, run-level report, skipping, fan-out by fold."""
from __future__ import annotations

import json

import pytest

from sertk.eval.rundir import read_run
from sertk.train.config import ConfigError
from sertk.train.cv import cross_validate


def test_all_folds_then_the_report(tiny, corpus, tmp_path):
    utts, feats = corpus
    metrics = cross_validate(tiny.replace(max_epochs=2), utts, tmp_path, features=feats)
    assert metrics["complete"] and metrics["n_folds"] == 4
    assert metrics["pooled"]["n"] == len(utts)
    for name in ("config.yaml", "config.json", "run.json", "metrics.json", "predictions.csv",
                 "report.md", "confusion.png"):
        assert (tmp_path / name).is_file(), name
    for k in range(4):
        assert (tmp_path / f"fold-{k:02d}" / "curves.png").is_file()
    plan = read_run(tmp_path)
    assert plan["protocol"] == "lospk" and len(plan["folds"]) == 4
    assert {m["info"]["model"] for m in metrics["folds"]} == {"base7"}
    assert len((tmp_path / "predictions.csv").read_text().splitlines()) == len(utts) + 1


def test_fan_out_by_fold_reports_when_the_last_fold_lands(tiny, corpus, tmp_path):
    utts, feats = corpus
    config = tiny.replace(max_epochs=1)
    results = [cross_validate(config.replace(fold=k), utts, tmp_path, features=feats)
               for k in (2, 0, 3)]
    assert results == [None, None, None] and not (tmp_path / "report.md").exists()
    metrics = cross_validate(config.replace(fold=1), utts, tmp_path, features=feats)
    assert metrics["complete"] and (tmp_path / "report.md").is_file()
    # a rerun of the whole protocol finds every fold done and retrains nothing
    stamp = (tmp_path / "fold-00" / "history.csv").stat().st_mtime_ns
    again = cross_validate(config, utts, tmp_path, features=feats)
    assert (tmp_path / "fold-00" / "history.csv").stat().st_mtime_ns == stamp
    assert again["pooled"]["ua"] == metrics["pooled"]["ua"]


def test_max_folds_gives_a_partial_report(tiny, corpus, tmp_path):
    utts, feats = corpus
    metrics = cross_validate(tiny.replace(max_epochs=1, max_folds=2), utts, tmp_path,
                             features=feats)
    assert not metrics["complete"] and metrics["n_folds"] == 2
    assert len(metrics["missing_folds"]) == 2
    assert "Partial run" in (tmp_path / "report.md").read_text()


def test_kfold_protocol_and_errors(tiny, corpus, tmp_path):
    utts, feats = corpus
    metrics = cross_validate(tiny.replace(protocol="kfold", k=2, max_epochs=1), utts,
                             tmp_path / "k", features=feats)
    assert metrics["n_folds"] == 2 and metrics["pooled"]["n"] == len(utts)
    with pytest.raises(ConfigError, match="fold 7 does not exist"):
        cross_validate(tiny.replace(fold=7), utts, tmp_path / "x", features=feats)
    with pytest.raises(ConfigError, match="no test part"):
        cross_validate(tiny.replace(protocol="final"), utts, tmp_path / "y", features=feats)
    saved = json.loads((tmp_path / "k" / "config.json").read_text())
    assert saved["protocol"]["name"] == "kfold" and saved["protocol"]["k"] == 2
