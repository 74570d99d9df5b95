"""Real EmoDB-2s clips and the bundled model, shared by the output-shape tests
(top_k, DataFrames, embeddings, in-memory recordings)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sertk.infer import load_model

# Four speakers, four emotions (anger, happiness, neutral, sadness in EmoDB's letters).
CLIPS = ("03a01Wa.wav", "08a01Fd.wav", "09a01Nb.wav", "11a02Tc.wav")


@pytest.fixture(scope="session")
def emodb_clips(emodb_dir: Path) -> list[Path]:
    """Four real 2 s clips (22,050 Hz); the test fails if one is missing."""
    paths = [emodb_dir / "wav" / name for name in CLIPS]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        pytest.fail(f"EmoDB-2s clips missing from the shared data: {missing}")
    return paths


@pytest.fixture(scope="session")
def bundled():
    """The bundled EmoDB model on the CPU, with voice activity detection (the default)."""
    return load_model(device="cpu")


@pytest.fixture(scope="session")
def bundled_no_vad():
    return load_model(device="cpu", vad=False)


def read(path: Path) -> tuple[np.ndarray, int]:
    """(samples,) float32 and the rate of a wav file."""
    wave, rate = sf.read(path, dtype="float32")
    return wave, rate
