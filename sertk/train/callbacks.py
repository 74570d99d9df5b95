"""Callbacks that make training reproducible, resumable and safe to select from.

- :class:`EpochSeed` reseeds every generator at each epoch's first batch from ``(seed, fold,
  epoch, rank)``, so any epoch replays exactly after a resume from the previous epoch's end.
- :class:`BestCheckpoint` keeps the model with the best *validation* UA (ties: lower
  validation loss) as a safe checkpoint (:func:`sertk.models.save_checkpoint`); the test
  part is never seen during training, so it cannot influence the choice.
- :class:`History` writes ``history.csv`` (one row per epoch: losses, val UA/WA, LR, seconds).
- :class:`EpochProgressBar` is Lightning's bar with epochs counted from 1 ("Epoch 3/40"),
  as ``history.csv``, ``result.json`` and the reports count them.

All keep their state in Lightning's resume checkpoint (``state_dict``) as plain numbers,
loaded with ``weights_only=True``. Only global rank 0 writes files.

Lightning's own pieces are used wherever they do the job (trainer, ``ModelCheckpoint`` for
the resume state, ``EarlyStopping``, ``seed_everything``, progress bar, DDP, precision).
Ours stay where Lightning's twin does something else: ``ModelCheckpoint(monitor="val_ua")``
ranks on one number and writes pickled ``.ckpt`` files (:class:`BestCheckpoint` breaks UA
ties by validation loss and writes safetensors); ``CSVLogger`` writes a row per logging
call into a new version folder after every resume (``history.csv``: a row per epoch, which a
resume continues); ``DistributedSampler`` cannot form length buckets
(:class:`~sertk.data.buckets.BucketSampler` does, sharding by rank like it).
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import TQDMProgressBar

from sertk.eval.rundir import write_history


def epoch_seed(seed: int, fold: int, epoch: int, rank: int = 0) -> int:
    """A 31-bit seed that depends only on its arguments (``epoch=-1``: model initialisation)."""
    return int(np.random.SeedSequence([seed, fold, epoch + 1, rank]).generate_state(1)[0] >> 1)


class EpochSeed(L.Callback):
    """Reseed all generators at the start of every training epoch (its first batch).

    The shuffle has its own generator (:class:`~sertk.data.dataset.EpochSampler`); this seed
    drives dropout and augmentation."""

    def __init__(self, seed: int, fold: int):
        self.seed, self.fold = seed, fold

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch,
                             batch_idx: int) -> None:
        if batch_idx == 0:  # as late as possible: nothing else draws before the first step
            L.seed_everything(epoch_seed(self.seed, self.fold, trainer.current_epoch,
                                         trainer.global_rank), verbose=False)


class BestCheckpoint(L.Callback):
    """Save the model whenever validation UA improves (ties broken by lower validation loss);
    without validation metrics every epoch's, so the last is kept. ``save(pl_module,
    metadata)`` writes the checkpoint."""

    def __init__(self, save: Callable[[L.LightningModule, dict], Any]):
        self.save = save
        self.best_epoch: int | None = None
        self.best_ua: float | None = None
        self.best_wa: float | None = None
        self.best_loss: float | None = None

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        epoch = trainer.current_epoch + 1
        if "val_ua" not in metrics:
            improved, ua, wa, loss = True, None, None, None
        else:
            ua, wa, loss = (float(metrics[k]) for k in ("val_ua", "val_wa", "val_loss"))
            improved = self.best_ua is None or (ua, -loss) > (self.best_ua, -self.best_loss)
        if not improved:
            return
        self.best_epoch, self.best_ua, self.best_wa, self.best_loss = epoch, ua, wa, loss
        if trainer.is_global_zero:
            self.save(pl_module, {"epoch": epoch, "val_ua": ua, "val_wa": wa, "val_loss": loss})

    def state_dict(self) -> dict[str, Any]:
        return {"best_epoch": self.best_epoch, "best_ua": self.best_ua,
                "best_wa": self.best_wa, "best_loss": self.best_loss}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        for key in ("best_epoch", "best_ua", "best_wa", "best_loss"):
            setattr(self, key, state.get(key))


class EpochProgressBar(TQDMProgressBar):
    """Lightning's progress bar, its epochs counted from 1 of ``max_epochs``."""

    def on_train_epoch_start(self, trainer: L.Trainer, *_: Any) -> None:
        # the base class's body with another description (it draws "Epoch 0" at once)
        if getattr(self, "_leave", False):
            self.train_progress_bar = self.init_train_tqdm()
        bar = self.train_progress_bar
        bar.set_description(f"Epoch {trainer.current_epoch + 1}/{trainer.max_epochs}",
                            refresh=False)
        total = self.total_train_batches
        bar.reset(total=None if total == float("inf") else total)


class History(L.Callback):
    """One ``history.csv`` row per epoch: epoch (from 1), train_loss, val_loss, val_ua,
    val_wa, lr, seconds (wall time of the epoch, validation included)."""

    def __init__(self, directory: str | Path):
        self.directory = Path(directory)
        self.rows: list[dict[str, Any]] = []
        self._start = 0.0

    @property
    def train_seconds(self) -> float:
        """Training time over all epochs, including those run before a resume."""
        return float(sum(r["seconds"] for r in self.rows))

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        metrics = trainer.callback_metrics
        row = {"epoch": trainer.current_epoch + 1}
        for key in ("train_loss", "val_loss", "val_ua", "val_wa"):
            row[key] = round(float(metrics[key]), 6) if key in metrics else None
        if "val_ccc" in metrics:  # a model with dimensions: their mean validation CCC
            row["val_ccc"] = round(float(metrics["val_ccc"]), 6)
        row["lr"] = trainer.optimizers[0].param_groups[0]["lr"] if trainer.optimizers else None
        row["seconds"] = round(time.perf_counter() - self._start, 3)
        self.rows = [r for r in self.rows if r["epoch"] < row["epoch"]] + [row]
        if trainer.is_global_zero:
            write_history(self.directory, self.rows)

    def state_dict(self) -> dict[str, Any]:
        return {"rows": [dict(r) for r in self.rows]}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rows = [dict(r) for r in state.get("rows", [])]
