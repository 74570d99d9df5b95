"""The LightningModule: one plain training step, validation UA/WA, the optimiser.

The recipe is the paper's (section 3.1): cross-entropy, Adam at 1e-4; the options of
:class:`~sertk.train.config.TrainConfig` (class weights, label smoothing, mixup, feature
augmentation, AdamW/weight decay, warm-up + cosine schedule) are all off by default.

Validation computes UA (mean recall over the classes present, SPEC section 5), WA and the
mean loss over the whole epoch; ``val_ua`` drives model selection and early stopping. The
model gets the clips' lengths if the recipe's :class:`~sertk.padding.Padding` gives them
(``"batch"``), else whole padded clips (the paper).

With ``dimensions`` the loss is multi-task: cross-entropy + ``dimension_weight`` x the sum
over dimensions of ``1 - CCC`` over the batch (``dimension_loss: ccc``) or of the mean
squared error (``mse``), on standardised targets. Validation then also logs ``val_ccc``,
the mean CCC over the dimensions (reported, not used for selection).
"""
from __future__ import annotations

import math

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F

from sertk.data.dataset import Batch
from sertk.eval.dimensional import ccc
from sertk.eval.metrics import unweighted_accuracy
from sertk.models import SERNet
from sertk.train.augment import FeatureAugment, mixup
from sertk.train.config import TrainConfig


class SERModule(L.LightningModule):
    """Trains a :class:`~sertk.models.SERNet` on normalised feature batches.

    Args:
        model: the network.
        config: the recipe.
        norm_std: (n_mels,) normaliser std of the training part (for gain augmentation).
        pad_value: (n_mels,) padded-frame value.
        max_frames: frames of a full-length clip.
        class_counts: (C,) training utterances per class (for ``class_weights``).
    """

    def __init__(self, model: SERNet, config: TrainConfig, *, norm_std, pad_value: torch.Tensor,
                 max_frames: int, class_counts: np.ndarray):
        super().__init__()
        self.model = model
        self.config = config
        self.padding = config.features.padder
        self.augment = FeatureAugment(config.augment, norm_std, pad_value, max_frames) \
            if config.augment.active else None
        weights = None
        if config.optim.class_weights:  # "balanced": N / (C * n_c)
            counts = torch.as_tensor(class_counts, dtype=torch.float32).clamp_min(1)
            weights = counts.sum() / (len(counts) * counts)
        self.register_buffer("class_weight", weights, persistent=False)
        self._val_preds: list[torch.Tensor] = []
        self._val_targets: list[torch.Tensor] = []
        self._val_loss: list[torch.Tensor] = []
        self.dimensions = config.dimensions.names
        self._val_ratings: list[tuple[torch.Tensor, torch.Tensor]] = []

    def forward(self, features: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        """(B, n_mels, T), (B,) -> logits (B, n_classes)."""
        return self.model(features, self.padding.model_lengths(lengths))

    def outputs(self, features: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(B, n_mels, T), (B,) -> logits (B, n_classes), ratings (B, D) or None."""
        if not self.dimensions:
            return self(features, lengths), None
        return self.model.forward_outputs(features, self.padding.model_lengths(lengths))

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits, targets, weight=self.class_weight,
                               label_smoothing=self.config.optim.label_smoothing)

    def dimension_loss(self, ratings: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Sum over dimensions of ``1 - CCC`` (or the MSE) of (B, D) predictions and targets."""
        ratings, targets = ratings.float(), targets.float()
        if self.config.dimensions.loss == "mse":
            return ((ratings - targets) ** 2).mean(0).sum()
        return (1 - ccc(ratings, targets, eps=1e-8)).sum()

    def training_step(self, batch: Batch, batch_idx: int) -> torch.Tensor:
        x, lengths, targets = batch.features, batch.lengths, batch.targets
        rating_targets = batch.ratings
        if self.augment is not None:
            x, lengths = self.augment(x, lengths)
        if self.config.optim.mixup_alpha > 0:
            x, lengths, partner, w = mixup(x, lengths, self.config.optim.mixup_alpha)
            logits, ratings = self.outputs(x, lengths)
            loss = w * self.loss(logits, targets) + (1 - w) * self.loss(logits, targets[partner])
            if ratings is not None:  # mixed clips, mixed ratings
                rating_targets = w * rating_targets + (1 - w) * rating_targets[partner]
        else:
            logits, ratings = self.outputs(x, lengths)
            loss = self.loss(logits, targets)
        if ratings is not None:
            loss = loss + self.config.dimensions.weight * self.dimension_loss(ratings,
                                                                            rating_targets)
        self.log("train_loss", loss, on_step=False, on_epoch=True, prog_bar=True,
                 batch_size=len(targets), sync_dist=True)
        return loss

    def validation_step(self, batch: Batch, batch_idx: int) -> None:
        logits, ratings = self.outputs(batch.features, batch.lengths)
        if ratings is not None:
            self._val_ratings.append((ratings.float(), batch.ratings))
        self._val_loss.append(F.cross_entropy(logits.float(), batch.targets, reduction="sum"))
        self._val_preds.append(logits.argmax(dim=1))
        self._val_targets.append(batch.targets)

    def on_validation_epoch_end(self) -> None:
        if not self._val_targets:
            return
        preds = torch.cat(self._val_preds).cpu().numpy()
        targets = torch.cat(self._val_targets).cpu().numpy()
        loss = float(torch.stack(self._val_loss).sum()) / len(targets)
        self._val_preds.clear(), self._val_targets.clear(), self._val_loss.clear()
        extra = {}
        if self._val_ratings:  # mean CCC over the dimensions, on the whole validation part
            ratings, truth = (torch.cat(part) for part in zip(*self._val_ratings))
            extra["val_ccc"] = float(ccc(ratings, truth, eps=1e-8).mean())
            self._val_ratings.clear()
        # every rank scores the whole validation part, so these agree across ranks
        self.log_dict({"val_loss": loss, "val_ua": unweighted_accuracy(targets, preds),
                       "val_wa": float((preds == targets).mean()), **extra},
                      prog_bar=True, sync_dist=True)

    def configure_optimizers(self):
        c = self.config.optim
        kind = torch.optim.AdamW if c.optimizer == "adamw" else torch.optim.Adam
        # The fused kernel makes the same update in one pass over all parameters: ~10x
        # faster than the per-tensor loop on CPU (about 2 % of a CPU training step). Lightning
        # refuses to clip gradients for it under mixed precision (it assumes a fused step
        # unscales gradients itself), so clipped mixed-precision runs take the loop.
        mixed_clip = "mixed" in str(self.config.runtime.precision) and c.grad_clip > 0
        fused = not mixed_clip and all(p.device.type in ("cpu", "cuda")
                                       for p in self.model.parameters())
        optimizer = kind(self.model.parameters(), lr=c.lr, weight_decay=c.weight_decay,
                         fused=fused or None)
        if c.lr_schedule == "none" and c.warmup_epochs == 0:
            return optimizer
        schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(self.config))
        return {"optimizer": optimizer,
                "lr_scheduler": {"scheduler": schedule, "interval": "epoch"}}


def lr_factor(config: TrainConfig):
    """Epoch -> LR multiplier: linear warm-up over ``warmup_epochs``, then constant
    (``lr_schedule="none"``) or a cosine decay to 0 at ``max_epochs`` (``"cosine"``)."""
    warmup, total = config.optim.warmup_epochs, config.optim.max_epochs

    def factor(epoch: int) -> float:
        if epoch < warmup:
            return (epoch + 1) / (warmup + 1)
        if config.optim.lr_schedule == "cosine":
            progress = (epoch - warmup) / max(1, total - warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
        return 1.0

    return factor

