"""Shared fixtures.

Real-data tests read ``$SERTK_TEST_DATA`` (CI sets it to ``../shared/data``). When the
variable is set and the data is missing, those tests fail rather than skip; when it is
unset they look beside the checkout and skip only if nothing is there.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

torch.set_num_threads(min(2, torch.get_num_threads()))


def _shared_data_root() -> Path | None:
    env = os.environ.get("SERTK_TEST_DATA")
    if env:
        return Path(env).resolve()
    default = REPO.parent / "shared" / "data"
    return default if default.is_dir() else None


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of the shared real data (emodb-2s/, ravdess-sample/)."""
    root = _shared_data_root()
    if root is None:
        pytest.skip("real data not available (set SERTK_TEST_DATA)")
    if not root.is_dir():
        pytest.fail(f"SERTK_TEST_DATA={root} is set but does not exist")
    return root


@pytest.fixture(scope="session")
def emodb_dir(shared_data: Path) -> Path:
    path = shared_data / "emodb-2s"
    if not path.is_dir():
        pytest.fail(f"{path} is missing from the shared test data")
    return path


@pytest.fixture(scope="session")
def ravdess_dir(shared_data: Path) -> Path:
    path = shared_data / "ravdess-sample"
    if not path.is_dir():
        pytest.fail(f"{path} is missing from the shared test data")
    return path
