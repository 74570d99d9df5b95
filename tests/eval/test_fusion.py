"""Late fusion: mean probabilities of runs on the same folds, written as a run of its own."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.data.splits import Fold
from sertk.eval.compare import load_run
from sertk.eval.fusion import fuse_runs
from sertk.eval.rundir import ReportError, init_run, read_predictions, write_fold

LABELS = ["ang", "hap", "sad"]
N_FOLDS, PER_FOLD = 3, 12


def folds() -> list[Fold]:
    ids = [f"u{i:03d}" for i in range(N_FOLDS * PER_FOLD)]
    return [Fold(k, f"speaker={k}", tuple(i for i in ids if int(i[1:]) // PER_FOLD != k), (),
                 tuple(ids[k * PER_FOLD:(k + 1) * PER_FOLD])) for k in range(N_FOLDS)]


def truth(fold: Fold) -> list[str]:
    return [LABELS[int(i[1:]) % 3] for i in fold.test_ids]


def make_run(path, seed: int, labels=LABELS, normalisation="fold", shuffle=False):
    """A run with random probabilities (columns in ``labels`` order; rows shuffled if asked)."""
    rng = np.random.default_rng(seed)
    plan = folds()
    init_run(path, plan, labels, protocol="lospk", info={"normalisation": normalisation})
    for fold in plan:
        ids, y = list(fold.test_ids), truth(fold)
        if shuffle:
            order = rng.permutation(len(ids))
            ids, y = [ids[j] for j in order], [y[j] for j in order]
        write_fold(path, fold, ids, y, rng.dirichlet(np.ones(len(labels)), len(ids)), labels)
    return path


def probs_by_id(run, labels=LABELS) -> dict[str, np.ndarray]:
    out = {}
    for fold in folds():
        p = read_predictions(run / f"fold-{fold.index:02d}" / "predictions.csv")
        columns = [list(p.labels).index(c) for c in labels]
        out.update({i: p.probs[n, columns] for n, i in enumerate(p.ids)})
    return out


def test_each_utterance_gets_the_mean_of_the_members(tmp_path):
    a = make_run(tmp_path / "a", 0)
    # same classes in another column order, rows in another order: aligned by name and id
    b = make_run(tmp_path / "b", 1, labels=["sad", "ang", "hap"], shuffle=True,
                 normalisation="utterance")
    metrics = fuse_runs([a, b], tmp_path / "fused", plots=False)
    pa, pb, fused = probs_by_id(a), probs_by_id(b), probs_by_id(tmp_path / "fused")
    assert set(fused) == set(pa)
    for i in fused:
        np.testing.assert_allclose(fused[i], (pa[i] + pb[i]) / 2, atol=1e-5)
    expected_pred = {i: LABELS[int(np.argmax(pa[i] + pb[i]))] for i in pa}
    assert metrics["complete"] and metrics["pooled"]["n"] == N_FOLDS * PER_FOLD
    for fold in folds():
        p = read_predictions(tmp_path / "fused" / f"fold-{fold.index:02d}" / "predictions.csv")
        assert list(p.y_pred) == [expected_pred[i] for i in p.ids]
    plan = json.loads((tmp_path / "fused" / "run.json").read_text())
    assert plan["info"]["members"] == ["a", "b"]
    assert plan["info"]["normalisation"] == "fold + utterance"
    assert "fusion of a + b" in (tmp_path / "fused" / "report.md").read_text()
    assert load_run(tmp_path / "fused").pooled_ua() == pytest.approx(metrics["pooled"]["ua"])


def test_a_seed_group_counts_once_with_its_seeds_averaged(tmp_path):
    make_run(tmp_path / "group" / "seed-0", 2)
    make_run(tmp_path / "group" / "seed-1", 3)
    single = make_run(tmp_path / "single", 4)
    fuse_runs([tmp_path / "group", single], tmp_path / "fused", plots=False)
    s0, s1 = probs_by_id(tmp_path / "group" / "seed-0"), probs_by_id(tmp_path / "group" / "seed-1")
    other, fused = probs_by_id(single), probs_by_id(tmp_path / "fused")
    for i in fused:
        np.testing.assert_allclose(fused[i], ((s0[i] + s1[i]) / 2 + other[i]) / 2, atol=1e-5)


def test_runs_that_cannot_be_fused_are_refused(tmp_path):
    a = make_run(tmp_path / "a", 0)
    with pytest.raises(ReportError, match="at least two runs"):
        fuse_runs([a], tmp_path / "x")
    other = tmp_path / "other"
    init_run(other, folds()[:2], LABELS, protocol="lospk")
    with pytest.raises(ReportError, match="same folds"):
        fuse_runs([a, other], tmp_path / "y")
    unfinished = tmp_path / "unfinished"
    init_run(unfinished, folds(), LABELS, protocol="lospk")
    with pytest.raises(ReportError, match="fold not finished"):
        fuse_runs([a, unfinished], tmp_path / "z")
    with pytest.raises(ReportError, match="not a run directory"):
        fuse_runs([a, tmp_path / "missing"], tmp_path / "w")


def test_cli_fuses_then_compares(tmp_path, capsys):
    from sertk.cli import main

    make_run(tmp_path / "a", 0)
    make_run(tmp_path / "b", 1)
    out = tmp_path / "fused"
    assert main(["fuse", str(tmp_path / "a"), str(tmp_path / "b"), "--names", "x,y", "-o",
                 str(out), "--no-plots"]) == 0
    assert "fusion of x + y" in capsys.readouterr().out
    assert main(["compare", str(tmp_path / "a"), str(out), "--boot", "50"]) == 0
    assert main(["fuse", str(tmp_path / "a"), "-o", str(tmp_path / "n")]) == 2
    assert "at least two runs" in capsys.readouterr().err
