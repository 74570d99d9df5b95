"""Fine-tuning: start training from a checkpoint's weights (``init_from``), optionally with
the front blocks frozen (``freeze``).

``init_from`` is a checkpoint directory or a bundled model's name (``emodb``). Before
anything is written (:func:`load_init_checkpoint`), the checkpoint must load and fit the
recipe: the same model name, model arguments (every field but the number of classes) and
front-end (every :class:`~sertk.features.FeatureConfig` field); otherwise a
:class:`~sertk.train.config.ConfigError` names the first field that differs.

The network is built as usual, then (:func:`initialise`) every tensor is copied from the
checkpoint. The same labels (in any order; rows are matched by label) keep the checkpoint's
classifier head; a different label set gets a new, freshly initialised head, with a notice
("new head for labels ...").

``freeze`` names what stays fixed during training: ``front`` is the 3-Conv front-end and
every residual-BLSTM block; an integer ``N`` is the first ``N`` blocks in network order
(3-Conv, residual-BLSTM 1, 2, ..., then transformer blocks); the head is never frozen.
Frozen blocks get no gradient and stay in eval mode (batch-norm statistics and dropout
fixed), so they compute exactly what the checkpoint computed. The normalisation statistics
are the new training part's, as for any run.
"""
from __future__ import annotations

import sys

import lightning as L
import torch
from torch import nn

from sertk.features import FeatureConfig
from sertk.models import Checkpoint, CheckpointError, SERNet, create_model, load_checkpoint
from sertk.train.config import FREEZE_FRONT, ConfigError, TrainConfig

HEAD_PREFIX = "head."
DIMENSION_HEAD_PREFIX = "dimension_head."


def load_init_checkpoint(config: TrainConfig, feature_config: FeatureConfig,
                         n_classes: int) -> Checkpoint | None:
    """The checkpoint ``config.model.init_from`` names, checked against the recipe (None when
    ``init_from`` is empty).

    Raises:
        ConfigError: no such checkpoint, an unreadable one, or one that does not fit the
            recipe (naming the differing field); ``freeze`` naming more blocks than the
            model has.
    """
    if not config.model.init_from:
        if config.model.freeze not in ("", "0"):
            raise ConfigError("freeze needs init_from (freezing untrained blocks would only "
                              "keep them random)")
        return None
    from sertk.infer.bundled import ModelNotFoundError, resolve_model

    try:
        checkpoint = load_checkpoint(resolve_model(config.model.init_from))
    except (ModelNotFoundError, CheckpointError) as err:
        raise ConfigError(f"init_from: {err}") from None
    where = f"init_from {config.model.init_from}"
    if checkpoint.model_name != config.model.name:
        raise ConfigError(f"{where}: the checkpoint is model {checkpoint.model_name!r} but the "
                          f"recipe trains {config.model.name!r} "
                          f"(set model: {checkpoint.model_name})")
    with torch.device("meta"):
        wanted = create_model(config.model.name, n_classes=n_classes,
                              **config.network_args()).config
    _same_fields(where, "model_config", checkpoint.model_config.to_dict(), wanted.to_dict(),
                 ignore=("n_classes", "n_dims"))  # the heads may differ
    _same_fields(where, "feature_config", checkpoint.feature_config.to_dict(),
                 feature_config.to_dict())
    frozen_blocks(checkpoint.model, config.model.freeze)  # refuses too many blocks now
    return checkpoint


def initialise(model: SERNet, checkpoint: Checkpoint, labels: list[str], *,
               log=None, dimensions: tuple[str, ...] = ()) -> None:
    """Copy ``checkpoint``'s weights into ``model`` (built for ``labels``); the head is kept
    when the label sets agree (rows matched by label), else left new with a notice. The
    dimension head (``model`` built for ``dimensions``) is kept when the checkpoint predicts
    the same dimensions in the same order, else left new."""
    log = log or _notice
    state = {k: v.clone() for k, v in checkpoint.model.state_dict().items()}
    own = model.state_dict()
    if set(labels) == set(checkpoint.labels):
        order = torch.tensor([checkpoint.labels.index(c) for c in labels])
        for name in [k for k in state if k.startswith(HEAD_PREFIX)]:
            state[name] = state[name].index_select(0, order)
    else:
        for name in [k for k in state if k.startswith(HEAD_PREFIX)]:
            state[name] = own[name]
        log(f"new head for labels {', '.join(labels)} (the checkpoint's: "
            f"{', '.join(checkpoint.labels)}); every other block starts from "
            f"{checkpoint.path}")
    same = checkpoint.dimensions is not None and checkpoint.dimensions.names == tuple(dimensions)
    for name in set(state) | set(own):
        if name.startswith(DIMENSION_HEAD_PREFIX) and not same:
            if name in own:
                state[name] = own[name]
            else:
                del state[name]
    model.load_state_dict(state, strict=True)


def frozen_blocks(model: SERNet, freeze: str) -> list[nn.Module]:
    """The blocks ``freeze`` names (see the module docstring), in network order.

    Raises:
        ConfigError: a number larger than the model's count of blocks.
    """
    if not freeze:
        return []
    front = ([model.conv] if model.conv is not None else []) + list(model.blstm)
    if freeze == FREEZE_FRONT:
        return front
    blocks = front + list(model.transformer)
    count = int(freeze)
    if count > len(blocks):
        raise ConfigError(f"freeze {count}: this model has only {len(blocks)} blocks "
                          "(3-Conv, residual-BLSTM, transformer)")
    return blocks[:count]


def freeze(model: SERNet, spec: str) -> list[nn.Module]:
    """Turn off gradients of the blocks ``spec`` names; returns them for :class:`KeepFrozen`,
    which puts them in eval mode before every training batch."""
    blocks = frozen_blocks(model, spec)
    for block in blocks:
        block.requires_grad_(False)
    return blocks


class KeepFrozen(L.Callback):
    """Keep frozen blocks in eval mode: Lightning puts the whole module in train mode."""

    def __init__(self, blocks: list[nn.Module]):
        self.blocks = blocks

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        for block in self.blocks:
            block.eval()


def _same_fields(where: str, what: str, have: dict, want: dict, ignore=()) -> None:
    for key in sorted(set(have) | set(want)):
        if key in ignore or have.get(key) == want.get(key):
            continue
        raise ConfigError(f"{where}: {what}.{key} differs: the checkpoint has "
                          f"{have.get(key)!r}, the recipe {want.get(key)!r}")


def _notice(message: str) -> None:
    print(f"note: {message}", file=sys.stderr)
