"""Fixtures for the inference tests: tiny checkpoints for both padding modes."""
from __future__ import annotations

import pytest

from sertk.infer import load_model
from tests.infer.tiny import make_checkpoint, single_thread  # noqa: F401 (autouse)


@pytest.fixture(scope="session")
def fixed_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "fixed", padding="fixed")


@pytest.fixture(scope="session")
def batch_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "batch", padding="batch", seed=1)


@pytest.fixture(scope="session", params=["fixed", "batch"])
def predictor(request, fixed_checkpoint, batch_checkpoint):
    """A CPU predictor for each padding mode."""
    path = fixed_checkpoint if request.param == "fixed" else batch_checkpoint
    return load_model(path, device="cpu", vad=False)
