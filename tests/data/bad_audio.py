"""Tiny audio files for the corpus tests: good ones, and one of each bad kind.

:data:`BAD_AUDIO` maps a kind to ``(writer, words the error must contain)``; every
writer takes the path a good file would have and writes the bad one there.
"""
from __future__ import annotations

import io
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf


@lru_cache(maxsize=64)
def wav_bytes(samples: int, rate: int = 16_000, subtype: str = "PCM_16", seed: int = 0) -> bytes:
    """A mono WAV file of ``samples`` samples of quiet noise, as bytes."""
    noise = np.random.default_rng(seed).normal(0.0, 0.1, samples).astype(np.float32)
    buf = io.BytesIO()
    sf.write(buf, noise, rate, subtype=subtype, format="WAV")
    return buf.getvalue()


def write_wav(path: str | Path, samples: int = 1600, rate: int = 16_000) -> Path:
    """Write a good mono 16-bit WAV file (0.1 s at 16 kHz by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(samples, rate))
    return path


def _missing(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.symlink_to(path.parent / "does-not-exist.wav")  # listed by a folder scan, unreadable


def _empty(path: Path) -> None:
    path.write_bytes(b"")


def _truncated(path: Path) -> None:
    data = wav_bytes(1600)
    path.write_bytes(data[: len(data) // 2])


def _not_audio(path: Path) -> None:
    path.write_text("this is a text file, not audio\n")


def _nan(path: Path) -> None:
    wave = np.zeros(1600, dtype=np.float32)
    wave[100:200] = np.nan
    sf.write(path, wave, 16_000, subtype="FLOAT")


def _too_short(path: Path) -> None:
    write_wav(path, samples=399)  # one sample under the 400-sample window


BAD_AUDIO = {
    "missing": (_missing, "file not found"),
    "empty": (_empty, "empty file"),
    "truncated": (_truncated, "truncated"),
    "not audio": (_not_audio, "not a readable audio file"),
    "nan": (_nan, "NaN"),
    "too short": (_too_short, "too short"),
}


def write_bad(kind: str, path: str | Path) -> str:
    """Write a bad file of ``kind`` at ``path``; return the words its error must contain."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    writer, reason = BAD_AUDIO[kind]
    writer(path)
    return reason
