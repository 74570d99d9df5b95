"""Figures: confusion matrices (one, or a grid like the paper's Figure 3), training curves,
reliability diagrams (calibration) and predicted-vs-true scatter plots of dimensions.

Drawn on matplotlib's Agg canvas through the object API (``Figure``, never ``pyplot``), so
plotting works headless, sets no global state and is safe beside other threads. Every
function writes one PNG atomically and returns its path.

A confusion cell shows the row-normalised percentage (the share of the true class, which
also sets its colour) above the count; rows are true classes, columns predicted ones.

Training curves are read from a fold's ``history.csv`` with columns
:data:`sertk.eval.rundir.HISTORY_COLUMNS` (``epoch, train_loss, val_loss, val_ua, val_wa``;
rates as fractions, empty cells allowed).
"""
from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from sertk.eval.rundir import HISTORY_COLUMNS, ReportError
from sertk.fileio import atomic_open
from sertk.fileio import open_text

DPI = 120
CMAP = "Blues"


def plot_confusion(confusion: Sequence[Sequence[int]], labels: Sequence[str], path: str | Path,
                   *, title: str | None = None) -> Path:
    """One confusion matrix (C x C counts, rows true) as a PNG."""
    cm = _checked_confusion(confusion, labels)
    size = 1.6 + 0.85 * len(labels)
    fig = Figure(figsize=(size + 1.2, size), layout="constrained")
    ax = fig.add_subplot()
    image = _draw_confusion(ax, cm, labels, title)
    fig.colorbar(image, ax=ax, label="% of true class", shrink=0.8)
    return _save(fig, path)


def plot_confusion_grid(matrices: Mapping[str, tuple[Sequence[Sequence[int]], Sequence[str]]],
                        path: str | Path, *, ncols: int | None = None) -> Path:
    """Several confusion matrices side by side (the paper's Figure 3), titled by their keys.

    ``matrices`` maps a title to ``(confusion (C x C), labels (C,))``.
    """
    if not matrices:
        raise ReportError("no confusion matrices to plot")
    items = [(t, _checked_confusion(cm, labels), labels) for t, (cm, labels) in matrices.items()]
    ncols = ncols or min(4, len(items))
    nrows = math.ceil(len(items) / ncols)
    size = 1.2 + 0.6 * max(len(labels) for _, _, labels in items)  # inches per panel
    fig = Figure(figsize=(ncols * size + 1.0, nrows * (size + 0.4)), layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for ax, (title, cm, labels) in zip(axes.flat, items):
        image = _draw_confusion(ax, cm, labels, title, fontsize=7)
    for ax in axes.flat[len(items):]:
        ax.set_axis_off()
    fig.colorbar(image, ax=axes, label="% of true class", shrink=0.6)
    return _save(fig, path)


def read_history(path: str | Path) -> dict[str, np.ndarray]:
    """Columns of a history CSV as float arrays (empty cells -> NaN); needs ``epoch``."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: not found")
    with open_text(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows or "epoch" not in rows[0]:
        raise ReportError(f"{path}: needs a header with 'epoch' and at least one row "
                          f"(columns: {', '.join(HISTORY_COLUMNS)})")
    columns = {}
    for name in rows[0]:
        try:
            columns[name] = np.array([float(r[name]) if r[name] not in ("", None) else np.nan
                                      for r in rows])
        except ValueError:
            raise ReportError(f"{path}: column {name!r} holds a value that is not a number") from None
    return columns


def plot_history(history: str | Path | Mapping[str, Sequence[float]], path: str | Path, *,
                 title: str | None = None) -> Path:
    """Training curves: losses (left) and validation UA/WA in % (right), best-UA epoch marked.

    ``history`` is a history CSV path or its columns (as :func:`read_history` returns).
    """
    cols = read_history(history) if isinstance(history, (str, Path)) else \
        {k: np.asarray(v, dtype=float) for k, v in history.items()}
    epoch = cols["epoch"]
    fig = Figure(figsize=(9, 3.6), layout="constrained")
    loss_ax, rate_ax = fig.subplots(1, 2, sharex=True)
    for name, style in (("train_loss", "-"), ("val_loss", "--")):
        if name in cols and np.isfinite(cols[name]).any():
            loss_ax.plot(epoch, cols[name], style, marker=".", label=name.replace("_", " "))
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    for name, label in (("val_ua", "UA"), ("val_wa", "WA")):
        if name in cols and np.isfinite(cols[name]).any():
            rate_ax.plot(epoch, 100 * cols[name], marker=".", label=label)
    ua = cols.get("val_ua")
    if ua is not None and np.isfinite(ua).any():
        best = int(np.nanargmax(ua))
        for ax in (loss_ax, rate_ax):
            ax.axvline(epoch[best], color="0.5", linestyle=":", linewidth=1)
        right_half = epoch[best] > (np.nanmin(epoch) + np.nanmax(epoch)) / 2
        rate_ax.annotate(f"best UA {100 * ua[best]:.1f}% (epoch {epoch[best]:g})",
                         (epoch[best], 100 * ua[best]), textcoords="offset points",
                         xytext=(-4 if right_half else 4, -14), fontsize=8,
                         ha="right" if right_half else "left")
    rate_ax.set(xlabel="epoch", ylabel="%", title="validation")
    for ax in (loss_ax, rate_ax):
        ax.grid(alpha=0.3)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def plot_reliability(bins: Mapping[str, object], path: str | Path, *,
                     title: str | None = None) -> Path:
    """A reliability diagram: accuracy against mean confidence per bin, one line per
    :class:`sertk.eval.calibration.Bins` in ``bins`` (e.g. ``{"before": b0, "after": b1}``,
    labelled with their ECE), the diagonal of perfect calibration, and the share of
    predictions per bin below."""
    from sertk.eval.calibration import Bins

    if not bins:
        raise ReportError("no reliability bins to plot")
    fig = Figure(figsize=(5.2, 5.6), layout="constrained")
    curve_ax, count_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    curve_ax.plot([0, 1], [0, 1], ":", color="0.5", linewidth=1, label="perfect calibration")
    width = None
    for name, item in bins.items():
        item = item if isinstance(item, Bins) else Bins.from_dict(item)
        n_bins = len(item.count)
        edges = np.linspace(0, 1, n_bins + 1)
        width = 1 / n_bins
        centres = (edges[:-1] + edges[1:]) / 2
        seen = np.asarray(item.count) > 0
        curve_ax.plot(item.confidence()[seen], item.accuracy()[seen], marker="o", markersize=3,
                      label=f"{name} (ECE {100 * item.ece:.1f}%)")
        share = np.asarray(item.count, dtype=float) / max(item.n, 1)
        count_ax.step(centres, share, where="mid", label=name)
    curve_ax.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1.02),
                 title=title or "reliability diagram")
    count_ax.set(xlabel=f"confidence (top probability), bins of {width:.3g}",
                 ylabel="share", ylim=(0, None))
    for ax in (curve_ax, count_ax):
        ax.grid(alpha=0.3)
    curve_ax.legend(fontsize=8, loc="upper left")
    return _save(fig, path)


def plot_dimension_scatter(true: np.ndarray, pred: np.ndarray, name: str, path: str | Path, *,
                           title: str | None = None) -> Path:
    """Predicted against true ratings (N,) of one dimension, with the identity line (a
    perfect model's points lie on it) and the CCC in the title."""
    from sertk.eval.dimensional import ccc

    true, pred = np.asarray(true, dtype=float), np.asarray(pred, dtype=float)
    fig = Figure(figsize=(4.2, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ax.scatter(true, pred, s=8, alpha=0.4, color="tab:blue", linewidths=0)
    both = np.concatenate([true, pred])
    low, high = (float(both.min()), float(both.max())) if both.size else (0.0, 1.0)
    ax.plot([low, high], [low, high], color="0.4", linewidth=1, linestyle="--")
    ax.set_xlabel(f"true {name}")
    ax.set_ylabel(f"predicted {name}")
    ax.set_aspect("equal", adjustable="datalim")
    concordance = ccc(pred, true) if true.size else float("nan")
    ax.set_title(f"{title or name}: CCC {concordance:.3f} (n={true.size})")
    return _save(fig, path)


def _draw_confusion(ax, cm: np.ndarray, labels: Sequence[str], title: str | None, *,
                    fontsize: int = 9):
    totals = cm.sum(axis=1, keepdims=True)
    pct = np.divide(100.0 * cm, totals, out=np.zeros(cm.shape), where=totals > 0)
    image = ax.imshow(pct, cmap=CMAP, vmin=0, vmax=100)
    for i in range(cm.shape[0]):
        for j in range(cm.shape[1]):
            text = f"{pct[i, j]:.1f}%\n({cm[i, j]})" if totals[i, 0] else "–"
            ax.text(j, i, text, ha="center", va="center", fontsize=fontsize,
                    color="white" if pct[i, j] > 55 else "black")
    ticks = range(len(labels))
    long = max(map(len, labels)) > 4
    ax.set_xticks(ticks, labels, rotation=45 if long else 0, ha="right" if long else "center",
                  rotation_mode="anchor")
    ax.set_yticks(ticks, labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if title:
        ax.set_title(title, fontsize=fontsize + 2)
    return image


def _checked_confusion(confusion, labels: Sequence[str]) -> np.ndarray:
    cm = np.asarray(confusion)
    if cm.shape != (len(labels), len(labels)) or (cm < 0).any():
        raise ReportError(f"confusion matrix of shape {cm.shape} does not fit {len(labels)} "
                          "labels, or holds negative counts")
    return cm.astype(int)


def _save(fig: Figure, path: str | Path) -> Path:
    FigureCanvasAgg(fig)
    with atomic_open(path, "wb") as fh:
        fig.savefig(fh, format="png", dpi=DPI)
    return Path(path)
