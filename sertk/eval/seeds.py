"""Seed groups: one recipe trained with several seeds on the same folds.

On small corpora one seed decides nothing (EmoDB per-fold UA spans tens of points and
moves by several points between seeds). A seed group is a folder of run directories
``seed-<s>/`` (``sertk cv --seeds 0,1,2`` writes one). :func:`aggregate_seeds` reports:

- per seed: fold-mean UA/WA and pooled UA/WA (each seed's run-level metrics);
- across seeds: the mean and the sample std (n-1) of those numbers;
- the **seed ensemble**: each test utterance's probabilities averaged over the seeds,
  then scored like a run of its own (fold mean and pooled), a separate row, since
  it is a different (larger) system.

The group's ``metrics.json`` and ``report.md`` are written beside the seed folders.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from sertk.eval.metrics import fold_metrics, summarize
from sertk.eval.report import markdown_table
from sertk.eval.rundir import (METRICS_FILE, REPORT_FILE, SEED_PREFIX, ReportError,
                               is_finished, read_json, read_predictions, read_run, seed_runs,
                               write_json)
from sertk.fileio import atomic_write

KEYS = ("ua", "wa")


def aggregate_seeds(group: str | Path, *, name: str | None = None) -> dict:
    """Aggregate the finished seed runs of ``group`` (all folds reported); writes
    ``metrics.json`` and ``report.md``, which name the unfinished seeds left out;
    ``name`` titles the report (default: the folder's name).

    Raises:
        ReportError: no finished seed run, or seeds tested on different utterances.
    """
    group = Path(group)
    every = seed_runs(group)
    runs = [d for d in every if is_finished(d)]
    unfinished = [d.name for d in every if d not in runs]
    if not runs:
        raise ReportError(f"{group}: no finished seed-*/ run (each needs a {METRICS_FILE} "
                          "of all its folds)")
    per_seed = []
    for run in runs:
        m = read_json(run / METRICS_FILE)
        try:
            per_seed.append({"seed": run.name[len(SEED_PREFIX):],
                             **{f"mean_{k}": float(m["mean"][k]) for k in KEYS},
                             **{f"pooled_{k}": float(m["pooled"][k]) for k in KEYS}})
        except (KeyError, TypeError, ValueError):
            raise ReportError(f"{run / METRICS_FILE}: no numeric mean and pooled UA/WA "
                              "(not a run-level metrics file)") from None
    across = {}
    for key in per_seed[0]:
        if key == "seed":
            continue
        values = np.array([s[key] for s in per_seed], dtype=float)
        across[key] = {"mean": float(values.mean()),
                       "std": float(values.std(ddof=1)) if len(values) > 1 else None}
    plan = read_run(runs[0])
    metrics = {"group": name or group.name, "protocol": plan["protocol"],
               "labels": plan["labels"], "info": plan["info"], "seeds": per_seed,
               "across_seeds": across, "ensemble": _ensemble(runs, plan),
               "unfinished_seeds": unfinished}
    write_json(group / METRICS_FILE, metrics)
    atomic_write(group / REPORT_FILE, render_seeds(metrics))
    return metrics


def _ensemble(runs: list[Path], plan: dict) -> dict:
    """Fold mean and pooled metrics of the seed-averaged probabilities."""
    labels = plan["labels"]
    preds = [read_predictions(run / "predictions.csv") for run in runs]
    order = {i: n for n, i in enumerate(preds[0].ids)}
    for run, p in zip(runs[1:], preds[1:]):
        if set(p.ids) != set(order):
            raise ReportError(f"{run}: tests other utterances than {runs[0]}")
    probs = np.mean([p.probs[[{i: n for n, i in enumerate(p.ids)}[k] for k in preds[0].ids]]
                     for p in preds], axis=0)
    y_true = list(preds[0].y_true)
    y_pred = [labels[j] for j in probs.argmax(axis=1)]
    per_fold = []
    folds = np.array(preds[0].folds)
    for fold in plan["folds"]:
        rows = np.flatnonzero(folds == fold.index)
        if rows.size:
            per_fold.append(fold_metrics([y_true[r] for r in rows], [y_pred[r] for r in rows],
                                         labels))
    summary = summarize(per_fold, y_true, y_pred, labels)
    return {"mean": summary["mean"], "std": summary["std"],
            "pooled": {k: summary["pooled"][k] for k in ("wa", "ua", "f1")}}


def render_seeds(metrics: dict) -> str:
    """The group's Markdown report."""
    def pct(x):
        return "" if x is None else f"{100 * x:.2f}"

    rows = [[f"seed {s['seed']}", pct(s["mean_ua"]), pct(s["pooled_ua"]), pct(s["mean_wa"]),
             pct(s["pooled_wa"])] for s in metrics["seeds"]]
    a = metrics["across_seeds"]
    rows.append(["**mean ± std over seeds**",
                 *(f"**{pct(a[k]['mean'])} ± {pct(a[k]['std']) or 'n/a'}**"
                   for k in ("mean_ua", "pooled_ua", "mean_wa", "pooled_wa"))])
    e = metrics["ensemble"]
    rows.append(["seed ensemble (mean probabilities)", pct(e["mean"]["ua"]),
                 pct(e["pooled"]["ua"]), pct(e["mean"]["wa"]), pct(e["pooled"]["wa"])])
    info = metrics.get("info", {})
    lines = [f"# Seed group `{metrics['group']}`: {info.get('model', 'model ?')}, "
             f"{metrics['protocol']}, {len(metrics['seeds'])} seed(s)", "",
             "Rates in %. Fold mean = mean UA over the folds of one seed; the std is across "
             "seeds (n-1). The ensemble averages each test utterance's probabilities over "
             "the seeds.", "",
             markdown_table(["", "fold-mean UA", "pooled UA", "fold-mean WA", "pooled WA"], rows)]
    if metrics.get("unfinished_seeds"):
        lines += ["", "Not included (unfinished): " + ", ".join(metrics["unfinished_seeds"]) + "."]
    return "\n".join(lines) + "\n"
