"""Dimensional ratings in a run directory: fold files, run metrics, report and scatter plots."""
from __future__ import annotations

import csv

import numpy as np
import pytest

from sertk.data.manifest import Utterance
from sertk.data.splits import make_folds
from sertk.eval.dimensional import dimension_metrics
from sertk.eval.report import aggregate_run
from sertk.eval.rundir import (ReportError, fold_dir, init_run, read_json, read_predictions,
                               write_fold)

LABELS = ["ang", "sad"]
DIMS = ("arousal", "valence")


def ratings(uid: str) -> tuple[np.ndarray, np.ndarray]:
    i = int(uid[1:])
    true = np.array([1.0 + (i * 7 % 9) / 2, 1.0 + (i * 5 % 9) / 2])
    return true, true * 0.8 + 0.5 + 0.3 * (i % 4)


def make_run(run_dir):
    utts = [Utterance(f"u{i:02d}", "x.wav", LABELS[i % 2], speaker=f"s{i % 3}")
            for i in range(18)]
    folds = make_folds(utts, "lospk")
    init_run(run_dir, folds, LABELS, protocol="lospk", info={"model": "proposed"})
    for fold in folds:
        y = [LABELS[int(i[1:]) % 2] for i in fold.test_ids]
        true, pred = (np.array([ratings(i)[k] for i in fold.test_ids]) for k in (0, 1))
        write_fold(run_dir, fold, fold.test_ids, y, np.eye(2)[[LABELS.index(c) for c in y]],
                   LABELS, dimensions=DIMS, dims_true=true, dims_pred=pred)
    return folds


def test_fold_and_run_metrics_report_ccc_pcc_mae(tmp_path):
    folds = make_run(tmp_path)
    fold0 = read_json(fold_dir(tmp_path, 0) / "metrics.json")
    true, pred = (np.array([ratings(i)[k] for i in folds[0].test_ids]) for k in (0, 1))
    want = dimension_metrics(true, pred, DIMS)
    for name in DIMS:
        assert fold0["dimensions"][name] == pytest.approx(want[name])
        assert 0 < want[name]["ccc"] < want[name]["pcc"] < 1
    back = read_predictions(fold_dir(tmp_path, 0) / "predictions.csv")
    assert back.dimensions == DIMS
    np.testing.assert_allclose(back.dims_pred, pred, rtol=1e-5)

    m = aggregate_run(tmp_path, plots=True)
    per_fold = [f["dimensions"]["valence"]["ccc"] for f in m["folds"]]
    assert m["dimensions"]["mean"]["valence"]["ccc"] == pytest.approx(np.mean(per_fold))
    assert m["dimensions"]["std"]["valence"]["ccc"] == pytest.approx(np.std(per_fold, ddof=1))
    everything = [ratings(f"u{i:02d}") for i in range(18)]
    pooled = dimension_metrics(np.array([t for t, _ in everything]),
                               np.array([p for _, p in everything]), DIMS)
    assert m["dimensions"]["pooled"]["arousal"]["mae"] == pytest.approx(
        pooled["arousal"]["mae"])
    report = (tmp_path / "report.md").read_text()
    assert "## Dimensions" in report and "CCC (folds)" in report
    row = next(line for line in report.splitlines() if line.startswith("| valence"))
    assert f"{m['dimensions']['pooled']['valence']['ccc']:.3f}" in row
    for name in DIMS:
        assert (tmp_path / f"scatter-{name}.png").stat().st_size > 1000
        assert f"(scatter-{name}.png)" in report
    with open(tmp_path / "predictions.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[-4:] == ["true_arousal", "pred_arousal", "true_valence", "pred_valence"]


def test_a_run_without_dimensions_has_no_dimension_output(tmp_path):
    utts = [Utterance(f"u{i}", "x.wav", LABELS[i % 2], speaker=f"s{i % 3}") for i in range(6)]
    folds = make_folds(utts, "lospk")
    init_run(tmp_path, folds, LABELS, protocol="lospk")
    for fold in folds:
        write_fold(tmp_path, fold, fold.test_ids, [LABELS[int(i[1:]) % 2] for i in fold.test_ids],
                   np.full((len(fold.test_ids), 2), 0.5), LABELS)
    m = aggregate_run(tmp_path, plots=False)
    assert "dimensions" not in m and "dimensions" not in m["folds"][0]
    assert "## Dimensions" not in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob("scatter-*.png"))


@pytest.mark.parametrize("edit", ["nan", "text", "unpaired"])
def test_bad_rating_columns_are_refused(tmp_path, edit):
    make_run(tmp_path)
    path = fold_dir(tmp_path, 0) / "predictions.csv"
    lines = path.read_text().splitlines()
    if edit == "unpaired":
        lines[0] = lines[0].replace("pred_valence", "pred_dominance")
    else:
        cells = lines[1].split(",")
        cells[-1] = "nan" if edit == "nan" else "high"
        lines[1] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ReportError, match=str(path)):
        read_predictions(path)
