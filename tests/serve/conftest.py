"""Fixtures for the ``sertk serve`` tests: real uvicorn processes, a tiny and the bundled model."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.infer.tiny import make_checkpoint
from tests.serve.running import REPO, RunningServer, sertk_serve

SILENCE_BETWEEN = 3.0  # seconds of digital silence between the clips of the long recording
UPLOAD_LIMIT_MB = 2  # the tiny server's --max-upload-mb
MAX_DURATION = 60  # the tiny server's --max-duration
GATED_TIMEOUT = 4.0  # the gated server's --timeout, seconds


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory) -> Path:
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "tiny", padding="batch")


@pytest.fixture(scope="session")
def tiny_server(tiny_checkpoint, tmp_path_factory):
    """The tiny model, 2 inference slots, a 2 MB upload limit and a 60 s duration limit."""
    server = RunningServer(sertk_serve("--model", str(tiny_checkpoint), "--pool", "2",
                                       "--max-upload-mb", str(UPLOAD_LIMIT_MB),
                                       "--max-duration", str(MAX_DURATION), "--timeout", "60"),
                           tmp_path_factory.mktemp("tiny-server"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def emodb_server(tmp_path_factory):
    """The bundled EmoDB model with the default limits."""
    server = RunningServer(sertk_serve(), tmp_path_factory.mktemp("emodb-server"))
    yield server
    server.stop()


@pytest.fixture
def gated_server(tiny_checkpoint, tmp_path):
    """One inference slot and a model that waits at ``server.gate/open`` (tests/serve/gated_server.py)."""
    gate = tmp_path / "gate"
    gate.mkdir()
    command = [sys.executable, str(REPO / "tests" / "serve" / "gated_server.py"), str(gate),
               str(tiny_checkpoint), "{port}", "1", str(GATED_TIMEOUT)]
    (gate / "open").touch()  # open while starting up
    server = RunningServer(command, tmp_path / "server")
    (gate / "open").unlink()
    server.gate = gate
    yield server
    (gate / "open").touch()
    server.stop()


@pytest.fixture(scope="session")
def emodb_clips(emodb_dir) -> list[Path]:
    folder = emodb_dir / "wav" if (emodb_dir / "wav").is_dir() else emodb_dir
    clips = sorted(folder.glob("*.wav"))
    assert len(clips) > 10, f"no EmoDB-2s clips in {folder}"
    return clips


@pytest.fixture(scope="session")
def long_recording(emodb_clips, tmp_path_factory) -> Path:
    """Four EmoDB-2s clips (different speakers) with 3 s of silence between: 17 s."""
    picks = [emodb_clips[i] for i in (0, 60, 120, 180)]
    parts = []
    rate = None
    for clip in picks:
        wave, rate_ = sf.read(clip, dtype="float32")
        rate = rate or rate_
        assert rate_ == rate
        parts += [wave, np.zeros(int(SILENCE_BETWEEN * rate), np.float32)]
    path = tmp_path_factory.mktemp("long") / "long.wav"
    sf.write(path, np.concatenate(parts[:-1]), rate, subtype="PCM_16")
    return path
