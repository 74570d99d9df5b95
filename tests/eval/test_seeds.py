"""Seed groups: mean and std across seeds, and the seed ensemble of probabilities."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.eval.rundir import ReportError, init_run, seed_runs, write_fold
from sertk.eval.seeds import aggregate_seeds
from tests.eval.test_compare import LABELS, N_FOLDS, folds, make_run, truth


def test_mean_and_std_across_seeds(tmp_path):
    make_run(tmp_path / "g" / "seed-0", [2] * N_FOLDS)  # UA 0.9 on every fold
    make_run(tmp_path / "g" / "seed-1", [4] * N_FOLDS)  # UA 0.8
    make_run(tmp_path / "g" / "seed-10", [0] * N_FOLDS)  # UA 1.0; sorted by number, not text
    for seed in ("seed-0", "seed-1", "seed-10"):
        from sertk.eval.report import aggregate_run
        aggregate_run(tmp_path / "g" / seed, plots=False)
    assert [d.name for d in seed_runs(tmp_path / "g")] == ["seed-0", "seed-1", "seed-10"]
    metrics = aggregate_seeds(tmp_path / "g")
    assert metrics["across_seeds"]["mean_ua"]["mean"] == pytest.approx(0.9)
    assert metrics["across_seeds"]["mean_ua"]["std"] == pytest.approx(0.1)
    assert json.loads((tmp_path / "g" / "metrics.json").read_text())["seeds"][2]["seed"] == "10"
    assert "**90.00 ± 10.00**" in (tmp_path / "g" / "report.md").read_text()


def test_the_ensemble_averages_probabilities(tmp_path):
    from sertk.eval.report import aggregate_run

    plan = folds()
    for seed, (p_a, p_b) in enumerate([((0.4, 0.6), (0.1, 0.9)), ((0.9, 0.1), (0.45, 0.55))]):
        run = tmp_path / "g" / f"seed-{seed}"
        init_run(run, plan, LABELS, protocol="lospk")
        for fold in plan:
            y = truth(fold)
            probs = np.array([p_a if c == "a" else p_b for c in y])
            write_fold(run, fold, list(fold.test_ids), y, probs, LABELS)
        aggregate_run(run, plots=False)
    metrics = aggregate_seeds(tmp_path / "g")
    # seed 0 gets every 'a' wrong (UA 0.5), seed 1 every 'a' right (UA 1.0); the mean of the
    # probabilities is right for both classes: a (0.65, 0.35), b (0.275, 0.725)
    assert [s["mean_ua"] for s in metrics["seeds"]] == pytest.approx([0.5, 1.0])
    assert metrics["ensemble"]["pooled"]["ua"] == pytest.approx(1.0)
    assert metrics["ensemble"]["mean"]["ua"] == pytest.approx(1.0)


def test_a_group_without_finished_seeds_is_refused(tmp_path):
    (tmp_path / "g" / "seed-0").mkdir(parents=True)
    with pytest.raises(ReportError, match="no finished"):
        aggregate_seeds(tmp_path / "g")


def test_an_unfinished_seed_is_left_out_and_named(tmp_path):
    import shutil

    from sertk.eval.report import aggregate_run

    make_run(tmp_path / "g" / "seed-0", [2] * N_FOLDS)  # UA 0.9
    make_run(tmp_path / "g" / "seed-1", [4] * N_FOLDS)  # UA 0.8, but one fold never finished
    shutil.rmtree(tmp_path / "g" / "seed-1" / "fold-05")
    aggregate_run(tmp_path / "g" / "seed-0", plots=False)
    aggregate_run(tmp_path / "g" / "seed-1", partial=True, plots=False)
    metrics = aggregate_seeds(tmp_path / "g")
    assert [s["seed"] for s in metrics["seeds"]] == ["0"]
    assert metrics["across_seeds"]["mean_ua"]["mean"] == pytest.approx(0.9)
    assert metrics["unfinished_seeds"] == ["seed-1"]
    assert "Not included (unfinished): seed-1." in (tmp_path / "g" / "report.md").read_text()
