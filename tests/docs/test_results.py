"""The published results recompute from their records: tables, reports and README figures.

Every folder of ``docs/results`` with a ``run.json`` is a record (``sertk publish``); every
``compare-*.md`` ends with the ``sertk compare`` command that made it. Rerunning that command
on the records must give the committed table to the letter, and every figure the README
quotes for a record must be the record's own.
"""
from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from sertk.eval.metrics import fold_metrics
from sertk.eval.record import fold_results
from sertk.eval.rundir import RUN_FILE, read_json, seed_runs

REPO = Path(__file__).resolve().parents[2]
RESULTS = REPO / "docs" / "results"
TABLES = sorted(RESULTS.glob("compare-*.md"))
RECORDS = sorted(p.parent for p in RESULTS.glob(f"**/{RUN_FILE}"))
GROUPS = sorted({p.parent.parent for p in RESULTS.glob(f"*/seed-*/{RUN_FILE}")})
MADE_BY = re.compile(r"^Made by `(sertk compare [^`]+)`\.$", re.M)
# a README results row: | ... | 60.27 ± 11.36 | 62.27 | `docs/results/NAME/` |
README_ROW = re.compile(r"\| \**([\d.]+)(?: ± [\d.]+)?\** \| \**([\d.]+)\** \| "
                        r"`(docs/results/[^`/]+)/` \|")


def test_there_is_something_to_check():
    assert len(TABLES) >= 3 and len(RECORDS) >= 10 and len(GROUPS) >= 6


@pytest.mark.parametrize("table", TABLES, ids=lambda p: p.name)
def test_a_comparison_recomputes_from_its_records(table, tmp_path, monkeypatch):
    from sertk.cli import main

    text = table.read_text()
    commands = MADE_BY.findall(text)
    assert len(commands) == 1, f"{table.name}: no 'Made by `sertk compare ...`' line"
    argv = shlex.split(commands[0])[1:]
    assert all(not a.startswith("runs/") for a in argv), "a table must be made from records"
    monkeypatch.chdir(REPO)
    out = tmp_path / table.name
    assert main(["-q", *argv, "--out", str(out)]) == 0
    assert out.read_text() == text


@pytest.mark.parametrize("record", RECORDS, ids=lambda p: str(p.relative_to(RESULTS)))
def test_a_record_holds_the_metrics_of_its_predictions(record):
    results = fold_results(record)  # every fold finished and its test part covered
    metrics = read_json(record / "metrics.json")
    for result, fold in zip(results, metrics["folds"]):
        preds = result.predictions
        assert fold["name"] == result.fold.name
        assert fold_metrics(preds.y_true, preds.y_pred, metrics["labels"])["ua"] == (
            pytest.approx(fold["ua"], abs=1e-9))
    y_true = [t for r in results for t in r.predictions.y_true]
    y_pred = [p for r in results for p in r.predictions.y_pred]
    assert fold_metrics(y_true, y_pred, metrics["labels"])["ua"] == (
        pytest.approx(metrics["pooled"]["ua"], abs=1e-9))


@pytest.mark.parametrize("group", GROUPS, ids=lambda p: p.name)
def test_a_group_report_is_the_mean_of_its_seeds(group):
    summary = read_json(group / "metrics.json")
    assert summary["group"] == group.name
    seeds = seed_runs(group)
    assert [s["seed"] for s in summary["seeds"]] == [p.name.split("-", 1)[1] for p in seeds]
    for key, field in (("mean_ua", ("mean", "ua")), ("pooled_ua", ("pooled", "ua"))):
        values = [read_json(p / "metrics.json")[field[0]][field[1]] for p in seeds]
        assert summary["across_seeds"][key]["mean"] == pytest.approx(np.mean(values))


def test_the_readme_quotes_the_records():
    rows = README_ROW.findall((REPO / "README.md").read_text())
    assert len(rows) >= 8
    for fold_mean, pooled, folder in rows:
        path = REPO / folder / "metrics.json"
        assert path.is_file(), f"README names {folder}, which has no metrics.json"
        metrics = read_json(path)
        if "across_seeds" in metrics:
            got = [metrics["across_seeds"][k]["mean"] for k in ("mean_ua", "pooled_ua")]
        else:
            got = [metrics["mean"]["ua"], metrics["pooled"]["ua"]]
        decimals = [len(x.split(".")[1]) for x in (fold_mean, pooled)]
        assert [round(g * 100, d) for g, d in zip(got, decimals)] == [
            float(fold_mean), float(pooled)], folder
