"""Cross-corpus evaluation: score a trained model on another corpus's shared classes.

A model knows its own labels (EmoDB: anger, boredom, disgust, fear, happiness, neutral,
sadness); another corpus names its classes its own way (RAVDESS: angry, calm, disgust,
fearful, happy, neutral, sad, surprised). A **label map** says which manifest class is which
model class. It maps **manifest label -> model label** (YAML or JSON)::

    angry: anger        # several manifest labels may map to one model label
    fearful: fear
    happy: happiness
    sad: sadness
    calm: null          # null: leave this class out

A label spelled the same in the manifest and in the model (``neutral``, ``disgust``) maps to
itself unless the map says otherwise, so without a map the shared names are scored. Manifest
classes that map to nothing (``calm``, ``surprised``) are left out, and a notice counts
their utterances. A map naming a manifest label the manifest does not have, or a model
label the model does not have, is refused naming it.

Scoring: each kept utterance is predicted by the model (the first ``max_seconds``, no voice
activity detection: every clip gets an emotion), its probabilities are **restricted to the model
labels the map targets and renormalised** to sum to 1 (the model's other classes, such as
EmoDB's boredom, cannot be right here, so they are not allowed to win), and the top one is the
prediction. The class list of the report is those targeted model labels, in the model's order.

Outputs are those of ``sertk cv`` (:mod:`sertk.eval.rundir`), with the whole manifest as the
one test "fold" (``fold-00``, protocol ``cross-corpus``): ``run.json``,
``fold-00/predictions.csv`` and ``metrics.json``, and the run-level ``metrics.json``,
``predictions.csv``, ``report.md`` and ``confusion.png``.
"""
from __future__ import annotations

import json
import reprlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Sequence

import numpy as np

from sertk.data.labels import normalise_label
from sertk.data.manifest import Utterance
from sertk.data.splits import Fold

PROTOCOL = "cross-corpus"
MAX_MAP_BYTES = 1 << 20


class LabelMapError(ValueError):
    """A label map that cannot be used; the message names the label or the file."""


@dataclass(frozen=True)
class Plan:
    """Which utterances are scored, as which model label.

    ``targets``: manifest label -> model label (only the scored ones); ``labels``: the
    targeted model labels in the model's order; ``left_out``: manifest label -> number of
    utterances not scored.
    """

    targets: dict[str, str]
    labels: list[str]
    left_out: dict[str, int] = field(default_factory=dict)


def read_label_map(path: str | Path) -> dict[str, str | None]:
    """The manifest label -> model label (or None) mapping in a YAML or JSON file."""
    import yaml

    path = Path(path)
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_MAP_BYTES + 1)
    except OSError as err:
        raise LabelMapError(f"{path}: cannot read the label map ({err.strerror or err})") \
            from None
    if len(data) > MAX_MAP_BYTES:
        raise LabelMapError(f"{path}: larger than {MAX_MAP_BYTES:,} bytes: not a label map")
    try:
        mapping = yaml.safe_load(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise LabelMapError(f"{path}: not a YAML/JSON label map ({reason})") from None
    if not isinstance(mapping, dict) or not mapping:
        raise LabelMapError(f"{path}: a label map is a non-empty mapping of manifest labels to "
                            "model labels (or null)")
    out: dict[str, str | None] = {}
    for key, value in mapping.items():
        if not isinstance(key, str) or not (value is None or isinstance(value, str)):
            raise LabelMapError(f"{path}: {reprlib.repr(key)}: {reprlib.repr(value)} is not "
                                "'manifest label: model label' (strings, or null)")
        out[normalise_label(key)] = None if value is None else normalise_label(value)
    return out


def plan(model_labels: Sequence[str], utterances: Sequence[Utterance],
         label_map: Mapping[str, str | None] | None = None) -> Plan:
    """Decide what is scored (see the module docstring); :class:`LabelMapError` when the map
    names a manifest label the manifest lacks or a model label the model lacks, or when no
    manifest class maps to a model class."""
    manifest_labels = sorted({u.label for u in utterances})
    label_map = dict(label_map or {})
    for source, target in label_map.items():
        if source not in manifest_labels:
            raise LabelMapError(f"label map: {source!r} is not a label of the manifest "
                                f"(its labels: {', '.join(manifest_labels)})")
        if target is not None and target not in model_labels:
            raise LabelMapError(f"label map: {target!r} (for {source!r}) is not a label of "
                                f"the model (its labels: {', '.join(model_labels)})")
    targets = {label: label_map[label] if label in label_map else
               (label if label in model_labels else None) for label in manifest_labels}
    kept = {k: v for k, v in targets.items() if v is not None}
    if not kept:
        raise LabelMapError(f"no manifest label ({', '.join(manifest_labels)}) is a model "
                            f"label ({', '.join(model_labels)}): give a label map "
                            "(manifest label: model label)")
    counts = Counter(u.label for u in utterances if u.label not in kept)
    labels = [c for c in model_labels if c in set(kept.values())]
    return Plan(kept, labels, dict(sorted(counts.items())))


def restrict(probs: np.ndarray, model_labels: Sequence[str],
             labels: Sequence[str]) -> np.ndarray:
    """Probabilities (N, C_model) -> (N, len(labels)): the columns of ``labels``,
    renormalised to sum to 1 per row."""
    columns = [list(model_labels).index(c) for c in labels]
    kept = np.asarray(probs, dtype=np.float64)[:, columns]
    total = kept.sum(axis=1, keepdims=True)
    return np.divide(kept, total, out=np.full_like(kept, 1.0 / len(labels)), where=total > 0)


@dataclass(frozen=True)
class EvaluationResult:
    """What :func:`evaluate` did: the run metrics, the plan and the files that failed."""

    metrics: dict
    plan: Plan
    failed: list[tuple[str, str]]  # (path, reason)


def evaluate(predictor, utterances: Sequence[Utterance], out_dir: str | Path, *,
             label_map: Mapping[str, str | None] | None = None, model: str = "",
             batch_size: int = 32, progress: bool = False,
             notice: Callable[[str], None] = lambda _: None) -> EvaluationResult:
    """Score ``predictor`` (a :class:`~sertk.infer.Predictor`, best without VAD) on the
    mapped classes of ``utterances`` and write the run files into ``out_dir``;
    :class:`LabelMapError` as :func:`plan`, ``ValueError`` when no file could be predicted."""
    from sertk.eval.report import aggregate_run
    from sertk.eval.rundir import init_run, write_fold

    model_labels = list(predictor.labels)
    scoring = plan(model_labels, utterances, label_map)
    if scoring.left_out:
        counts = ", ".join(f"{k} {n}" for k, n in scoring.left_out.items())
        notice(f"left out {sum(scoring.left_out.values())} utterance(s) of classes the map "
               f"does not give a model label: {counts}")
    kept = [u for u in utterances if u.label in scoring.targets]
    results = predictor.predict_files([u.path for u in kept], batch_size=batch_size,
                                      progress=progress)
    done = [(u, r) for u, r in zip(kept, results) if r.ok and r.prediction.probabilities]
    failed = [(r.path, r.error or "no prediction") for r in results
              if not (r.ok and r.prediction.probabilities)]
    if not done:
        raise ValueError(f"none of the {len(kept)} files could be predicted "
                         f"(first: {failed[0][0]}: {failed[0][1]})")
    probs = np.stack([[r.prediction.probabilities[c] for c in model_labels] for _, r in done])
    ids = tuple(u.id for u, _ in done)
    fold = Fold(index=0, name=PROTOCOL, train_ids=(), val_ids=(), test_ids=ids)
    info = {"model": model, "label_map": scoring.targets, "left_out": scoring.left_out,
            "failed": len(failed), "restricted_to": scoring.labels,
            "normalisation": predictor.feature_config.normalisation}
    out_dir = Path(out_dir)
    init_run(out_dir, [fold], scoring.labels, protocol=PROTOCOL, info=info)
    write_fold(out_dir, fold, list(ids), [scoring.targets[u.label] for u, _ in done],
               restrict(probs, model_labels, scoring.labels), scoring.labels,
               info={"model": model, "n_failed": len(failed)})
    return EvaluationResult(aggregate_run(out_dir), scoring, failed)


def describe(result: EvaluationResult) -> str:
    """One line: what was scored."""
    pooled = result.metrics["pooled"]
    return (f"{pooled['n']} utterances of {len(result.plan.labels)} shared classes "
            f"({', '.join(result.plan.labels)}): UA {100 * pooled['ua']:.2f} %, "
            f"WA {100 * pooled['wa']:.2f} %; map {json.dumps(result.plan.targets)}")
