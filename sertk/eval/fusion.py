"""Late fusion: several systems' test probabilities averaged into one run directory.

Systems that err differently (a neural model on log-mels, a linear model on openSMILE
functionals) often err less together. :func:`fuse_runs` takes runs made on the same folds
(same protocol, labels and test utterances; a member may be a seed group, whose seeds are
averaged first) and writes a run directory whose every test utterance gets the
equal-weight mean of the members' probabilities. Equal weights are the rule on purpose:
choosing weights needs predictions on held-out data that no test fold may provide. The
result reads like any run: ``sertk report``, ``sertk compare``.

A linear SVM's "probabilities" are a softmax of its decision scores
(:mod:`sertk.classical.linear`), so its share of the vote follows the scale of its scores.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from sertk.eval.record import FinishedFold, fold_results
from sertk.eval.report import aggregate_run
from sertk.eval.rundir import ReportError, init_run, read_run, runs_of, write_fold


def fuse_runs(members: Sequence[str | Path], out_dir: str | Path, *,
              names: Sequence[str] | None = None, plots: bool = True) -> dict:
    """Write the fusion of ``members`` (run directories or seed groups) to ``out_dir``.

    Returns the fused run's metrics (:func:`~sertk.eval.report.aggregate_run`).

    Raises:
        ReportError: fewer than two members, an unfinished fold, or members that differ in
            protocol, labels, folds or test utterances (naming the member).
    """
    members = [Path(m) for m in members]
    names = list(names) if names is not None else [m.name for m in members]
    if len(members) < 2 or len(names) != len(members):
        raise ReportError("fusion needs at least two runs and one name per run")
    runs = [runs_of(m) for m in members]
    plans = [[read_run(run) for run in seeds] for seeds in runs]
    plan = plans[0][0]
    labels = list(plan["labels"])
    for seeds, seed_plans in zip(runs, plans):
        for run, other in zip(seeds, seed_plans):
            if (other["protocol"], sorted(other["labels"]), other["folds"]) != (
                    plan["protocol"], sorted(labels), plan["folds"]):
                raise ReportError(f"{run}: another protocol, label set or split than "
                                  f"{runs[0][0]}; fuse runs made on the same folds")
    results = [[{r.fold.index: r for r in fold_results(run)} for run in seeds] for seeds in runs]
    normalisations = [p[0]["info"].get("normalisation", "fold") for p in plans]
    out_dir = Path(out_dir)
    init_run(out_dir, plan["folds"], labels, protocol=plan["protocol"],
             info={"model": "fusion of " + " + ".join(names), "members": names,
                   "normalisation": " + ".join(dict.fromkeys(normalisations))})
    for fold in plan["folds"]:
        ids, y_true, probs = _member_fold(results[0], fold.index, labels)
        for seeds, seed_results in zip(runs[1:], results[1:]):
            other_ids, other_true, other_probs = _member_fold(seed_results, fold.index, labels)
            order = {i: n for n, i in enumerate(other_ids)}
            rows = [order[i] for i in ids]
            if [other_true[r] for r in rows] != list(y_true):
                raise ReportError(f"{seeds[0]}: {fold.name} holds other true labels")
            probs = probs + other_probs[rows]
        write_fold(out_dir, fold, ids, y_true, probs / len(runs), labels,
                   info={"members": names})
    return aggregate_run(out_dir, plots=plots)


def _member_fold(seeds: list[dict[int, FinishedFold]], index: int, labels: list[str]):
    """(ids, y_true, probs (N, C) in ``labels`` order) of fold ``index``, mean over seeds."""
    total = None
    for results in seeds:
        preds = results[index].predictions
        columns = [list(preds.labels).index(c) for c in labels]
        if total is None:
            ids, y_true, total = preds.ids, preds.y_true, preds.probs[:, columns]
        else:
            order = {i: n for n, i in enumerate(preds.ids)}
            total = total + preds.probs[[order[i] for i in ids]][:, columns]
    return ids, y_true, total / len(seeds)
