"""The run directory: where a cross-validation run keeps its per-fold and run-level outputs.

Folds may be trained by separate processes (a cluster fan-out) and aggregated later, so
every fold writes its own files and the run-level files are derived from them::

    RUN_DIR/
      run.json              protocol, class labels, the folds (ids of every part), run info
      fold-00/
        history.csv         per-epoch curves, written by the training engine (HISTORY_COLUMNS)
        predictions.csv     id, fold, true, pred, prob_<label> ... (one row per test utterance)
                            [, true_<dim>, pred_<dim> ... for a model with dimensions]
        metrics.json        fold_metrics() of those predictions + "info" (params, train time...)
      fold-01/ ...
      metrics.json          run level: per fold, mean +- std, pooled (written by aggregate_run)
      predictions.csv       all folds' predictions, fold by fold
      report.md             the readable report; confusion.png, fold-XX/curves.png beside it
      run.log               sertk's and Lightning's messages while folds trained (appended)

Workflow for a training engine::

    folds = make_folds(utterances, "lospk")
    init_run(run_dir, folds, labels, protocol="lospk", info={"model": "proposed"})
    for fold in folds:                       # or one fold per job
        ...  # train; write_history(fold_dir(run_dir, fold.index), rows) after each epoch
        write_fold(run_dir, fold, ids, y_true, probs, labels,
                   info={"params": n_params, "train_seconds": t, "best_epoch": e})
    aggregate_run(run_dir)                   # sertk.eval.report; or `sertk report RUN_DIR`

``metrics.json`` is written last in a fold, so its presence marks the fold complete, and
the run-level ``metrics.json`` says ``"complete": true`` once every fold is reported
(:func:`is_finished`). A **seed group** is a folder of run directories of one recipe,
``seed-0/``, ``seed-1/``, ... (:func:`seed_runs`; ``sertk cv --seeds`` writes one).
Every file is written atomically (a temporary file, then ``os.replace``).
"""
from __future__ import annotations

import contextlib
import csv
import json
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, Mapping, Sequence

import numpy as np

from sertk.data.splits import Fold
from sertk.eval.metrics import fold_metrics
from sertk.fileio import atomic_open, atomic_write, open_text, read_text

RUN_FILE = "run.json"
METRICS_FILE = "metrics.json"
PREDICTIONS_FILE = "predictions.csv"
REPORT_FILE = "report.md"
HISTORY_FILE = "history.csv"
CONFUSION_PNG = "confusion.png"
CURVES_PNG = "curves.png"
#: Columns of a fold's history.csv, one row per epoch; extra columns are allowed.
#: ``val_ua``/``val_wa`` are fractions in [0, 1]; losses are mean cross-entropy per utterance.
RUN_LOG = "run.log"
HISTORY_COLUMNS = ("epoch", "train_loss", "val_loss", "val_ua", "val_wa")
PROB_PREFIX = "prob_"
SEED_PREFIX = "seed-"  # a seed group's runs: GROUP/seed-0/, GROUP/seed-1/, ...
TRUE_PREFIX, PRED_PREFIX = "true_", "pred_"  # dimension columns: true_arousal, pred_arousal


class ReportError(ValueError):
    """A run directory that cannot be reported; the message names the file and reason."""


class IncompleteRunError(ReportError):
    """Some folds have no outputs yet; the message names them."""


def fold_dir(run_dir: str | Path, index: int) -> Path:
    """``RUN_DIR/fold-XX``: where fold ``index`` keeps its history, predictions and metrics."""
    return Path(run_dir) / f"fold-{index:02d}"


# --- run.json -------------------------------------------------------------------------------

def init_run(run_dir: str | Path, folds: Sequence[Fold], labels: Sequence[str], *,
             protocol: str, info: Mapping | None = None) -> Path:
    """Write ``run.json`` (the split and the class list). Returns its path.

    Safe to call from every job of a fan-out: an existing ``run.json`` with the same
    protocol, labels and folds is kept; a different one raises :class:`ReportError`.
    """
    path = Path(run_dir) / RUN_FILE
    plan = {"protocol": protocol, "labels": list(labels),
            "folds": [f.to_dict() for f in sorted(folds, key=lambda f: f.index)],
            "info": dict(info or {})}
    if path.exists():
        old = read_json(path)
        if any(old.get(k) != plan[k] for k in ("protocol", "labels", "folds")):
            raise ReportError(f"{path}: exists with a different protocol, labels or split; "
                              "use a new run directory")
        return path
    return write_json(path, plan)


def read_run(run_dir: str | Path) -> dict:
    """Read ``run.json``: ``{"protocol", "labels", "folds": list[Fold], "info"}``."""
    path = Path(run_dir) / RUN_FILE
    if not path.is_file():
        raise ReportError(f"{path}: not found, so the run's folds are unknown "
                          "(the training engine writes it with init_run)")
    plan = read_json(path)
    try:
        plan["folds"] = [Fold.from_dict(f) for f in plan["folds"]]
        plan["labels"] = [str(c) for c in plan["labels"]]
    except (KeyError, TypeError, ValueError) as err:
        raise ReportError(f"{path}: malformed run file ({err!r})") from None
    plan.setdefault("info", {})
    return plan


# --- seed groups ----------------------------------------------------------------------------

def seed_runs(group: str | Path) -> list[Path]:
    """The ``seed-<s>`` runs of ``group`` (folders with a ``run.json``), sorted by seed;
    empty when ``group`` is a single run."""
    def order(path: Path) -> tuple[int, str]:
        seed = path.name[len(SEED_PREFIX):]
        return (int(seed), "") if seed.isdigit() else (10 ** 9, seed)

    found = [p for p in Path(group).glob(f"{SEED_PREFIX}*") if (p / RUN_FILE).is_file()]
    return sorted(found, key=order)


def runs_of(path: str | Path) -> list[Path]:
    """The runs of ``path``: a seed group's :func:`seed_runs`, or ``[path]`` for one run.

    Raises:
        ReportError: ``path`` is neither (no ``run.json`` in it or its seed folders).
    """
    path = Path(path)
    seeds = seed_runs(path)
    if not seeds and not (path / RUN_FILE).is_file():
        raise ReportError(f"{path}: not a run directory or seed group (no {RUN_FILE})")
    return seeds or [path]


def is_finished(run: str | Path) -> bool:
    """True when ``run`` has a run-level ``metrics.json`` of all its folds."""
    path = Path(run) / METRICS_FILE
    return path.is_file() and read_json(path).get("complete") is True


# --- predictions ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Predictions:
    """Test predictions: ids, fold indices, true and predicted labels (N,), probs (N, C);
    for a model with dimensions, their ``names`` (D,) and true and predicted ratings
    ``dims_true``/``dims_pred`` (N, D) (None without)."""

    ids: tuple[str, ...]
    folds: tuple[int, ...]
    y_true: tuple[str, ...]
    y_pred: tuple[str, ...]
    probs: np.ndarray
    labels: tuple[str, ...]
    dimensions: tuple[str, ...] = ()
    dims_true: np.ndarray | None = None
    dims_pred: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)

    @classmethod
    def concat(cls, parts: Sequence["Predictions"]) -> "Predictions":
        if not parts or len({p.labels for p in parts}) != 1:
            raise ReportError("cannot concatenate predictions with different label lists")
        if len({p.dimensions for p in parts}) != 1:
            raise ReportError("cannot concatenate predictions with different dimensions")
        dims = parts[0].dimensions
        return cls(*(tuple(x for p in parts for x in getattr(p, name))
                     for name in ("ids", "folds", "y_true", "y_pred")),
                   np.concatenate([p.probs for p in parts]), parts[0].labels, dims,
                   *((np.concatenate([getattr(p, k) for p in parts]) if dims else None)
                     for k in ("dims_true", "dims_pred")))


def write_predictions(path: str | Path, preds: Predictions) -> Path:
    """Write ``id, fold, true, pred, prob_<label>...`` rows as CSV (atomically), then
    ``true_<dim>, pred_<dim>`` per dimension when there are dimensions."""
    header = ["id", "fold", "true", "pred"] + [PROB_PREFIX + c for c in preds.labels]
    header += [prefix + d for d in preds.dimensions for prefix in (TRUE_PREFIX, PRED_PREFIX)]
    dims = (np.stack([preds.dims_true, preds.dims_pred], axis=2).reshape(len(preds), -1)
            if preds.dimensions else np.zeros((len(preds), 0)))
    rows = [[i, f, t, p] + [f"{x:.6g}" for x in row] + [f"{x:.6g}" for x in ratings]
            for i, f, t, p, row, ratings in zip(preds.ids, preds.folds, preds.y_true,
                                                preds.y_pred, preds.probs, dims)]
    return _atomic_csv(path, header, rows)


def read_predictions(path: str | Path) -> Predictions:
    """Read a predictions CSV; labels come from its ``prob_<label>`` columns, in order."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: not found")
    with open_text(path, newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        rows = list(reader)
    if not header or header[:4] != ["id", "fold", "true", "pred"]:
        raise ReportError(f"{path}: header must start with id,fold,true,pred; got {header}")
    n_probs = next((n for n, h in enumerate(header[4:]) if not h.startswith(PROB_PREFIX)),
                   len(header) - 4)
    labels = tuple(h[len(PROB_PREFIX):] for h in header[4:4 + n_probs])
    dims_header = header[4 + n_probs:]
    dimensions = tuple(h[len(TRUE_PREFIX):] for h in dims_header[::2])
    if not labels or dims_header != [p + d for d in dimensions
                                     for p in (TRUE_PREFIX, PRED_PREFIX)]:
        raise ReportError(f"{path}: expected prob_<label> columns after pred, then "
                          f"true_<dim>, pred_<dim> pairs; got {header[4:]}")
    if not rows:
        raise ReportError(f"{path}: no predictions")
    probs = np.empty((len(rows), len(labels)))
    ratings = np.empty((len(rows), 2 * len(dimensions)))
    for n, row in enumerate(rows):
        where = f"{path}:{n + 2}"
        if len(row) != len(header):
            raise ReportError(f"{where}: {len(row)} fields, expected {len(header)}")
        if row[2] not in labels or row[3] not in labels:
            raise ReportError(f"{where}: label {row[2]!r} or {row[3]!r} not in {list(labels)}")
        try:
            probs[n] = [float(x) for x in row[4:4 + n_probs]]
            int(row[1])
        except ValueError:
            raise ReportError(f"{where}: fold or probability is not a number") from None
        try:
            ratings[n] = [float(x) for x in row[4 + n_probs:]]
        except ValueError:
            raise ReportError(f"{where}: a rating is not a number") from None
    if not np.isfinite(ratings).all():
        raise ReportError(f"{path}: a rating is NaN or infinite")
    return Predictions(tuple(r[0] for r in rows), tuple(int(r[1]) for r in rows),
                       tuple(r[2] for r in rows), tuple(r[3] for r in rows), probs, labels,
                       dimensions, *((ratings[:, 0::2], ratings[:, 1::2]) if dimensions
                                     else (None, None)))


def check_fold_predictions(preds: Predictions, fold: Fold, labels: Sequence[str], *,
                           where: str) -> None:
    """``ReportError`` (starting with ``where``) unless ``preds`` hold ``labels`` in order,
    only ``fold``'s index and each of its test ids exactly once."""
    if list(preds.labels) != list(labels):
        raise ReportError(f"{where}: labels {list(preds.labels)} differ from run.json's "
                          f"{list(labels)}")
    if set(preds.folds) != {fold.index}:
        raise ReportError(f"{where}: fold column holds {sorted(set(preds.folds))}, "
                          f"expected {fold.index}")
    expected, got = set(fold.test_ids), set(preds.ids)
    if len(got) != len(preds.ids) or got != expected:
        raise ReportError(f"{where}: predictions do not match {fold.name}'s test ids: "
                          f"{len(expected - got)} missing, {len(got - expected)} unexpected, "
                          f"{len(preds.ids) - len(got)} repeated")


# --- one fold -------------------------------------------------------------------------------

def write_fold(run_dir: str | Path, fold: Fold | int, ids: Sequence[str], y_true: Sequence[str],
               probs: np.ndarray, labels: Sequence[str], *, y_pred: Sequence[str] | None = None,
               info: Mapping | None = None, dimensions: Sequence[str] = (),
               dims_true: np.ndarray | None = None, dims_pred: np.ndarray | None = None) -> dict:
    """Write a fold's ``predictions.csv`` then ``metrics.json``; returns the metrics.

    Args:
        fold: the :class:`Fold` (its test ids are checked against ``ids``) or its index.
        ids, y_true: test utterance ids and true labels (N,).
        probs: class probabilities (N, C), columns in ``labels`` order (C,).
        y_pred: predicted labels (N,); default the argmax of ``probs``.
        info: JSON-able facts about training, shown in reports. Recognised keys:
            ``params`` (int), ``train_seconds`` (float), ``best_epoch`` (int), ``epochs``.
        dimensions, dims_true, dims_pred: for a model with dimensions, their names (D,)
            and the true and predicted ratings (N, D); the metrics then hold
            ``"dimensions"`` (:func:`sertk.eval.dimensional.dimension_metrics`).
    """
    index = fold.index if isinstance(fold, Fold) else int(fold)
    labels = tuple(str(c) for c in labels)
    probs = np.asarray(probs, dtype=float)
    if probs.shape != (len(ids), len(labels)):
        raise ReportError(f"fold {index}: probs have shape {probs.shape}, expected "
                          f"({len(ids)}, {len(labels)})")
    if not np.isfinite(probs).all():
        raise ReportError(f"fold {index}: probabilities contain NaN or infinity")
    if isinstance(fold, Fold) and (len(set(ids)) != len(ids) or set(ids) != set(fold.test_ids)):
        raise ReportError(f"{fold.name}: predictions must cover its {len(fold.test_ids)} test "
                          f"ids exactly once each; got {len(ids)} ids ({len(set(ids))} distinct)")
    if y_pred is None:
        y_pred = [labels[j] for j in probs.argmax(axis=1)]
    dimensions = tuple(dimensions)
    if dimensions:
        dims_true, dims_pred = (np.asarray(a, dtype=float) for a in (dims_true, dims_pred))
        if dims_true.shape != (len(ids), len(dimensions)) or dims_pred.shape != dims_true.shape:
            raise ReportError(f"fold {index}: ratings have shapes {dims_true.shape} and "
                              f"{dims_pred.shape}, expected ({len(ids)}, {len(dimensions)})")
        if not (np.isfinite(dims_true).all() and np.isfinite(dims_pred).all()):
            raise ReportError(f"fold {index}: ratings contain NaN or infinity")
    preds = Predictions(tuple(ids), (index,) * len(ids), tuple(map(str, y_true)),
                        tuple(map(str, y_pred)), probs, labels, dimensions,
                        *((dims_true, dims_pred) if dimensions else (None, None)))
    name = fold.name if isinstance(fold, Fold) else fold_dir("", index).name
    metrics = {"index": index, "name": name, **fold_metrics(preds.y_true, preds.y_pred, labels),
               **dimension_fields(preds), "info": dict(info or {})}
    out = fold_dir(run_dir, index)
    write_predictions(out / PREDICTIONS_FILE, preds)
    write_json(out / METRICS_FILE, metrics)
    return metrics


def dimension_fields(preds: Predictions) -> dict:
    """``{"dimensions": dimension_metrics(...)}`` of predictions with dimensions, else {}."""
    if not preds.dimensions:
        return {}
    from sertk.eval.dimensional import dimension_metrics

    return {"dimensions": dimension_metrics(preds.dims_true, preds.dims_pred, preds.dimensions)}


def write_history(directory: str | Path, rows: Iterable[Mapping]) -> Path:
    """Write ``history.csv`` (one row per epoch, :data:`HISTORY_COLUMNS` first) atomically.

    Rows missing a column get an empty cell (e.g. no validation part: no ``val_*``).
    """
    rows = list(rows)
    extra = sorted({k for r in rows for k in r} - set(HISTORY_COLUMNS))
    header = list(HISTORY_COLUMNS) + extra
    return _atomic_csv(Path(directory) / HISTORY_FILE, header,
                       [["" if r.get(k) is None else r[k] for k in header] for r in rows])


@contextlib.contextmanager
def logging_to(run_dir: str | Path) -> Iterator[None]:
    """Copy sertk's and Lightning's messages (INFO and up) into ``run_dir/run.log`` while the
    block runs, appending (resumes and fan-out jobs add to it). Nested for the same folder:
    one handler, so no line is written twice."""
    path = (Path(run_dir) / RUN_LOG).resolve()
    loggers = [logging.getLogger("sertk"), logging.getLogger("lightning.pytorch")]
    if any(getattr(h, "baseFilename", None) == str(path) for h in loggers[0].handlers):
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        if logger.getEffectiveLevel() > logging.INFO:
            logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()


# --- atomic files ---------------------------------------------------------------------------

def write_json(path: str | Path, obj) -> Path:
    """Atomically write ``obj`` as indented JSON; numpy values become Python, NaN becomes null."""
    return atomic_write(path, json.dumps(_jsonable(obj), indent=2, allow_nan=False) + "\n")


def read_json(path: str | Path) -> dict:
    """The JSON object in ``path``; ``ReportError`` if missing, malformed or not an object."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"{path}: not found")
    try:
        data = json.loads(read_text(path))
    except json.JSONDecodeError as err:
        raise ReportError(f"{path}: not valid JSON ({err})") from None
    if not isinstance(data, dict):
        raise ReportError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _atomic_csv(path: str | Path, header: Sequence[str], rows: Iterable[Sequence]) -> Path:
    path = Path(path)
    with atomic_open(path, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _jsonable(obj):
    """numpy scalars/arrays -> Python; non-finite floats -> None."""
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj
