"""Train and evaluate one split: the unit that cross-validation repeats (SPEC section 4).

:func:`fit` trains the configured model on a fold's training part with Lightning, keeps the
checkpoint with the best *validation* UA (early stopping on validation UA too), then scores
that checkpoint on the fold's test part, which nothing before has looked at. Outputs go into
the fold's directory::

    FOLD_DIR/
      checkpoint/       best-validation model (safetensors + config.json, sertk.models)
      history.csv       one row per epoch: losses, validation UA/WA, LR, seconds
      curves.png        training curves drawn from history.csv
      result.json       training summary (best epoch, validation UA, time, parameters,
                        calibration; init_val_ua: the starting model's validation UA when
                        fine-tuning from init_from)
      predictions.csv   test predictions   } written by sertk.eval.rundir.write_fold;
      metrics.json      test metrics       } metrics.json last: the fold is complete
      resume/last.ckpt  Lightning state at the last epoch end (removed when the fold is done)

A fold is resumable at every stage: a complete fold is skipped; a trained fold with no test
outputs is only evaluated; an interrupted training resumes from ``resume/last.ckpt``
(:mod:`sertk.train.resume`) and, as every epoch reseeds from ``(seed, fold, epoch)``, ends
with the same numbers as an uninterrupted run on the same machine.

After training, the best checkpoint's temperature is fitted on the validation part
(:mod:`sertk.train.calibration`); the test predictions use it, and the fold's metrics keep
the test ECE before and after. ``init_from``/``freeze`` start from another checkpoint
(:mod:`sertk.train.warmstart`). Nothing is written before the whole recipe is checked
(:mod:`sertk.train.recipe`) and the features computed; a fold trains under an exclusive lock
(:mod:`sertk.train.runlock`).
"""
from __future__ import annotations

import contextlib
import logging
import shutil
import sys
import tempfile
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
from lightning.pytorch.utilities.exceptions import SIGTERMException

from sertk.data.dataset import FeatureDataset
from sertk.data.labels import normalise_label
from sertk.data.manifest import Utterance
from sertk.data.splits import Fold, check_fold, check_fold_labels
from sertk.eval.calibration import fold_calibration
from sertk.eval.metrics import unweighted_accuracy
from sertk.eval.plots import plot_history
from sertk.eval.rundir import (CURVES_PNG, HISTORY_FILE, METRICS_FILE, fold_dir as run_fold_dir,
                               logging_to, read_json, write_fold, write_json)
from sertk.features import FeatureConfig
from sertk.models import count_parameters, create_model, load_checkpoint, save_checkpoint
from sertk.train.calibration import (calibrate_checkpoint, predict_logits, predict_ratings,
                                    softmax)
from sertk.train.callbacks import (BestCheckpoint, EpochProgressBar, EpochSeed, History,
                                   epoch_seed)
from sertk.train.config import (ConfigError, TrainConfig, check_same_run, save_config,
                                settle_threads)
from sertk.train.datamodule import SERDataModule, fold_datasets, load_features
from sertk.train.errors import TrainingInterrupted
from sertk.train.folds import FINAL_FOLD_NAME, protocol_folds
from sertk.train.module import SERModule
from sertk.train.recipe import check_recipe
from sertk.train.resume import AtomicCheckpointIO, usable_resume_state
from sertk.train.ssl_data import is_ssl_model, ssl_fold_data
from sertk.train.runlock import RUN_LOCK, exclusive, fold_lock_path
from sertk.train.warmstart import KeepFrozen, freeze, initialise, load_init_checkpoint

CHECKPOINT_DIR = "checkpoint"
RESUME_DIR = "resume"
RESULT_FILE = "result.json"


@dataclass
class FoldResult:
    """What :func:`fit` produced for one split. ``metrics``: the test metrics
    (``sertk.eval.metrics.fold_metrics`` plus ``info``), None without a test part
    (``protocol="final"``); ``best_epoch`` counts from 1; ``train_seconds`` sums the epochs'
    wall time (across resumes)."""

    fold: Fold
    directory: Path
    checkpoint: Path
    best_epoch: int | None
    best_val_ua: float | None
    best_val_wa: float | None
    epochs: int
    train_seconds: float
    params: int
    metrics: dict | None = None
    skipped: bool = False
    info: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {"fold": self.fold.name, "index": self.fold.index, "checkpoint": str(self.checkpoint),
                "best_epoch": self.best_epoch, "best_val_ua": self.best_val_ua,
                "best_val_wa": self.best_val_wa, "epochs": self.epochs,
                "train_seconds": self.train_seconds, "params": self.params}


def fit(config: TrainConfig, utterances: Sequence[Utterance], fold: Fold | int | None = None, *,
        out_dir: str | Path | None = None, features: Mapping[str, np.ndarray] | None = None,
        labels: Sequence[str] | None = None) -> FoldResult:
    """Train one split of ``utterances`` (the whole manifest) under ``config``, keep the
    best-validation model, score it on the test part.

    Args:
        fold: a :class:`Fold`, a fold index of ``config.protocol.name``, or None for
            ``config.protocol.fold`` (or the single split of ``protocol="final"``).
        out_dir: the run directory; a fold writes into ``out_dir/fold-XX`` (a ``final``
            split into ``out_dir`` itself). None: a temporary directory.
        features: ``{id: (n_mels, frames)}`` unpadded log-mels (default: from the cache).
        labels: the class list (default: sorted labels of ``utterances``).
    """
    manifest_labels = check_recipe(config, utterances)  # before anything is written
    labels = [normalise_label(c) for c in labels] if labels else manifest_labels
    fold = _resolve_fold(config, utterances, fold)
    check_fold(utterances, fold, config.protocol.name)  # whoever made the split
    check_fold_labels(utterances, fold, labels)  # known labels, each one trained on
    init = load_init_checkpoint(config, config.features, len(labels))
    run_dir = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="sertk-"))
    config = settle_threads(config, run_dir)  # recorded with the run, reused on resume
    check_same_run(config, run_dir)
    directory = run_dir if fold.name == FINAL_FOLD_NAME else run_fold_dir(run_dir, fold.index)
    done = _completed(directory, fold)
    if done is not None:
        return done
    feature_config = config.features
    if features is None:
        features = load_fold_features(config, utterances)
    if is_ssl_model(config.model.name):  # encoder hidden states from the feature store
        data = ssl_fold_data(config, utterances, fold, labels, feature_config)
    else:
        data = fold_datasets(features, utterances, fold, labels, feature_config,
                             dimensions=config.dimensions.names)
    with writing(run_dir, directory.name if directory != run_dir else FINAL_FOLD_NAME):
        if is_global_zero():
            with writing(run_dir):
                check_same_run(config, run_dir)  # again: another recipe may have come first
                save_config(config, run_dir)
        done = _completed(directory, fold)  # again: another job may have finished it
        if done is not None:
            return done
        if not (directory / RESULT_FILE).is_file():
            _train(config, fold, data, labels, feature_config, directory, init)
        summary = read_json(directory / RESULT_FILE)
        metrics = None
        if data.test is not None and is_global_zero():
            metrics = evaluate_fold(config, fold, data.test, labels, run_dir, directory, summary)
        if not config.runtime.keep_resume and is_global_zero():
            shutil.rmtree(directory / RESUME_DIR, ignore_errors=True)
    return _result(fold, directory, summary, metrics)


@contextlib.contextmanager
def writing(run_dir: Path, fold_name: str | None = None):
    """Hold the run directory's recipe lock (``fold_name`` None: brief, waited for) or the
    fold's lock (refused at once when busy: :class:`~sertk.train.runlock.RunBusyError`).
    Only global rank 0 writes, so other DDP ranks take no lock."""
    if not is_global_zero():
        yield
    elif fold_name is None:
        with exclusive(run_dir / RUN_LOCK, wait=True, what="the recipe"):
            yield
    else:
        with exclusive(fold_lock_path(run_dir, fold_name), what=fold_name), logging_to(run_dir):
            yield


def _train(config: TrainConfig, fold: Fold, data, labels: list[str],
           feature_config: FeatureConfig, directory: Path, init=None) -> None:
    """Run Lightning on the fold's training part; writes checkpoint/, history.csv, result.json."""
    threads = torch.get_num_threads()
    if config.runtime.num_threads:
        torch.set_num_threads(config.runtime.num_threads)
    try:
        _run_trainer(config, fold, data, labels, feature_config, directory, init)
    finally:
        torch.set_num_threads(threads)


def _run_trainer(config: TrainConfig, fold: Fold, data, labels: list[str],
                 feature_config: FeatureConfig, directory: Path, init=None) -> None:
    # initialisation
    L.seed_everything(epoch_seed(config.runtime.seed, fold.index, -1), verbose=False)
    model = create_model(config.model.name, n_classes=len(labels), **config.network_args())
    frozen = []
    if init is not None:  # fine-tuning: the checkpoint's weights, maybe a new head
        initialise(model, init, labels, log=None if is_global_zero() else (lambda _: None),
                   dimensions=config.dimensions.names)
        frozen = freeze(model, config.model.freeze)
    module = SERModule(model, config, norm_std=data.std, pad_value=data.pad_value,
                       max_frames=feature_config.max_frames, class_counts=data.class_counts)
    meta = {"fold": fold.name, "fold_index": fold.index, "protocol": config.protocol.name,
            "seed": config.runtime.seed, "train_config": config.result_dict(),
            "n_train": len(fold.train_ids), "n_val": len(fold.val_ids)}

    def save_best(pl_module: SERModule, info: dict) -> None:
        save_checkpoint(directory / CHECKPOINT_DIR, pl_module.model, model_name=config.model.name,
                        labels=labels, feature_config=feature_config, norm_mean=data.mean,
                        norm_std=data.std, metadata={**meta, **info},
                        dimensions=data.dimensions)

    has_val = data.val is not None and config.runtime.limit_val_batches != 0
    best, history = BestCheckpoint(save_best), History(directory)
    callbacks = [EpochSeed(config.runtime.seed, fold.index), best, history]
    trainer = build_trainer(config, directory, callbacks + ([KeepFrozen(frozen)] if frozen else []),
                            has_val=has_val)
    datamodule = SERDataModule(data.train, data.val if has_val else None,
                               batch_size=config.batching.batch_size,
                               eval_batch_size=config.batching.eval_batch_size,
                               seed=config.runtime.seed, batching=config.batching.mode)
    # restricted load first: an unusable file (torn, crafted) is set aside, never unpickled
    last = usable_resume_state(directory / RESUME_DIR / "last.ckpt",
                               set_aside=trainer.is_global_zero)
    init_val_ua = None
    if init is not None and has_val and last is None:
        init_val_ua = _validation_ua(model, data.val, config)
        model.train()  # Lightning trains the module in the mode it finds it in
    try:
        with _quiet_lightning():
            trainer.fit(module, datamodule=datamodule, ckpt_path=last, weights_only=True)
    except SIGTERMException:  # Lightning stops after the batch; its exit status would be 0
        raise TrainingInterrupted(f"{directory}: stopped by SIGTERM; run the same command "
                                  "again to resume from the last finished epoch") from None
    calibration = None
    if trainer.is_global_zero and has_val and (directory / CHECKPOINT_DIR).is_dir():
        calibration = calibrate_checkpoint(directory / CHECKPOINT_DIR, data.val,
                                           config.batching.eval_batch_size,
                                           padding=config.features.padder)
    if trainer.is_global_zero:
        extra = {"init_val_ua": init_val_ua} if init_val_ua is not None else {}
        write_json(directory / RESULT_FILE, {
            "fold": fold.name, "index": fold.index, "best_epoch": best.best_epoch,
            "best_val_ua": best.best_ua, "best_val_wa": best.best_wa,
            "best_val_loss": best.best_loss, "epochs": len(history.rows),
            "stopped_early": len(history.rows) < config.optim.max_epochs,
            "train_seconds": history.train_seconds, "params": count_parameters(model),
            "checkpoint": CHECKPOINT_DIR, "calibration": calibration, **extra})
        plot_history(directory / HISTORY_FILE, directory / CURVES_PNG, title=fold.name)
    trainer.strategy.barrier()


def build_trainer(config: TrainConfig, directory: Path, callbacks: list[L.Callback], *,
                  has_val: bool) -> L.Trainer:
    """The Lightning Trainer of a recipe: resume checkpoint at every epoch end (written
    atomically beside its final name), early stopping on validation UA, no logger
    (history.csv is ours), Lightning's device/DDP/precision args."""
    callbacks = list(callbacks) + [
        ModelCheckpoint(dirpath=directory / RESUME_DIR, filename="last", save_top_k=1,
                        monitor=None, save_on_train_epoch_end=True, enable_version_counter=False)]
    if config.runtime.progress_bar:
        callbacks.append(EpochProgressBar())
    if has_val and config.optim.patience > 0:
        callbacks.append(EarlyStopping("val_ua", mode="max", patience=config.optim.patience,
                                       check_on_train_epoch_end=True))
    run = config.runtime
    with _quiet_lightning():
        return L.Trainer(
            max_epochs=config.optim.max_epochs, accelerator=run.accelerator, devices=run.devices,
            num_nodes=run.num_nodes, strategy=run.strategy, precision=run.precision,
            deterministic=run.deterministic or None, callbacks=callbacks, logger=False,
            enable_progress_bar=run.progress_bar, enable_model_summary=False,
            num_sanity_val_steps=0, use_distributed_sampler=False,
            gradient_clip_val=config.optim.grad_clip or None,
            limit_train_batches=run.limit_train_batches,
            limit_val_batches=run.limit_val_batches if has_val else 0,
            default_root_dir=directory, plugins=[AtomicCheckpointIO()])


def evaluate_fold(config: TrainConfig, fold: Fold, test: FeatureDataset, labels: list[str],
                  run_dir: Path, directory: Path, summary: dict) -> dict:
    """Score the saved best-validation checkpoint on the test part; write the fold's
    predictions.csv and metrics.json (the latter marks the fold complete)."""
    checkpoint = load_checkpoint(directory / CHECKPOINT_DIR)
    if checkpoint.labels != labels:
        raise ConfigError(f"{directory / CHECKPOINT_DIR}: labels {checkpoint.labels} differ "
                          f"from the manifest's {labels}")
    logits = predict_logits(checkpoint.model, test, config.batching.eval_batch_size,
                            padding=config.features.padder)
    probs = softmax(logits, checkpoint.temperature)  # calibrated (same argmax)
    by_label = test.targets.tolist()
    info = {k: summary.get(k) for k in ("params", "train_seconds", "best_epoch", "epochs",
                                        "best_val_ua", "best_val_wa", "stopped_early")}
    info.update(model=config.model.name, seed=config.runtime.seed)
    if "calibration" in checkpoint.metadata:  # test ECE before/after temperature scaling
        info["calibration"] = fold_calibration(softmax(logits), probs, by_label,
                                               checkpoint.temperature)
    ratings = {}
    if checkpoint.dimensions is not None:  # true and predicted, on the corpus's scale
        scaling = checkpoint.dimensions
        ratings = {"dimensions": scaling.names,
                   "dims_true": scaling.unscale(test.ratings.numpy()),
                   "dims_pred": scaling.unscale(predict_ratings(
                       checkpoint.model, test, config.batching.eval_batch_size,
                       padding=config.features.padder))}
    return write_fold(run_dir, fold, list(fold.test_ids), [labels[i] for i in by_label], probs,
                      labels, info=info, **ratings)


def _validation_ua(model: torch.nn.Module, val: FeatureDataset, config: TrainConfig) -> float:
    """UA of ``model`` on the validation part (the fine-tuning start point)."""
    logits = predict_logits(model, val, config.batching.eval_batch_size,
                            padding=config.features.padder)
    return unweighted_accuracy(val.targets.tolist(), logits.argmax(axis=1).tolist())


def load_fold_features(config: TrainConfig, utterances: Sequence[Utterance]):
    """``{id: (n_mels, frames)}`` for the recipe's front-end, via the cache (none for an
    SSL model: its features come from the feature store, :mod:`sertk.train.ssl_data`)."""
    if is_ssl_model(config.model.name):
        return {}
    return load_features(utterances, config.features, cache_dir=config.data.cache_dir,
                         progress=config.runtime.progress_bar)


# --- helpers --------------------------------------------------------------------------------

def _resolve_fold(config: TrainConfig, utterances: Sequence[Utterance],
                  fold: Fold | int | None) -> Fold:
    if isinstance(fold, Fold):
        return fold
    index = fold if fold is not None else config.protocol.fold
    if index is None and config.protocol.name != "final":
        raise ConfigError(f"fit trains one split: choose a fold of {config.protocol.name!r} "
                          "(fold=K) or use protocol='final'")
    folds = protocol_folds(utterances, config)
    index = index or 0
    if not 0 <= index < len(folds):
        raise ConfigError(f"fold {index} does not exist: {config.protocol.name} has "
                          f"{len(folds)} fold(s), 0..{len(folds) - 1}")
    return folds[index]


def _completed(directory: Path, fold: Fold) -> FoldResult | None:
    """The result of a fold finished earlier, or None."""
    result = directory / RESULT_FILE
    if not result.is_file():
        return None
    if fold.test_ids and not (directory / METRICS_FILE).is_file():
        return None
    metrics = read_json(directory / METRICS_FILE) if fold.test_ids else None
    out = _result(fold, directory, read_json(result), metrics)
    out.skipped = True
    return out


def _result(fold: Fold, directory: Path, summary: dict, metrics: dict | None) -> FoldResult:
    return FoldResult(fold=fold, directory=directory, checkpoint=directory / CHECKPOINT_DIR,
                      best_epoch=summary.get("best_epoch"), best_val_ua=summary.get("best_val_ua"),
                      best_val_wa=summary.get("best_val_wa"), epochs=summary.get("epochs", 0),
                      train_seconds=summary.get("train_seconds", 0.0),
                      params=summary.get("params", 0), metrics=metrics, info=summary)


def is_global_zero() -> bool:
    """Whether this process is global rank 0 (the one that writes files)."""
    from lightning.pytorch.utilities import rank_zero_only
    return getattr(rank_zero_only, "rank", 0) == 0


class _DropTip(logging.Filter):
    """Drops Lightning's banners (accelerators available, ``limit_*_batches=1.0`` was
    configured, fit stopped at max_epochs) and its hosted logger's advertisement."""

    CHATTER = ("litlogger", "GPU available", "TPU available", "HPU available", "IPU available",
               "was configured so 100%", "`Trainer.fit` stopped")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(text in message for text in self.CHATTER)


@contextlib.contextmanager
def _quiet_lightning():
    """Silence Lightning chatter that says nothing about this run; its progress bars (which
    write to stdout) go to stderr, so stdout holds only results."""
    rank_zero_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    tip = _DropTip()
    rank_zero_log.addFilter(tip)
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*exists and is not empty.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        try:
            yield
        finally:
            rank_zero_log.removeFilter(tip)
