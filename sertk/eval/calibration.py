"""Calibration: fitting a temperature, and measuring reliability (bins, ECE).

**Temperature scaling** (Guo et al. 2017) divides a model's scores by one number ``T``
fitted on held-out (validation) data: :func:`fit_temperature` minimises the negative
log-likelihood of ``softmax(z / T)``, which is convex in ``1 / T`` and so has one minimum
along ``log T``; a golden-section search over ``log T`` within the given bounds finds it in
float64, deterministically. Neural checkpoints (:mod:`sertk.train.calibration`) and the
classical linear models (:mod:`sertk.classical.linear`) both use it.

**Reliability.** A prediction's *confidence* is its top probability; it is *correct*
when the top label is the true one. The confidences are cut into ``n_bins`` equal-width
bins over [0, 1] (the first bin closed on both sides, the others ``(lo, hi]``); per bin we
keep the count, the sum of confidences and the number correct. Then

    ECE = sum_b |confidence_sum_b - correct_b| / N

i.e. the count-weighted mean gap between a bin's mean confidence and its accuracy (Guo et
al. 2017, "On calibration of modern neural networks", 15 bins). Because the bins hold sums,
folds' bins add up to the pooled bins exactly (:meth:`Bins.__add__`), so a run's pooled ECE
needs no stored probabilities.

Example:
    >>> bins = reliability_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], n_bins=10)
    >>> round(bins.ece, 4)  # (|0.9 - 1| + |0.6 - 0|) / 2
    0.35
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

N_BINS = 15
GOLDEN_STEPS = 100  # the bracket shrinks by 0.618 per step: far below float precision


def nll(logits: np.ndarray, targets: np.ndarray, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``targets`` (N,) under ``softmax(logits / T)``
    (logits (N, C)), in float64."""
    z = np.asarray(logits, dtype=np.float64) / temperature
    z = z - z.max(axis=1, keepdims=True)
    log_probs = z - np.log(np.exp(z).sum(axis=1, keepdims=True))
    return float(-log_probs[np.arange(len(z)), np.asarray(targets)].mean())


def fit_temperature(logits, targets, bounds: tuple[float, float]) -> float:
    """The temperature in ``bounds`` (low, high) minimising
    :func:`nll` on ``logits`` (N, C) and class indices ``targets`` (N,); 1.0 when N = 0.

    Raises:
        ValueError: mismatched shapes, a target out of range or non-finite logits.
    """
    logits = np.asarray(logits, dtype=np.float64)
    targets = np.asarray(targets)
    if logits.ndim != 2 or targets.shape != (logits.shape[0],):
        raise ValueError(f"logits must be (N, C) and targets (N,); got {logits.shape} and "
                         f"{targets.shape}")
    if not len(targets):
        return 1.0
    if not np.isfinite(logits).all():
        raise ValueError("logits hold NaN or infinity")
    if targets.min() < 0 or targets.max() >= logits.shape[1]:
        raise ValueError(f"targets must be class indices in [0, {logits.shape[1]})")
    low, high = (math.log(x) for x in bounds)
    ratio = (math.sqrt(5) - 1) / 2
    a, b = low + (1 - ratio) * (high - low), low + ratio * (high - low)
    fa, fb = nll(logits, targets, math.exp(a)), nll(logits, targets, math.exp(b))
    for _ in range(GOLDEN_STEPS):
        if fa <= fb:
            high, b, fb = b, a, fa
            a = low + (1 - ratio) * (high - low)
            fa = nll(logits, targets, math.exp(a))
        else:
            low, a, fa = a, b, fb
            b = low + ratio * (high - low)
            fb = nll(logits, targets, math.exp(b))
    best = math.exp((low + high) / 2)
    # the range's ends are candidates too (the search never evaluates them exactly)
    candidates = [*bounds, 1.0, best]  # ties: a range end, or no change
    scores = [nll(logits, targets, t) for t in candidates]
    return float(min(bounds[1], max(bounds[0], candidates[int(np.argmin(scores))])))


@dataclass(frozen=True)
class Bins:
    """Reliability bins: ``count``, ``confidence_sum`` and ``correct`` per bin (n_bins,)."""

    count: tuple[int, ...]
    confidence_sum: tuple[float, ...]
    correct: tuple[int, ...]

    @property
    def n(self) -> int:
        return int(sum(self.count))

    @property
    def ece(self) -> float:
        """Expected calibration error in [0, 1] (0.0 for no predictions)."""
        if not self.n:
            return 0.0
        gaps = np.abs(np.asarray(self.confidence_sum) - np.asarray(self.correct, dtype=float))
        return float(gaps.sum() / self.n)

    def accuracy(self) -> np.ndarray:
        """(n_bins,) accuracy per bin, NaN for an empty bin."""
        count = np.asarray(self.count, dtype=float)
        return np.divide(self.correct, count, out=np.full(count.shape, np.nan), where=count > 0)

    def confidence(self) -> np.ndarray:
        """(n_bins,) mean confidence per bin, NaN for an empty bin."""
        count = np.asarray(self.count, dtype=float)
        return np.divide(self.confidence_sum, count, out=np.full(count.shape, np.nan),
                         where=count > 0)

    def __add__(self, other: "Bins") -> "Bins":
        if len(self.count) != len(other.count):
            raise ValueError(f"cannot add {len(self.count)} bins to {len(other.count)} bins")
        return Bins(tuple(a + b for a, b in zip(self.count, other.count)),
                    tuple(a + b for a, b in zip(self.confidence_sum, other.confidence_sum)),
                    tuple(a + b for a, b in zip(self.correct, other.correct)))

    def to_dict(self) -> dict:
        return {"count": list(self.count), "confidence_sum": list(self.confidence_sum),
                "correct": list(self.correct)}

    @classmethod
    def from_dict(cls, data: dict) -> "Bins":
        """Read :meth:`to_dict`'s output back; ValueError when the lists disagree."""
        try:
            count = tuple(int(x) for x in data["count"])
            sums = tuple(float(x) for x in data["confidence_sum"])
            correct = tuple(int(x) for x in data["correct"])
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed reliability bins ({err!r})") from None
        if not len(count) == len(sums) == len(correct) or not count:
            raise ValueError("malformed reliability bins (lists of different lengths)")
        return cls(count, sums, correct)


def reliability_bins(probs, targets, n_bins: int = N_BINS) -> Bins:
    """Bin the top-probability confidences of ``probs`` (N, C) against ``targets`` (N,)
    (class indices into the columns)."""
    probs = np.asarray(probs, dtype=np.float64)
    targets = np.asarray(targets)
    if probs.ndim != 2 or targets.shape != (probs.shape[0],):
        raise ValueError(f"probs must be (N, C) and targets (N,); got {probs.shape} and "
                         f"{targets.shape}")
    if n_bins < 1:
        raise ValueError(f"n_bins must be >= 1, got {n_bins}")
    confidence = probs.max(axis=1) if probs.size else np.zeros(0)
    correct = (probs.argmax(axis=1) == targets) if probs.size else np.zeros(0, bool)
    # bin b holds (b/n, (b+1)/n]; a confidence of exactly 0 goes to the first bin
    index = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    return Bins(tuple(int(x) for x in np.bincount(index, minlength=n_bins)),
                tuple(float(x) for x in np.bincount(index, weights=confidence,
                                                    minlength=n_bins)),
                tuple(int(x) for x in np.bincount(index, weights=correct, minlength=n_bins)))


def fold_calibration(uncalibrated, calibrated, targets, temperature: float) -> dict:
    """The calibration facts of one fold's test part, for its ``metrics.json`` info:
    ``{"temperature", "ece_before", "ece_after", "bins_before", "bins_after"}``."""
    before = reliability_bins(uncalibrated, targets)
    after = reliability_bins(calibrated, targets)
    return {"temperature": float(temperature), "ece_before": before.ece, "ece_after": after.ece,
            "bins_before": before.to_dict(), "bins_after": after.to_dict()}


def run_calibration(per_fold: list[dict]) -> dict | None:
    """Pool the folds' calibration facts (their ``info["calibration"]``) into
    ``{"folds": [{"name", "temperature", "ece_before", "ece_after"}], "pooled":
    {"ece_before", "ece_after"}, "bins_before", "bins_after"}``; None when no fold has them
    (runs trained before calibration existed, classical models)."""
    rows, before, after = [], None, None
    for fold in per_fold:
        facts = (fold.get("info") or {}).get("calibration")
        if not facts:
            continue
        try:
            b, a = Bins.from_dict(facts["bins_before"]), Bins.from_dict(facts["bins_after"])
        except (KeyError, ValueError, TypeError):
            continue
        before, after = (b, a) if before is None else (before + b, after + a)
        rows.append({"name": fold.get("name"), "temperature": facts.get("temperature"),
                     "ece_before": b.ece, "ece_after": a.ece})
    if before is None:
        return None
    return {"folds": rows, "pooled": {"ece_before": before.ece, "ece_after": after.ece},
            "bins_before": before.to_dict(), "bins_after": after.to_dict()}


def calibration_lines(calibration: dict | None) -> list[str]:
    """Markdown lines of a report's calibration section (empty without calibration)."""
    if not calibration:
        return []
    pooled = calibration["pooled"]
    lines = ["## Calibration", "",
             "Temperature scaling fitted on each fold's validation part; expected calibration "
             f"error (ECE, {N_BINS} bins) of the test predictions before and after, in %.", "",
             "| fold | temperature | ECE before | ECE after |", "|:---|---:|---:|---:|"]
    for row in calibration["folds"]:
        temperature = row["temperature"]
        t = f"{temperature:.3f}" if isinstance(temperature, (int, float)) else "?"
        lines.append(f"| {row['name']} | {t} | {100 * row['ece_before']:.2f} | "
                     f"{100 * row['ece_after']:.2f} |")
    lines.append(f"| pooled | | {100 * pooled['ece_before']:.2f} | "
                 f"{100 * pooled['ece_after']:.2f} |")
    return lines
