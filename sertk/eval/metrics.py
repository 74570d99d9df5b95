"""Classification metrics of SPEC section 5: WA, UA, macro-F1 and the confusion matrix.

All rates are fractions in [0, 1] (reports print them as percentages).

- **WA** (weighted accuracy) = accuracy over utterances.
- **UA** (unweighted accuracy) = mean recall over the classes *present in y_true*. A class
  that is only predicted (absent from the test labels, as some EmoDB speakers lack an
  emotion) adds no zero; its false predictions still lower the recall of the true classes.
  This equals scikit-learn's ``balanced_accuracy_score``.
- **F1** = macro-F1 over the same classes present in y_true, for the same reason: a class
  absent from the test labels has no recall and is left out rather than scored 0.
- **confusion**: counts over the full label list, rows = true class, columns = predicted.

Across folds :func:`summarize` reports the mean and the *sample* standard deviation
(``ddof=1``; ``None`` for a single fold) of WA, UA and F1, and the same metrics pooled over
all test predictions.

Example:
    >>> m = fold_metrics(["a", "a", "b"], ["a", "c", "b"], labels=["a", "b", "c"])
    >>> round(m["wa"], 4), m["ua"], m["confusion"]
    (0.6667, 0.75, [[1, 0, 1], [0, 1, 0], [0, 0, 0]])
"""
from __future__ import annotations

from typing import Hashable, Sequence

import numpy as np
from sklearn.metrics import (accuracy_score, confusion_matrix, f1_score,
                             precision_recall_fscore_support)

SUMMARY_KEYS = ("wa", "ua", "f1")
STD_DDOF = 1  # sample standard deviation across folds


def fold_metrics(y_true: Sequence[Hashable], y_pred: Sequence[Hashable],
                 labels: Sequence[Hashable]) -> dict:
    """Metrics of one set of predictions.

    Args:
        y_true, y_pred: class labels, one per utterance (N,); every value must be in labels.
        labels: the full class list (C,), fixing the confusion matrix order.

    Returns:
        ``{"n", "wa", "ua", "f1", "labels", "confusion" (C x C list, rows true), "per_class"}``
        where ``per_class[label] = {"support", "recall", "precision", "f1"}`` (recall and f1
        are ``None`` for a class absent from y_true; precision ``None`` if never predicted).
    """
    y_true, y_pred, labels = _checked(y_true, y_pred, labels)
    seen = set(y_true)
    present = [c for c in labels if c in seen]
    return {
        "n": len(y_true),
        "wa": float(accuracy_score(y_true, y_pred)),
        "ua": unweighted_accuracy(y_true, y_pred),
        "f1": float(f1_score(y_true, y_pred, labels=present, average="macro", zero_division=0)),
        "labels": list(labels),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        "per_class": _per_class(y_true, y_pred, labels),
    }


def unweighted_accuracy(y_true: Sequence[Hashable], y_pred: Sequence[Hashable]) -> float:
    """UA: the mean recall over the classes present in ``y_true`` (N,) (0.0 for N = 0).

    The one UA of sertk (training's validation UA, reports, comparisons); equal to
    scikit-learn's ``balanced_accuracy_score`` but fast enough for bootstrap loops.
    """
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.size == 0:
        return 0.0
    classes, codes = np.unique(y_true, return_inverse=True)
    hits = np.bincount(codes, weights=(y_true == y_pred), minlength=len(classes))
    return float(np.mean(hits / np.bincount(codes, minlength=len(classes))))


def summarize(per_fold: Sequence[dict], y_true: Sequence[Hashable], y_pred: Sequence[Hashable],
              labels: Sequence[Hashable] | None = None) -> dict:
    """Mean and std across folds plus pooled metrics.

    Args:
        per_fold: :func:`fold_metrics` results, one per fold.
        y_true, y_pred: all folds' test predictions pooled (each utterance once).
        labels: class list; defaults to the folds' (which must agree).

    Returns:
        ``{"n_folds": n, "mean": {wa, ua, f1}, "std": {wa, ua, f1}, "std_ddof": 1,
        "pooled": fold_metrics(y_true, y_pred, labels)}``; std values are ``None`` for one fold.
    """
    if not per_fold:
        raise ValueError("summarize needs at least one fold's metrics")
    fold_labels = {tuple(m["labels"]) for m in per_fold}
    if len(fold_labels) > 1:
        raise ValueError(f"folds disagree on the label list: {sorted(fold_labels)}")
    labels = list(labels) if labels is not None else list(fold_labels.pop())
    pooled = fold_metrics(y_true, y_pred, labels)
    if pooled["n"] != sum(m["n"] for m in per_fold):
        raise ValueError(f"pooled predictions ({pooled['n']}) do not match the folds' total "
                         f"({sum(m['n'] for m in per_fold)})")
    values = {k: np.array([m[k] for m in per_fold], dtype=float) for k in SUMMARY_KEYS}
    return {
        "n_folds": len(per_fold),
        "mean": {k: float(v.mean()) for k, v in values.items()},
        "std": {k: float(v.std(ddof=STD_DDOF)) if len(v) > STD_DDOF else None
                for k, v in values.items()},
        "std_ddof": STD_DDOF,
        "pooled": pooled,
    }


def _per_class(y_true: list, y_pred: list, labels: list) -> dict:
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, average=None, zero_division=0)
    predicted = set(y_pred)
    return {
        str(c): {
            "support": int(support[i]),
            "recall": float(recall[i]) if support[i] else None,
            "precision": float(precision[i]) if c in predicted else None,
            "f1": float(f1[i]) if support[i] else None,
        }
        for i, c in enumerate(labels)
    }


def _checked(y_true, y_pred, labels) -> tuple[list, list, list]:
    y_true, y_pred, labels = list(y_true), list(y_pred), list(labels)
    if len(y_true) != len(y_pred):
        raise ValueError(f"y_true has {len(y_true)} labels but y_pred has {len(y_pred)}")
    if not y_true:
        raise ValueError("no predictions to score")
    if len(set(labels)) != len(labels) or not labels:
        raise ValueError(f"labels must be a non-empty list of distinct classes, got {labels}")
    unknown = sorted(map(str, (set(y_true) | set(y_pred)) - set(labels)))
    if unknown:
        raise ValueError(f"label(s) {', '.join(unknown)} not in the class list {labels}")
    return y_true, y_pred, labels
