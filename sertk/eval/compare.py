"""Comparing systems on the same folds: per-fold table, paired test, bootstrap interval.

Per-fold UA spans tens of points on small corpora, so a difference between two runs
means something only against the spread of its folds. For runs made on the same folds
(same protocol, same test utterances) :func:`compare_runs` gives:

- the UA of every system on every fold, and its fold mean and pooled UA;
- for each system against the first (the baseline): the mean per-fold difference, the
  Wilcoxon signed-rank test of the per-fold differences (two-sided, ``scipy.stats``;
  folds with no difference dropped, as Wilcoxon did), and a paired bootstrap 95 %
  interval of the pooled-UA difference: the test utterances are resampled with
  replacement (the same draw for both systems) ``n_boot`` times.

A run is a run directory (``run.json`` + ``fold-XX/``) or its published record
(:mod:`sertk.eval.record`), or a **seed group**: a folder whose ``seed-*/`` subfolders are
runs (or records) of one recipe with different seeds. A group's
fold UA is the mean over its seeds, its pooled UA the mean of the seeds' pooled UAs,
and its bootstrap statistic the mean over seeds on each resample.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sertk.eval.metrics import unweighted_accuracy
from sertk.eval.record import fold_results
from sertk.eval.rundir import ReportError, read_run, seed_runs

N_BOOT = 2000


@dataclass(frozen=True)
class RunResult:
    """One system's test predictions on a fixed set of folds (one entry per seed).

    ``y_true``/``y_pred``: (S, N) labels aligned on ``ids``; ``fold_of``: (N,) fold names.
    """

    name: str
    path: Path
    ids: tuple[str, ...]
    fold_of: tuple[str, ...]
    y_true: np.ndarray
    y_pred: np.ndarray
    labels: tuple[str, ...]
    val_ua: dict[str, float] | None = None  # fold name -> best validation UA (seed mean)

    def mean_val_ua(self) -> float | None:
        """Mean over folds of the selected epoch's validation UA: the number to choose
        recipes by (the test parts never choose anything)."""
        return None if not self.val_ua else float(np.mean(list(self.val_ua.values())))

    @property
    def seeds(self) -> int:
        return self.y_pred.shape[0]

    def fold_names(self) -> list[str]:
        return list(dict.fromkeys(self.fold_of))

    def fold_ua(self) -> dict[str, float]:
        """Fold name -> UA (mean over seeds)."""
        folds = np.asarray(self.fold_of)
        return {name: float(np.mean([unweighted_accuracy(self.y_true[s, folds == name],
                                                         self.y_pred[s, folds == name])
                                     for s in range(self.seeds)]))
                for name in self.fold_names()}

    def pooled_ua(self, rows: np.ndarray | None = None) -> float:
        """Pooled UA over all test utterances (or the given rows), mean over seeds."""
        rows = slice(None) if rows is None else rows
        return float(np.mean([unweighted_accuracy(self.y_true[s, rows], self.y_pred[s, rows])
                              for s in range(self.seeds)]))


@dataclass(frozen=True)
class Comparison:
    """``system`` against ``baseline``: differences in UA points (fractions x 100)."""

    baseline: str
    system: str
    mean_diff: float
    wilcoxon_p: float | None
    pooled_diff: float
    ci_low: float
    ci_high: float
    wins: int
    losses: int


def load_run(path: str | Path, name: str | None = None) -> RunResult:
    """A run directory or a seed group (see the module docstring).

    Raises:
        ReportError: a fold without predictions, seeds on different test sets.
    """
    path = Path(path)
    seeds = seed_runs(path)
    runs = [_load_single(p) for p in (seeds or [path])]
    ids, fold_of, labels = runs[0][0], runs[0][1], runs[0][4]
    for other, seed in zip(runs[1:], seeds[1:]):
        if other[0] != ids or other[4] != labels:
            raise ReportError(f"{seed}: tests other utterances or labels than {seeds[0]}")
    vals = [r[5] for r in runs]
    val_ua = None
    if all(v and set(v) == set(vals[0]) for v in vals):
        val_ua = {k: float(np.mean([v[k] for v in vals])) for k in vals[0]}
    return RunResult(name or path.name, path, ids, fold_of, np.stack([r[2] for r in runs]),
                     np.stack([r[3] for r in runs]), labels, val_ua)


def _load_single(run_dir: Path):
    plan = read_run(run_dir)
    rows: dict[str, tuple[str, str, str]] = {}
    val_ua: dict[str, float] = {}
    for result in fold_results(run_dir):
        selected = result.info.get("best_val_ua", result.info.get("val_ua"))
        if isinstance(selected, (int, float)):
            val_ua[result.fold.name] = float(selected)
        preds = result.predictions
        for i, t, p in zip(preds.ids, preds.y_true, preds.y_pred):
            rows[i] = (result.fold.name, t, p)
    position = {fold.name: n for n, fold in enumerate(plan["folds"])}
    ids = tuple(sorted(rows, key=lambda i: (position[rows[i][0]], i)))  # folds in run.json order
    complete = len(val_ua) == len(plan["folds"])
    return (ids, tuple(rows[i][0] for i in ids), np.array([rows[i][1] for i in ids]),
            np.array([rows[i][2] for i in ids]), tuple(plan["labels"]),
            val_ua if complete else None)


def compare_runs(runs: Sequence[RunResult], *, n_boot: int = N_BOOT,
                 seed: int = 0) -> list[Comparison]:
    """Every run after the first against the first (see the module docstring).

    Raises:
        ReportError: the runs do not test the same utterances in the same folds.
    """
    from scipy.stats import wilcoxon

    baseline = runs[0]
    for run in runs[1:]:
        if run.ids != baseline.ids or run.fold_of != baseline.fold_of:
            raise ReportError(f"{run.path} and {baseline.path} are not on the same folds "
                              "and test utterances; compare runs of one protocol and manifest")
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(baseline.ids), size=(n_boot, len(baseline.ids)))
    base_folds = baseline.fold_ua()
    base_boot = np.array([baseline.pooled_ua(rows) for rows in draws])
    out = []
    for run in runs[1:]:
        folds = run.fold_ua()
        diffs = np.array([folds[k] - base_folds[k] for k in base_folds]) * 100
        nonzero = diffs[np.abs(diffs) > 1e-12]
        p = float(wilcoxon(nonzero).pvalue) if len(nonzero) > 0 else None
        boot = (np.array([run.pooled_ua(rows) for rows in draws]) - base_boot) * 100
        low, high = np.percentile(boot, [2.5, 97.5])
        out.append(Comparison(baseline.name, run.name, float(diffs.mean()), p,
                              (run.pooled_ua() - baseline.pooled_ua()) * 100, float(low),
                              float(high), int((diffs > 0).sum()), int((diffs < 0).sum())))
    return out


def render_comparison(runs: Sequence[RunResult], comparisons: Sequence[Comparison], *,
                      n_boot: int = N_BOOT, command: str | None = None) -> str:
    """Markdown: the per-fold UA table and the paired statistics; ``command``, the command
    line that recomputes it, closes the text when given."""
    names = [r.name for r in runs]
    per_fold = [r.fold_ua() for r in runs]
    lines = ["## UA per fold (%)", "",
             "| fold | " + " | ".join(names) + " |",
             "|---|" + "---:|" * len(names)]
    for fold in runs[0].fold_names():
        lines.append(f"| {fold} | " + " | ".join(f"{f[fold] * 100:.1f}" for f in per_fold) + " |")
    means = [np.mean(list(f.values())) * 100 for f in per_fold]
    stds = [np.std(list(f.values()), ddof=1) * 100 if len(f) > 1 else 0.0 for f in per_fold]
    lines.append("| **fold mean ± std** | " + " | ".join(
        f"**{m:.1f} ± {s:.1f}**" for m, s in zip(means, stds)) + " |")
    lines.append("| **pooled** | " + " | ".join(f"**{r.pooled_ua() * 100:.1f}**" for r in runs)
                 + " |")
    lines.append("| seeds | " + " | ".join(str(r.seeds) for r in runs) + " |")
    lines.append("| validation UA (selection) | " + " | ".join(
        "n/a" if r.mean_val_ua() is None else f"{r.mean_val_ua() * 100:.1f}" for r in runs) + " |")
    lines += ["", f"## Against {runs[0].name} (UA points)", "",
              "| system | mean fold diff | wins/losses | Wilcoxon p | pooled diff | "
              "bootstrap 95 % CI |", "|---|---:|---:|---:|---:|---:|"]
    for c in comparisons:
        p = "n/a" if c.wilcoxon_p is None else f"{c.wilcoxon_p:.3f}"
        lines.append(f"| {c.system} | {c.mean_diff:+.1f} | {c.wins}/{c.losses} | {p} | "
                     f"{c.pooled_diff:+.1f} | [{c.ci_low:+.1f}, {c.ci_high:+.1f}] |")
    lines += ["", "Wilcoxon signed-rank over per-fold UA differences (two-sided, zero "
              "differences dropped); paired bootstrap over test utterances for the pooled "
              f"difference ({n_boot} resamples). Choose among recipes by the validation UA "
              "row (the mean over folds of the selected epoch's validation UA, or the "
              "classical model's chosen C's); the test rows only report."]
    if command:
        lines += ["", f"Made by `{command}`."]
    return "\n".join(lines) + "\n"
