"""A finished run's test results, read from its run directory or from its published record.

A run directory keeps every fold in ``fold-XX/`` with its checkpoint and curves
(:mod:`sertk.eval.rundir`). Its **record** is what is published of it: the run directory
without the fold folders and the log::

    RECORD/
      run.json          the folds: which utterances trained, validated and tested each
      config.yaml       the recipe (config.json too, where the run wrote one)
      metrics.json      per fold (with each fold's training facts), mean ± std, pooled
      predictions.csv   every test utterance of every fold, with its fold index
      report.md         the report, and the figures it shows (*.png)

A seed group's record holds one record per seed (``seed-<s>/``) beside the group's
``metrics.json`` and ``report.md`` (:func:`sertk.eval.seeds.aggregate_seeds`), as a live
group does. :func:`fold_results` reads either kind, so ``sertk compare``, ``sertk fuse``
and the seed reports work on published records exactly as on the runs that made them:
anyone can recompute a published comparison from the records alone.
"""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sertk.data.splits import Fold
from sertk.eval.rundir import (METRICS_FILE, PREDICTIONS_FILE, REPORT_FILE, RUN_FILE,
                               Predictions, ReportError, check_fold_predictions, fold_dir,
                               is_finished, read_json, read_predictions, read_run, runs_of,
                               seed_runs)
from sertk.eval.seeds import aggregate_seeds

#: The files of a run directory's top level that a record keeps (plus every ``*.png``).
RECORD_FILES = (RUN_FILE, "config.yaml", "config.json", METRICS_FILE, PREDICTIONS_FILE,
                REPORT_FILE)


@dataclass(frozen=True)
class FinishedFold:
    """One finished fold: its split, its test predictions (N,) and its training facts
    (``info``: ``best_val_ua`` or ``val_ua``, ``params``, ...)."""

    fold: Fold
    predictions: Predictions
    info: dict


def is_record(run_dir: str | Path) -> bool:
    """True when ``run_dir`` is a published record: ``run.json`` and ``metrics.json``, and
    no fold folders (a run that has only begun has no ``metrics.json``)."""
    run_dir = Path(run_dir)
    return ((run_dir / RUN_FILE).is_file() and (run_dir / METRICS_FILE).is_file()
            and not any(run_dir.glob("fold-*")))


def fold_results(run_dir: str | Path) -> list[FinishedFold]:
    """Every fold of a finished run (a run directory or a record), in ``run.json`` order.

    Raises:
        ReportError: a fold not finished (naming it), or predictions that do not cover
            the fold's test part exactly, or labels other than ``run.json``'s.
    """
    run_dir = Path(run_dir)
    plan = read_run(run_dir)
    if is_record(run_dir):
        results = _record_folds(run_dir, plan)
    else:
        results = []
        for fold in plan["folds"]:
            directory = fold_dir(run_dir, fold.index)
            if not (directory / METRICS_FILE).is_file():
                raise ReportError(f"{directory}: fold not finished (no {METRICS_FILE})")
            info = read_json(directory / METRICS_FILE).get("info", {})
            results.append(FinishedFold(fold, read_predictions(directory / PREDICTIONS_FILE),
                                      info if isinstance(info, dict) else {}))
    for result in results:
        check_fold_predictions(result.predictions, result.fold, plan["labels"],
                               where=f"{run_dir} ({result.fold.name})")
    return results


def _record_folds(run_dir: Path, plan: dict) -> list[FinishedFold]:
    metrics = read_json(run_dir / METRICS_FILE)
    if metrics.get("complete") is not True or not isinstance(metrics.get("folds"), list):
        raise ReportError(f"{run_dir}: a record of an unfinished run ({METRICS_FILE} does not "
                          "say complete); publish runs whose folds are all done")
    info = {f.get("index"): f.get("info", {}) for f in metrics["folds"] if isinstance(f, dict)}
    pooled = read_predictions(run_dir / PREDICTIONS_FILE)
    results = []
    for fold in plan["folds"]:
        rows = [n for n, k in enumerate(pooled.folds) if k == fold.index]
        part = Predictions(*(tuple(getattr(pooled, name)[n] for n in rows)
                             for name in ("ids", "folds", "y_true", "y_pred")),
                           pooled.probs[rows], pooled.labels, pooled.dimensions,
                           *((getattr(pooled, k)[rows] if pooled.dimensions else None)
                             for k in ("dims_true", "dims_pred")))
        fold_info = info.get(fold.index, {})
        results.append(FinishedFold(fold, part, fold_info if isinstance(fold_info, dict) else {}))
    extra = set(pooled.folds) - {f.index for f in plan["folds"]}
    if extra:
        raise ReportError(f"{run_dir / PREDICTIONS_FILE}: fold indices {sorted(extra)} are "
                          f"not in {RUN_FILE}")
    return results


def publish(source: str | Path, out: str | Path, *, skip_unfinished: bool = False) -> list[Path]:
    """Write the record of ``source`` (a finished run, or a seed group) to ``out``.

    A group's finished seeds become ``out/seed-<s>/`` and the group report is made anew
    from them. ``out`` is replaced as a whole (a new record never mixes with an old one);
    it must be absent, empty or a record. Returns the runs published.

    Raises:
        ReportError: ``source`` is not a run or seed group, a run is unfinished (unless
            ``skip_unfinished``, which leaves unfinished seeds out), or ``out`` holds
            something other than a record.
    """
    source, out = Path(source), Path(out)
    runs = runs_of(source)
    group = runs != [source]
    finished = [run for run in runs if is_finished(run)]
    unfinished = [run for run in runs if run not in finished]
    if unfinished and (not skip_unfinished or not finished):
        raise ReportError(f"{', '.join(map(str, unfinished))}: not finished (aggregate a "
                          "complete run first: sertk report RUN)" +
                          ("; skip_unfinished leaves such seeds out" if group else ""))
    _check_replaceable(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        for run in finished:
            _copy_record(run, staging / run.name if group else staging)
        if group:
            aggregate_seeds(staging, name=out.name)
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return finished


def _copy_record(run: Path, dest: Path) -> None:
    dest.mkdir(parents=True, exist_ok=True)
    for name in RECORD_FILES:
        if (run / name).is_file():
            shutil.copyfile(run / name, dest / name)
    for figure in sorted(run.glob("*.png")):
        shutil.copyfile(figure, dest / figure.name)
    # the record must read back as the run it came from: a run-level predictions.csv older
    # than a fold trained again after it was written is refused here
    for live, kept in zip(fold_results(run), fold_results(dest), strict=True):
        if (sorted(zip(live.predictions.ids, live.predictions.y_pred))
                != sorted(zip(kept.predictions.ids, kept.predictions.y_pred))):
            raise ReportError(f"{run}: its {PREDICTIONS_FILE} differs from "
                              f"{fold_dir(run, live.fold.index).name}'s; report the run again "
                              "(sertk report RUN) before publishing it")


def _check_replaceable(out: Path) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ReportError(f"{out}: exists and is not a folder")
    entries = list(out.iterdir())
    records = [out] + seed_runs(out)
    if entries and not any((r / RUN_FILE).is_file() for r in records):
        raise ReportError(f"{out}: holds files but no record ({RUN_FILE}); "
                          "choose an empty or new folder")
    if any(any(r.glob("fold-*")) for r in records):
        raise ReportError(f"{out}: is a run directory (it has fold folders), not a record; "
                          "a record never replaces a run")
