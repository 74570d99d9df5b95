"""Run a side-by-side study: several systems, one protocol, one comparison table.

:func:`run_study` cross-validates every system (a name and its resolved recipe, see
:mod:`sertk.train.studyspec`) on the same folds and seed into ``OUT/<name>/``, an ordinary
run directory of :func:`~sertk.train.cv.cross_validate`, then writes ``OUT/comparison.md``
and ``OUT/comparison.json`` (:mod:`sertk.eval.studytable`) and ``OUT/study.json`` (the
resolved recipes, the reference).

Every system's recipe, the protocol's folds and every existing run directory's recipe are
checked before anything trains. A system that fails while training is recorded with its
reason (the table marks it) and the others still run. Re-running resumes: a system whose
selected folds are done and aggregated is skipped, an unfinished one continues.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

from sertk.data.manifest import Utterance
from sertk.eval.compare import N_BOOT
from sertk.eval.rundir import METRICS_FILE, ReportError, fold_dir, read_json, write_json
from sertk.eval.studytable import SystemRun, write_study_table
from sertk.fileio import os_error_message, short_error
from sertk.train.config import ConfigError, TrainConfig, check_same_run
from sertk.train.cv import cross_validate, select_folds
from sertk.train.errors import TrainingInterrupted
from sertk.train.fitting import is_global_zero, writing
from sertk.train.folds import protocol_folds
from sertk.train.recipe import check_recipe

log = logging.getLogger(__name__)
STUDY_FILE = "study.json"


@dataclass(frozen=True)
class StudyOutcome:
    """``table``: ``comparison.md`` (None while a ``fold=K`` fan-out still misses folds);
    ``failed``: system name -> the one-line reason it failed."""

    table: Path | None
    failed: dict[str, str] = field(default_factory=dict)


def run_study(configs: Mapping[str, TrainConfig], utterances: Sequence[Utterance],
              out_dir: str | Path, *, reference: str, n_boot: int = N_BOOT,
              boot_seed: int = 0) -> StudyOutcome | None:
    """Cross-validate each system of ``configs`` (name -> recipe, in table order) into
    ``out_dir/<name>`` and write the comparison against ``reference`` (None on DDP ranks
    other than 0).

    Raises:
        ConfigError: naming the system, before anything trains (a recipe that cannot
            train, a run directory holding another recipe, a fold that does not exist).
    """
    out_dir = Path(out_dir)
    if reference not in configs:
        raise ConfigError(f"reference {reference!r} is not a system of the study "
                          f"(systems: {', '.join(configs)})")
    folds, selected = _check(configs, utterances, out_dir)
    if is_global_zero():
        with writing(out_dir):
            write_json(out_dir / STUDY_FILE, {
                "reference": reference,
                "systems": {name: config.to_dict() for name, config in configs.items()}})
    runs, failed, waiting = [], {}, False
    for number, (name, config) in enumerate(configs.items(), 1):
        run_dir = out_dir / name
        if _finished(run_dir, folds, selected):
            log.info("system %s (%d/%d): finished, skipped", name, number, len(configs))
        else:
            log.info("system %s (%d/%d): %s", name, number, len(configs), config.model.name)
            try:
                cross_validate(config, utterances, run_dir)
            except TrainingInterrupted:
                raise
            except Exception as err:  # one system's failure must not stop the others
                failed[name] = failure_reason(err)
                log.error("system %s failed: %s", name, failed[name])
                log.debug("system %s failed", name, exc_info=True)
                runs.append(SystemRun(name, config.model.name, run_dir, failed[name]))
                continue
            waiting = waiting or not _finished(run_dir, folds, selected)
        runs.append(SystemRun(name, config.model.name, run_dir))
    if not is_global_zero():
        return None
    if waiting:
        return StudyOutcome(None, failed)
    return StudyOutcome(write_study_table(runs, reference, out_dir, n_boot=n_boot,
                                          seed=boot_seed), failed)


def failure_reason(err: BaseException) -> str:
    """One line: the exception's type and its message (an ``OSError`` as PATH: REASON)."""
    message = os_error_message(err) if isinstance(err, OSError) else short_error(err, first=True)
    return f"{type(err).__name__}: {message}"


def _check(configs: Mapping[str, TrainConfig], utterances: Sequence[Utterance],
           out_dir: Path) -> tuple[list, list]:
    """Every system's recipe and run directory; returns (all folds, the selected folds)."""
    for name, config in configs.items():
        try:
            if config.protocol.name == "final":
                raise ConfigError("protocol 'final' has no test part; a study needs kfold, "
                                  "loso or lospk")
            check_recipe(config, utterances)
            check_same_run(config, out_dir / name)
        except ConfigError as err:
            raise ConfigError(f"system {name!r}: {err}") from None
    first = next(iter(configs.values()))
    folds = protocol_folds(utterances, first)  # the protocol keys are the study's: one split
    return folds, select_folds(folds, first)


def _finished(run_dir: Path, folds: Sequence, selected: Sequence) -> bool:
    """The selected folds are done and the run-level metrics cover exactly the done folds."""
    done = {f.index for f in folds if (fold_dir(run_dir, f.index) / METRICS_FILE).is_file()}
    if not {f.index for f in selected} <= done:
        return False
    try:
        aggregated = read_json(run_dir / METRICS_FILE).get("folds", [])
    except ReportError:
        return False
    return {f.get("index") for f in aggregated if isinstance(f, dict)} == done
