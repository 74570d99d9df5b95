"""The LightningModule: loss options, validation UA, LR schedule, optimiser choice."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from sertk.data.dataset import Batch
from sertk.eval.metrics import fold_metrics
from sertk.models import create_model
from sertk.train.config import TrainConfig
from sertk.train.module import SERModule, lr_factor, unweighted_accuracy

# training_step outside a Trainer: Lightning warns that self.log has nowhere to go
pytestmark = pytest.mark.filterwarnings("ignore:.*self.log.*:UserWarning")


def _module(**changes):
    config = TrainConfig.of(model="base7", model_args={"hidden": 8}, **changes)
    model = create_model("base7", n_classes=3, hidden=8)
    return SERModule(model, config, norm_std=np.ones(40), pad_value=torch.zeros(40),
                     max_frames=50, class_counts=np.array([6, 3, 1]))


def _batch(n=6, frames=20):
    torch.manual_seed(0)
    return Batch(torch.randn(n, 40, frames), torch.full((n,), frames), torch.arange(n) % 3,
                 torch.arange(n))


def test_ua_is_the_metrics_modules_ua():
    rng = np.random.default_rng(0)
    targets = rng.integers(0, 4, 50)
    preds = rng.integers(0, 5, 50)  # class 4 is only predicted: it must not add a zero
    expected = fold_metrics(targets.tolist(), preds.tolist(), labels=list(range(5)))["ua"]
    assert unweighted_accuracy(targets, preds) == pytest.approx(expected)


def test_class_weights_are_balanced_and_off_by_default():
    assert _module().class_weight is None
    weights = _module(class_weights=True).class_weight
    assert torch.allclose(weights, torch.tensor([10 / 18, 10 / 9, 10 / 3]))


@pytest.mark.parametrize("changes", [
    {}, {"mixup_alpha": 0.4}, {"label_smoothing": 0.1, "class_weights": True},
    {"spec_augment": True, "speed_perturb": 0.1, "gain_perturb_db": 3.0, "padding": "batch"},
])
def test_training_step_gives_a_finite_differentiable_loss(changes):
    module = _module(**changes)
    loss = module.training_step(_batch(), 0)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in module.model.parameters() if p.requires_grad)


def test_lengths_reach_the_model_only_with_batch_padding():
    seen = []
    for padding in ("fixed", "batch"):
        module = _module(padding=padding)
        module.model.forward = lambda x, lengths=None: seen.append(lengths) or torch.zeros(
            len(x), 3)
        module(torch.zeros(2, 40, 5), torch.tensor([5, 3]))
    assert seen[0] is None and seen[1].tolist() == [5, 3]


def test_lr_schedule_warmup_then_cosine():
    factor = lr_factor(TrainConfig.of(lr_schedule="cosine", warmup_epochs=2, max_epochs=12))
    values = [factor(e) for e in range(12)]
    assert values[0] < values[1] < values[2] == 1.0
    assert all(a >= b for a, b in zip(values[2:], values[3:]))
    assert values[-1] < 0.05
    assert lr_factor(TrainConfig())(50) == 1.0


def test_optimizers():
    assert isinstance(_module().configure_optimizers(), torch.optim.Adam)
    out = _module(optimizer="adamw", weight_decay=0.1, lr_schedule="cosine")
    opt = out.configure_optimizers()
    assert isinstance(opt["optimizer"], torch.optim.AdamW)
    assert opt["optimizer"].param_groups[0]["weight_decay"] == 0.1
    assert opt["lr_scheduler"]["interval"] == "epoch"


def test_every_augmentation_option_reaches_the_augmenter_by_name():
    from sertk.train.augment import AugmentOptions

    chosen = AugmentOptions(spec_augment=True, freq_mask=3, time_mask=7, n_freq_masks=1,
                            n_time_masks=4, speed_perturb=0.2, gain_perturb_db=2.5)
    module = _module(**{name: getattr(chosen, name) for name in vars(chosen)})
    assert module.augment.options == chosen
