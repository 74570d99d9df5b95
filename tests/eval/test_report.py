"""aggregate_run, report.md and the ablation table."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from sertk.data.manifest import Utterance
from sertk.data.splits import make_folds
from sertk.eval.report import (MODEL_TITLES, PAPER_IEMOCAP, aggregate_run, ablation_table,
                               confusion_table, markdown_table, read_metrics, write_ablation)
from sertk.eval.rundir import (IncompleteRunError, ReportError, fold_dir, init_run, read_json,
                               write_fold, write_history)

LABELS = ["ang", "hap", "sad"]
N = 24
WRONG = {f"u{i:02d}" for i in range(0, N, 5)}  # u00 u05 u10 u15 u20 are mispredicted


def label_of(uid: str) -> str:
    return LABELS[int(uid[1:]) % 3]


def make_run(run_dir, *, model="proposed", skip=(), params=1000, seconds=30.0):
    """A lospk run over 4 speakers; predictions right except WRONG (predicted as next class)."""
    utts = [Utterance(f"u{i:02d}", "x.wav", label_of(f"u{i:02d}"), speaker=f"s{i % 4}")
            for i in range(N)]
    folds = make_folds(utts, "lospk")
    init_run(run_dir, folds, LABELS, protocol="lospk", info={"model": model})
    for fold in folds:
        if fold.index in skip:
            continue
        y_true = [label_of(i) for i in fold.test_ids]
        pred = [LABELS[(LABELS.index(y) + (i in WRONG)) % 3] for i, y in zip(fold.test_ids, y_true)]
        probs = np.eye(3)[[LABELS.index(p) for p in pred]] * 0.9 + 0.1 / 3
        write_fold(run_dir, fold, fold.test_ids, y_true, probs, LABELS,
                   info={"params": params, "train_seconds": seconds, "best_epoch": 3})
    return folds


def test_aggregate_run_writes_consistent_run_files(tmp_path):
    folds = make_run(tmp_path)
    m = aggregate_run(tmp_path, plots=False)
    assert m["complete"] and m["n_folds"] == 4 and m["missing_folds"] == []
    assert m["pooled"]["n"] == N
    assert m["pooled"]["wa"] == pytest.approx((N - len(WRONG)) / N)
    # u00 u15 are ang->hap, u10 hap->sad, u05 u20 sad->ang; 8 of each class
    assert m["pooled"]["confusion"] == [[6, 2, 0], [0, 7, 1], [2, 0, 6]]
    assert m["pooled"]["ua"] == pytest.approx((6 / 8 + 7 / 8 + 6 / 8) / 3)
    fold_wa = [f["wa"] for f in m["folds"]]
    assert m["mean"]["wa"] == pytest.approx(np.mean(fold_wa))
    assert m["std"]["wa"] == pytest.approx(np.std(fold_wa, ddof=1))
    assert m["params"] == 1000 and m["train_seconds"] == pytest.approx(4 * 30.0)
    assert read_json(tmp_path / "metrics.json")["pooled"]["confusion"] == m["pooled"]["confusion"]
    with open(tmp_path / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted(r["id"] for r in rows) == sorted(f"u{i:02d}" for i in range(N))
    assert {r["fold"] for r in rows} == {"0", "1", "2", "3"}
    assert list(rows[0])[-3:] == ["prob_ang", "prob_hap", "prob_sad"]
    report = (tmp_path / "report.md").read_text()
    for needle in ["lospk", "± ", f"{100 * m['pooled']['ua']:.2f}", folds[2].name,
                   "| **ang** | 6 | 2 | 0 | 8 |", "| **hap** | 0.0 | 87.5 | 12.5 |"]:
        assert needle in report, needle
    assert not (tmp_path / "confusion.png").exists()


def test_missing_folds_are_refused_unless_partial(tmp_path):
    folds = make_run(tmp_path, skip=(1, 3))
    with pytest.raises(IncompleteRunError, match=f"2 of 4 folds.*fold-01 \\({folds[1].name}\\)"
                                                 f".*fold-03.*partial=True"):
        aggregate_run(tmp_path, plots=False)
    assert not (tmp_path / "report.md").exists()
    m = aggregate_run(tmp_path, partial=True, plots=False)
    assert not m["complete"] and m["missing_folds"] == [folds[1].name, folds[3].name]
    assert m["pooled"]["n"] == len(folds[0].test_ids) + len(folds[2].test_ids)
    assert "Partial run: folds missing" in (tmp_path / "report.md").read_text()


def test_no_fold_done_is_refused_even_partial(tmp_path):
    make_run(tmp_path, skip=(0, 1, 2, 3))
    with pytest.raises(IncompleteRunError, match="4 of 4 folds"):
        aggregate_run(tmp_path, partial=True, plots=False)


def test_predictions_must_match_the_fold_test_ids(tmp_path):
    folds = make_run(tmp_path)
    short = folds[0].test_ids[1:]  # written by index, so write_fold cannot check the ids
    write_fold(tmp_path, 0, short, [label_of(i) for i in short], np.full((len(short), 3), 1 / 3),
               LABELS)
    with pytest.raises(ReportError, match="fold-00/predictions.csv.*1 missing, 0 unexpected"):
        aggregate_run(tmp_path, plots=False)


def test_aggregate_with_plots_draws_confusion_and_curves(tmp_path):
    make_run(tmp_path)
    write_history(fold_dir(tmp_path, 2), [{"epoch": e, "train_loss": 1 / e, "val_loss": 1.1 / e,
                                           "val_ua": 0.1 * e, "val_wa": 0.1 * e} for e in (1, 2, 3)])
    aggregate_run(tmp_path)
    assert (tmp_path / "confusion.png").stat().st_size > 0
    assert (fold_dir(tmp_path, 2) / "curves.png").stat().st_size > 0
    assert not (fold_dir(tmp_path, 1) / "curves.png").exists()
    assert "![pooled confusion matrix](confusion.png)" in (tmp_path / "report.md").read_text()


def test_ablation_table_follows_the_paper_layout(tmp_path):
    runs = {}
    for name, params in [("proposed", 2_500_000), ("base7", 800_000), ("base1", 2_000_000)]:
        runs[name] = tmp_path / name
        make_run(runs[name], model=name, params=params, seconds=4000.0)
        aggregate_run(runs[name], plots=False)
    out = write_ablation(runs, tmp_path / "ablation")
    lines = out.read_text().splitlines()
    table = [line for line in lines if line.startswith("| ")]
    assert table[0].split(" | ")[1:3] == ["WA (%)", "UA (%)"]
    # paper order: Base1 .. Base7, then ours
    assert [row.split(" | ")[0][2:] for row in table[1:]] == [
        MODEL_TITLES["base1"], MODEL_TITLES["base7"], MODEL_TITLES["proposed"]]
    ours = table[-1]
    m = read_metrics(runs["proposed"])
    assert f"{100 * m['mean']['ua']:.2f} ± {100 * m['std']['ua']:.2f}" in ours
    assert "2.50 M" in ours and "4 h 26 min" in ours  # 4 folds x 4000 s
    assert f"| {PAPER_IEMOCAP['proposed'][0]:.2f} | {PAPER_IEMOCAP['proposed'][1]:.2f} |" in ours
    assert (tmp_path / "ablation" / "confusion-grid.png").stat().st_size > 0
    saved = read_json(tmp_path / "ablation" / "ablation.json")
    assert saved["base7"]["paper_iemocap"] == list(PAPER_IEMOCAP["base7"])


def test_ablation_unknown_model_goes_last_without_paper_numbers(tmp_path):
    make_run(tmp_path / "r")
    m = aggregate_run(tmp_path / "r", plots=False)
    rows = ablation_table({"mine": m, "proposed": m}).splitlines()[2:]
    assert rows[0].startswith(f"| {MODEL_TITLES['proposed']}") and rows[1].startswith("| mine")
    assert rows[1].endswith("| – | – |")


def test_read_metrics_needs_an_aggregated_run(tmp_path):
    with pytest.raises(ReportError, match="sertk report"):
        read_metrics(tmp_path)
    make_run(tmp_path)
    shutil.copy(fold_dir(tmp_path, 0) / "metrics.json", tmp_path / "metrics.json")
    with pytest.raises(ReportError, match="not a run-level metrics file"):
        read_metrics(tmp_path)


def test_markdown_helpers():
    assert markdown_table(["a", "b"], [[1, "x|y"]]) == "| a | b |\n|:---|---:|\n| 1 | x\\|y |"
    table = confusion_table([[3, 1], [0, 0]], ["p", "q"], normalize=True)
    assert "| **p** | 75.0 | 25.0 |" in table and "| **q** | – | – |" in table
