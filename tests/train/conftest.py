"""Fixtures for training tests: a synthetic corpus and a tiny, fast recipe."""
from __future__ import annotations

import pytest

from sertk.train.config import TrainConfig
from tests.train.synthetic import synthetic_corpus


@pytest.fixture(scope="session")
def corpus():
    """(utterances, features): 4 speakers x 4 labels x 3 utterances of 30-80 frames."""
    return synthetic_corpus()


@pytest.fixture
def tiny(tmp_path) -> TrainConfig:
    """base7 with 8 hidden units, 3 epochs, lospk, no progress bars: a fit takes ~1 s."""
    return TrainConfig.of(model="base7", model_args={"hidden": 8}, protocol="lospk",
                       max_epochs=3, batch_size=8, lr=0.01, padding="batch", max_seconds=1.0,
                       progress_bar=False, cache_dir=str(tmp_path / "cache"), num_threads=1)
