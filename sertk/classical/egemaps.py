"""eGeMAPSv02 functionals of a clip (88 numbers) with openSMILE, cached per file.

The ``opensmile`` package (audEERING) computes the extended Geneva Minimalistic Acoustic
Parameter Set: 88 utterance-level statistics of pitch, loudness, spectral balance,
formants, jitter/shimmer and voicing. sertk decodes the audio itself (16 kHz mono, the
whole file up to ``max_seconds``) and hands the samples to openSMILE, so every format the
neural path reads works here too.

Each file's vector is cached as a small ``.npy`` (never pickled) under
``<cache root>/egemaps-v02-<version>/`` keyed like the log-mel cache (resolved path,
size, mtime), so folds, seeds and C values reuse one extraction.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sertk.audio import MAX_FILE_SECONDS, SAMPLE_RATE, AudioError, load_audio
from sertk.data.cache import default_cache_root, file_key
from sertk.fileio import atomic_write

EGEMAPS_DIM = 88
FORMAT_VERSION = 1  # bump when the stored vectors change meaning


class EgemapsExtractor:
    """eGeMAPSv02 functionals, (88,) float32 per file, computed once and cached.

    Args:
        cache_root: folder for the cache (``None``: the feature cache root; ``False``: no cache).
        max_seconds: longer files are refused (like the neural path).
    """

    def __init__(self, cache_root: str | os.PathLike | None | bool = None,
                 max_seconds: float = MAX_FILE_SECONDS):
        import opensmile  # heavy: import when a classical model is used

        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                                     feature_level=opensmile.FeatureLevel.Functionals)
        self.names = list(self.smile.feature_names)
        self.max_seconds = max_seconds
        root = default_cache_root() if cache_root is None else cache_root
        self.cache = None if root is False else Path(root) / f"egemaps-v02-{FORMAT_VERSION}"

    def of_wave(self, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(samples,) mono audio -> (88,) float32.

        Raises:
            ValueError: the clip is too short for openSMILE (no functionals).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": checked below
            values = self.smile.process_signal(np.asarray(wave, np.float32), sample_rate)
        vector = np.asarray(values.to_numpy()[0], dtype=np.float32)
        if vector.shape != (EGEMAPS_DIM,) or not np.isfinite(vector).all():
            raise ValueError("too short or silent for eGeMAPS functionals")
        return vector

    def of_file(self, path: str | os.PathLike) -> np.ndarray:
        """(88,) float32 for one file (from the cache when present).

        Raises:
            AudioError: the file cannot be read, or has no functionals.
        """
        entry = self._entry(path)
        if entry is not None and entry.is_file():
            cached = _read_vector(entry)
            if cached is not None:
                return cached
        wave = load_audio(path, SAMPLE_RATE, max_seconds=self.max_seconds)
        try:
            vector = self.of_wave(wave, SAMPLE_RATE)
        except ValueError as err:
            raise AudioError(path, str(err)) from None
        if entry is not None:
            buffer = io.BytesIO()
            np.save(buffer, vector, allow_pickle=False)
            atomic_write(entry, buffer.getvalue())
        return vector

    def of_files(self, paths: Sequence[str | os.PathLike]
                 ) -> tuple[np.ndarray, list[tuple[str, str]]]:
        """(N, 88) for the readable files, in order, and (path, reason) for the others.

        Rows of failed files are NaN, so row i always belongs to ``paths[i]``.
        """
        out = np.full((len(paths), EGEMAPS_DIM), np.nan, dtype=np.float32)
        failures = []
        for i, path in enumerate(paths):
            try:
                out[i] = self.of_file(path)
            except AudioError as err:
                failures.append((str(path), err.reason))
        return out, failures

    def _entry(self, path: str | os.PathLike) -> Path | None:
        if self.cache is None:
            return None
        key = file_key(path)
        return self.cache / key[:2] / f"{key}.npy"


def _read_vector(entry: Path) -> np.ndarray | None:
    try:
        vector = np.load(entry, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a torn or foreign entry: recompute it
    if vector.shape != (EGEMAPS_DIM,) or vector.dtype != np.float32 or not np.isfinite(vector).all():
        return None
    return vector
