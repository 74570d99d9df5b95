"""Fixtures for the reliability tests: a tiny wav corpus, a tiny checkpoint, one thread."""
from __future__ import annotations

import lightning.pytorch  # noqa: F401 (see below)
import pytest
import torch

from sertk.data.manifest import write_manifest
from tests.infer.tiny import make_checkpoint, write_clip
from tests.train.synthetic import write_wav_corpus

# Lightning gives its logger a StreamHandler bound to sys.stderr when first imported. Imported
# here, that is pytest's session-long stream, not one test's capsys stream that later closes
# (which would print "--- Logging error ---" tracebacks into other tests' output).

# base7 with 8 hidden units on 3 speakers x 4 labels x 2 clips: a fold trains in about a second
TINY_CV = ["--model", "base7", "--set", "model_args.hidden=8", "--padding", "batch",
           "--threads", "1", "--no-progress", "--protocol", "lospk", "--max-folds", "1",
           "--batch-size", "2", "--lr", "0.01"]


@pytest.fixture(autouse=True)
def single_thread():
    """One torch thread: tiny tensors, and a CPU shared with other jobs."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def wav_corpus(tmp_path_factory):
    """(utterances, manifest path) of 24 short real wav files."""
    root = tmp_path_factory.mktemp("corpus")
    utterances = write_wav_corpus(root / "audio")
    return utterances, write_manifest(utterances, root / "manifest.csv")


@pytest.fixture(scope="session")
def checkpoint(tmp_path_factory):
    """A tiny ``proposed`` checkpoint (fixed padding, five EmoDB-like labels)."""
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny")


@pytest.fixture(scope="session")
def clips(tmp_path_factory):
    """A folder of four good clips."""
    folder = tmp_path_factory.mktemp("clips")
    return [write_clip(folder / f"c{i}.wav", 0.5 + 0.3 * i, seed=i) for i in range(4)]
