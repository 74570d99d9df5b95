"""Fixtures for the inference tests: tiny checkpoints for both padding modes, and real clips
of varied lengths."""
from __future__ import annotations

import pytest

from sertk.audio import read_head
from sertk.infer import load_model
from tests.infer.tiny import make_checkpoint, single_thread  # noqa: F401 (autouse)


@pytest.fixture(scope="session")
def fixed_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "fixed", padding="fixed")


@pytest.fixture(scope="session")
def batch_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "batch", padding="batch", seed=1)


@pytest.fixture(scope="session")
def checkpoints(fixed_checkpoint, batch_checkpoint):
    """{padding mode: tiny checkpoint}."""
    return {"fixed": fixed_checkpoint, "batch": batch_checkpoint}


@pytest.fixture(scope="session")
def varied_waves(emodb_dir):
    """40 real EmoDB clips cut to 0.5-2.9 s: batches with padding in every row but one."""
    files = sorted((emodb_dir / "wav").glob("*.wav"))[::13][:40]
    return [read_head(f, 4.0)[0][: 8000 + 617 * i] for i, f in enumerate(files)]


@pytest.fixture(scope="session", params=["fixed", "batch"])
def predictor(request, fixed_checkpoint, batch_checkpoint):
    """A CPU predictor for each padding mode."""
    path = fixed_checkpoint if request.param == "fixed" else batch_checkpoint
    return load_model(path, device="cpu", vad=False)
