"""Comparisons: per-fold UA, the Wilcoxon test and the paired bootstrap on known runs."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score

from sertk.data.splits import Fold
from sertk.eval.compare import compare_runs, load_run, render_comparison
from sertk.eval.metrics import unweighted_accuracy
from sertk.eval.rundir import ReportError, init_run, write_fold

LABELS = ["a", "b"]
N_FOLDS, PER_FOLD = 10, 20


def folds() -> list[Fold]:
    ids = [f"u{i:03d}" for i in range(N_FOLDS * PER_FOLD)]
    return [Fold(k, f"speaker={k}", tuple(i for i in ids if int(i[1:]) // PER_FOLD != k), (),
                 tuple(ids[k * PER_FOLD:(k + 1) * PER_FOLD])) for k in range(N_FOLDS)]


def truth(fold: Fold) -> list[str]:
    return ["a" if int(i[1:]) % 2 == 0 else "b" for i in fold.test_ids]


def make_run(path, wrong_per_fold: list[int], val_ua: float | None = None):
    """A run whose fold k gets ``wrong_per_fold[k]`` of its 'a' utterances wrong (and,
    optionally, recorded ``val_ua + k / 100`` as its selected validation UA)."""
    plan = folds()
    init_run(path, plan, LABELS, protocol="lospk")
    for fold, wrong in zip(plan, wrong_per_fold):
        y = truth(fold)
        pred = list(y)
        for n in [j for j, c in enumerate(y) if c == "a"][:wrong]:
            pred[n] = "b"
        probs = np.array([[0.9, 0.1] if p == "a" else [0.1, 0.9] for p in pred])
        info = {} if val_ua is None else {"best_val_ua": val_ua + fold.index / 100}
        write_fold(path, fold, list(fold.test_ids), y, probs, LABELS, info=info)
    return path


def test_unweighted_accuracy_equals_balanced_accuracy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        y = rng.integers(0, 4, 50).astype(str)
        p = rng.integers(0, 5, 50).astype(str)  # a class never true, as on EmoDB speakers
        assert unweighted_accuracy(y, p) == pytest.approx(balanced_accuracy_score(y, p))


def test_per_fold_ua_and_an_exact_wilcoxon_p(tmp_path):
    base = load_run(make_run(tmp_path / "base", [4] * N_FOLDS))
    better = load_run(make_run(tmp_path / "better", [2, 1, 0, 3, 2, 1, 0, 3, 2, 1]))
    # fold UA: class a has 10 utterances, b 10 always right -> UA = (1 - wrong/10 + 1) / 2
    assert base.fold_ua()["speaker=0"] == pytest.approx(0.8)
    assert better.fold_ua()["speaker=3"] == pytest.approx(0.85)
    (c,) = compare_runs([base, better], n_boot=500)
    diffs = np.array([(4 - w) / 20 for w in [2, 1, 0, 3, 2, 1, 0, 3, 2, 1]]) * 100
    assert c.mean_diff == pytest.approx(diffs.mean())
    assert (c.wins, c.losses) == (10, 0)
    # all ten differences positive: the exact two-sided signed-rank p is 2 / 2**10
    assert c.wilcoxon_p == pytest.approx(2 / 1024)
    assert c.pooled_diff == pytest.approx(diffs.mean())
    assert c.ci_low < c.pooled_diff < c.ci_high and c.ci_low > 0


def test_identical_runs_differ_by_nothing(tmp_path):
    a = load_run(make_run(tmp_path / "a", [3] * N_FOLDS))
    b = load_run(make_run(tmp_path / "b", [3] * N_FOLDS))
    (c,) = compare_runs([a, b], n_boot=200)
    assert c.mean_diff == 0 and c.wilcoxon_p is None and c.ci_low == c.ci_high == 0


def test_seed_groups_average_their_seeds(tmp_path):
    make_run(tmp_path / "group" / "seed-0", [2] * N_FOLDS)
    make_run(tmp_path / "group" / "seed-1", [4] * N_FOLDS)
    group = load_run(tmp_path / "group")
    assert group.seeds == 2
    assert group.fold_ua()["speaker=5"] == pytest.approx((0.9 + 0.8) / 2)
    assert group.pooled_ua() == pytest.approx(0.85)


def test_runs_on_other_folds_are_refused(tmp_path):
    a = load_run(make_run(tmp_path / "a", [3] * N_FOLDS))
    plan = folds()[:5]
    init_run(tmp_path / "short", plan, LABELS, protocol="lospk")
    for fold in plan:
        write_fold(tmp_path / "short", fold, list(fold.test_ids), truth(fold),
                   np.tile([0.9, 0.1], (PER_FOLD, 1)), LABELS)
    with pytest.raises(ReportError, match="same folds"):
        compare_runs([a, load_run(tmp_path / "short")])


def test_an_unfinished_fold_is_named(tmp_path):
    plan = folds()
    init_run(tmp_path / "half", plan, LABELS, protocol="lospk")
    with pytest.raises(ReportError, match="fold-00"):
        load_run(tmp_path / "half")


def test_markdown_has_a_row_per_fold_and_the_statistics(tmp_path):
    runs = [load_run(make_run(tmp_path / n, w), name=n)
            for n, w in (("svm", [4] * N_FOLDS), ("net", [1] * N_FOLDS))]
    text = render_comparison(runs, compare_runs(runs, n_boot=100))
    assert text.count("| speaker=") == N_FOLDS
    assert "| net | +15.0 | 10/0 | 0.002 | +15.0 |" in text


def test_cli_prints_and_writes_the_table(tmp_path, capsys):
    from sertk.cli import main

    make_run(tmp_path / "svm", [4] * N_FOLDS)
    make_run(tmp_path / "net", [1] * N_FOLDS)
    out = tmp_path / "cmp.md"
    assert main(["compare", str(tmp_path / "svm"), str(tmp_path / "net"), "--boot", "50",
                 "--out", str(out)]) == 0
    assert "| net | +15.0 |" in capsys.readouterr().out and "| net | +15.0 |" in out.read_text()
    assert main(["compare", str(tmp_path / "svm")]) == 2
    assert main(["compare", str(tmp_path / "svm"), str(tmp_path / "nothing")]) == 2
    assert "nothing" in capsys.readouterr().err


def test_the_validation_row_is_the_mean_selected_validation_ua(tmp_path):
    a = load_run(make_run(tmp_path / "a", [3] * N_FOLDS, val_ua=0.5))
    b = load_run(make_run(tmp_path / "b", [3] * N_FOLDS))  # no validation recorded
    assert a.mean_val_ua() == pytest.approx(0.5 + 0.045)
    assert b.mean_val_ua() is None
    text = render_comparison([a, b], compare_runs([a, b], n_boot=10), n_boot=10)
    assert "| validation UA (selection) | 54.5 | n/a |" in text and "(10 resamples)" in text
