"""Run reports: aggregate a run directory's folds, write metrics.json / predictions.csv /
report.md, and the ablation table in the layout of the paper's Table 2.

:func:`aggregate_run` recomputes every metric from the folds' ``predictions.csv`` (the
source of truth; each fold's ``metrics.json`` contributes its training ``info``), checks that
each fold predicted exactly its test ids from ``run.json``, and refuses a run with missing
folds unless ``partial=True``. The layout of a run directory is in :mod:`sertk.eval.rundir`.

Rates are stored as fractions and printed as percentages with two decimals, as the paper
does; "± std" is the sample standard deviation across folds (n-1).
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from sertk.eval.calibration import calibration_lines, run_calibration
from sertk.eval.metrics import SUMMARY_KEYS, fold_metrics, summarize
from sertk.eval.rundir import (CONFUSION_PNG, CURVES_PNG, HISTORY_FILE, METRICS_FILE,
                               PREDICTIONS_FILE, REPORT_FILE, IncompleteRunError, Predictions,
                               ReportError, atomic_write, check_fold_predictions,
                               dimension_fields, fold_dir, read_json, read_predictions, read_run,
                               write_json, write_predictions)

#: The paper's names for the models of Table 2 (SPEC section 3).
MODEL_TITLES = {
    "base1": "Base1: w/ BLSTM",
    "base2": "Base2: w/ transformer",
    "base3": "Base3: w/ BLSTM and transformer",
    "base4": "Base4: w/o time pooling",
    "base5": "Base5: Conv-residual-BLSTM",
    "base6": "Base6: Conv-BLSTM",
    "base7": "Base7: BLSTM (baseline)",
    "proposed": "Our method (proposed)",
}
#: The paper's IEMOCAP random 5-fold results, WA and UA in % (SPEC section 7).
PAPER_IEMOCAP = {
    "proposed": (69.31, 70.11), "base1": (67.21, 68.21), "base2": (68.04, 68.79),
    "base3": (67.01, 67.99), "base4": (68.61, 69.70), "base5": (67.48, 67.88),
    "base6": (65.38, 66.08), "base7": (61.48, 62.83),
}
ABLATION_MD = "ablation.md"
ABLATION_JSON = "ablation.json"
ABLATION_GRID_PNG = "confusion-grid.png"
RELIABILITY_PNG = "reliability.png"
SCATTER_PNG = "scatter-{}.png"  # one per dimension: scatter-arousal.png ...
METRIC_NAMES = {"wa": "WA", "ua": "UA", "f1": "macro-F1"}


def aggregate_run(run_dir: str | Path, *, partial: bool = False, plots: bool = True) -> dict:
    """Aggregate the folds of ``run_dir`` into run-level metrics.json, predictions.csv and
    report.md (plus confusion.png and fold-XX/curves.png when ``plots``). Returns the metrics.

    Raises :class:`IncompleteRunError` naming the folds without outputs, unless ``partial``
    (then the report says which folds it lacks); :class:`ReportError` for inconsistent files.
    """
    run_dir = Path(run_dir)
    plan = read_run(run_dir)
    labels = plan["labels"]
    done = [f for f in plan["folds"] if (fold_dir(run_dir, f.index) / METRICS_FILE).is_file()]
    missing = [f for f in plan["folds"] if f.index not in {d.index for d in done}]
    if missing and (not partial or not done):
        names = ", ".join(f"{fold_dir(run_dir, f.index).name} ({f.name})" for f in missing)
        hint = "" if not done else f"; pass partial=True to report the {len(done)} done"
        raise IncompleteRunError(f"{run_dir}: {len(missing)} of {len(plan['folds'])} folds "
                                 f"have no {METRICS_FILE}: {names}{hint}")
    per_fold, parts = [], []
    for fold in done:
        preds = _read_fold_predictions(run_dir, fold, labels)
        info = read_json(fold_dir(run_dir, fold.index) / METRICS_FILE).get("info", {})
        per_fold.append({"index": fold.index, "name": fold.name,
                         **fold_metrics(preds.y_true, preds.y_pred, labels),
                         **dimension_fields(preds), "info": info})
        parts.append(preds)
    pooled = Predictions.concat(parts)
    metrics = {
        "run": run_dir.name, "protocol": plan["protocol"], "labels": labels, "info": plan["info"],
        "complete": not missing, "missing_folds": [f.name for f in missing],
        **summarize(per_fold, pooled.y_true, pooled.y_pred, labels),
        **_training_totals(per_fold), "folds": per_fold,
    }
    calibration = run_calibration(per_fold)  # temperature scaling's ECE before/after
    if calibration is not None:
        metrics["calibration"] = calibration
    if pooled.dimensions:  # per-dimension CCC/PCC/MAE: folds' mean ± std, pooled
        from sertk.eval.dimensional import summarize_dimensions

        metrics["dimensions"] = summarize_dimensions([f["dimensions"] for f in per_fold],
                                                     pooled.dims_true, pooled.dims_pred,
                                                     pooled.dimensions)
    if plots:
        _write_plots(run_dir, metrics)
        _write_scatter_plots(run_dir, pooled)
    write_predictions(run_dir / PREDICTIONS_FILE, pooled)
    write_json(run_dir / METRICS_FILE, metrics)
    atomic_write(run_dir / REPORT_FILE, render_report(metrics, plots=plots))
    return metrics


def read_metrics(run_dir: str | Path) -> dict:
    """The run-level ``metrics.json`` written by :func:`aggregate_run`."""
    path = Path(run_dir) / METRICS_FILE
    if not path.is_file():
        raise ReportError(f"{path}: not found; aggregate the run first (sertk report {run_dir})")
    metrics = read_json(path)
    if "pooled" not in metrics:
        raise ReportError(f"{path}: not a run-level metrics file (no pooled results)")
    return metrics


# --- markdown -------------------------------------------------------------------------------

NORMALISATION_NOTES = {
    "fold": "per-feature statistics of each fold's training part",
    "utterance": "each clip's own statistics (deployable)",
    "speaker": "each speaker's own statistics, test speakers included (transductive: "
               "needs several recordings of a speaker at prediction time)",
}


def render_report(metrics: dict, *, plots: bool = False) -> str:
    """The markdown report of run-level ``metrics`` (as written by :func:`aggregate_run`)."""
    info = metrics.get("info", {})
    title = f"# Run `{metrics['run']}`: {info.get('model', 'model ?')}, {metrics['protocol']}"
    n_done, n_all = metrics["n_folds"], metrics["n_folds"] + len(metrics["missing_folds"])
    normalisation = info.get("normalisation", "fold")
    lines = [title, "", f"{n_done} of {n_all} folds, {metrics['pooled']['n']} test utterances. "
             "Rates in %; ± is the sample standard deviation across folds (n-1). "
             f"Normalisation: {NORMALISATION_NOTES.get(normalisation, normalisation)}."]
    if metrics["missing_folds"]:
        lines += ["", f"**Partial run: folds missing: {', '.join(metrics['missing_folds'])}.** "
                  "The figures below cover the other folds only."]
    lines += ["", markdown_table(["", *METRIC_NAMES.values()], [
        ["mean ± std over folds", *(_mean_std(metrics, k) for k in METRIC_NAMES)],
        ["pooled over all test predictions", *(_pct(metrics["pooled"][k]) for k in METRIC_NAMES)],
    ])]
    lines += ["", "## Per fold", "", _fold_table(metrics["folds"])]
    labels, cm = metrics["labels"], metrics["pooled"]["confusion"]
    lines += ["", "## Pooled confusion matrix", "", "Rows: true class; columns: predicted.", "",
              confusion_table(cm, labels), "", "Row-normalised (% of each true class):", "",
              confusion_table(cm, labels, normalize=True)]
    if plots:
        lines += ["", f"![pooled confusion matrix]({CONFUSION_PNG})"]
    if metrics.get("dimensions"):
        from sertk.eval.dimensional import dimension_table_rows

        header, rows = dimension_table_rows(metrics["dimensions"])
        lines += ["", "## Dimensions", "", "Concordance (CCC) and Pearson (PCC) correlation, "
                  "mean absolute error (MAE, on the corpus's scale) of the predicted ratings: "
                  "mean ± std over folds, and pooled over all test predictions.", "",
                  markdown_table(header, rows)]
        if plots:
            lines += ["", *(f"![predicted vs true {name}]({SCATTER_PNG.format(name)})"
                            for name in metrics["dimensions"]["names"])]
    calibration = calibration_lines(metrics.get("calibration"))
    if calibration:
        lines += ["", *calibration]
        if plots:
            lines += ["", f"![reliability diagram, pooled test predictions]({RELIABILITY_PNG})"]
    return "\n".join(lines) + "\n"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence], *,
                   align: str | None = None) -> str:
    """A GitHub markdown table; ``align`` is one of l/r/c per column (default: first l, rest r)."""
    align = align or "l" + "r" * (len(header) - 1)
    rule = {"l": ":---", "r": "---:", "c": ":---:"}
    out = ["| " + " | ".join(map(str, header)) + " |",
           "|" + "|".join(rule[a] for a in align) + "|"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(out)


def confusion_table(confusion: Sequence[Sequence[int]], labels: Sequence[str], *,
                    normalize: bool = False) -> str:
    """Confusion matrix (C x C, rows true) as markdown; ``normalize``: % of each row."""
    rows = []
    for label, row in zip(labels, confusion):
        total = sum(row)
        cells = [(f"{100 * x / total:.1f}" if total else "–") if normalize else str(x) for x in row]
        rows.append([f"**{label}**", *cells] + ([] if normalize else [str(total)]))
    header = ["true \\ pred", *labels] + ([] if normalize else ["total"])
    return markdown_table(header, rows)


# --- ablation (paper Table 2) ---------------------------------------------------------------

def ablation_table(results: Mapping[str, dict]) -> str:
    """Paper Table 2 layout: one row per model, our WA/UA mean ± std, parameters, training
    time, and the paper's IEMOCAP numbers beside them. ``results`` maps a model name
    (``proposed``, ``base1``...) to its run-level metrics; rows follow the paper's order
    (Base1..Base7, then ours), other names after."""
    rows = []
    for name in _ablation_order(results):
        m = results[name]
        paper = PAPER_IEMOCAP.get(name)
        rows.append([MODEL_TITLES.get(name, name), _mean_std(m, "wa"), _mean_std(m, "ua"),
                     _params(m.get("params")),
                     _duration(m.get("train_seconds")),
                     f"{paper[0]:.2f}" if paper else "–", f"{paper[1]:.2f}" if paper else "–"])
    header = ["model", "WA (%)", "UA (%)", "parameters", "training time",
              "paper WA (%)", "paper UA (%)"]
    return markdown_table(header, rows)


def write_ablation(run_dirs: Mapping[str, str | Path], out_dir: str | Path, *,
                   plots: bool = True) -> Path:
    """Write ``ablation.md``, ``ablation.json`` (and ``confusion-grid.png``, the paper's
    Figure 3) into ``out_dir`` from aggregated runs, one per model name. Returns the .md path."""
    if not run_dirs:
        raise ReportError("no runs to compare")
    results = {name: read_metrics(d) for name, d in run_dirs.items()}
    out_dir = Path(out_dir)
    protocols = sorted({m["protocol"] for m in results.values()})
    lines = ["# Ablation (paper Table 2 layout)", "",
             f"Protocol: {', '.join(protocols)}. WA/UA: mean ± sample std across folds. The "
             "paper's columns are its IEMOCAP random 5-fold results, comparable only to "
             "IEMOCAP `kfold` runs.", "", ablation_table(results)]
    if plots:
        from sertk.eval.plots import plot_confusion_grid
        order = _ablation_order(results)
        plot_confusion_grid({MODEL_TITLES.get(n, n): (results[n]["pooled"]["confusion"],
                                                        results[n]["labels"]) for n in order},
                            out_dir / ABLATION_GRID_PNG)
        lines += ["", f"![pooled confusion matrices]({ABLATION_GRID_PNG})"]
    write_json(out_dir / ABLATION_JSON, {
        name: {"run": str(run_dirs[name]), "protocol": m["protocol"], "mean": m["mean"],
               "std": m["std"], "pooled": {k: m["pooled"][k] for k in SUMMARY_KEYS},
               "params": m.get("params"), "train_seconds": m.get("train_seconds"),
               "paper_iemocap": PAPER_IEMOCAP.get(name)}
        for name, m in results.items()})
    return atomic_write(out_dir / ABLATION_MD, "\n".join(lines) + "\n")


# --- helpers --------------------------------------------------------------------------------

def _read_fold_predictions(run_dir: Path, fold, labels: list[str]) -> Predictions:
    path = fold_dir(run_dir, fold.index) / PREDICTIONS_FILE
    preds = read_predictions(path)
    check_fold_predictions(preds, fold, labels, where=str(path))
    return preds


def _training_totals(per_fold: list[dict]) -> dict:
    """Run-level ``params`` (the folds' value) and ``train_seconds`` (their sum), or None."""
    params = {f["info"].get("params") for f in per_fold} - {None}
    seconds = [f["info"].get("train_seconds") for f in per_fold]
    return {"params": params.pop() if len(params) == 1 else None,
            "train_seconds": float(sum(seconds)) if None not in seconds else None}


def _write_plots(run_dir: Path, metrics: dict) -> None:
    from sertk.eval.plots import plot_confusion, plot_history
    plot_confusion(metrics["pooled"]["confusion"], metrics["labels"], run_dir / CONFUSION_PNG,
                   title=f"{metrics['info'].get('model', metrics['run'])}, pooled over folds")
    calibration = metrics.get("calibration")
    if calibration:
        from sertk.eval.plots import plot_reliability
        plot_reliability({"uncalibrated": calibration["bins_before"],
                          "calibrated": calibration["bins_after"]}, run_dir / RELIABILITY_PNG,
                         title="reliability, pooled test predictions")
    for fold in metrics["folds"]:
        history = fold_dir(run_dir, fold["index"]) / HISTORY_FILE
        if history.is_file():
            plot_history(history, history.with_name(CURVES_PNG), title=fold["name"])


def _write_scatter_plots(run_dir: Path, pooled: Predictions) -> None:
    from sertk.eval.plots import plot_dimension_scatter
    for d, name in enumerate(pooled.dimensions):
        plot_dimension_scatter(pooled.dims_true[:, d], pooled.dims_pred[:, d], name,
                               run_dir / SCATTER_PNG.format(name),
                               title=f"{name}, pooled over folds")


def _fold_table(folds: list[dict]) -> str:
    extras = [k for k in ("best_epoch", "epochs", "train_seconds")
              if any(k in f["info"] for f in folds)]
    names = {"best_epoch": "best epoch", "epochs": "epochs", "train_seconds": "train time"}
    header = ["fold", "held out", "test n", *METRIC_NAMES.values(), *(names[k] for k in extras)]
    rows = [[f"{f['index']:02d}", f["name"], f["n"], *(_pct(f[k]) for k in METRIC_NAMES),
             *(_duration(f["info"].get(k)) if k == "train_seconds" else f["info"].get(k, "–")
               for k in extras)] for f in folds]
    return markdown_table(header, rows)


def _ablation_order(results: Mapping[str, dict]) -> list[str]:
    known = [n for n in MODEL_TITLES if n in results]
    return known + sorted(n for n in results if n not in MODEL_TITLES)


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.2f}"


def _mean_std(metrics: dict, key: str) -> str:
    std = metrics["std"].get(key)
    return _pct(metrics["mean"][key]) + ("" if std is None else f" ± {100 * std:.2f}")


def _params(n: int | None) -> str:
    return "–" if n is None else f"{n / 1e6:.2f} M"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    return f"{minutes // 60} h {minutes % 60:02d} min"
