"""openSMILE functionals of a clip (one vector per file), cached per file.

The ``opensmile`` package (audEERING) computes two standard sets (:data:`FEATURE_SETS`):
``egemaps``, the extended Geneva Minimalistic Acoustic Parameter Set v02 (88
utterance-level statistics of pitch, loudness, spectral balance, formants, jitter/shimmer
and voicing; Eyben et al., 2016), and ``compare``, the ComParE 2016 set (6373 statistics
of energy, spectral, MFCC and voicing descriptors; Schuller et al., 2016), the larger
brute-force set of the Interspeech challenges. sertk decodes the audio itself (16 kHz mono,
the whole file up to ``max_seconds``) and hands the samples to openSMILE, so every format
the neural path reads works here too.

Each file's vector is cached as a small ``.npy`` (never pickled) under
``<cache root>/<set>-<version>/`` keyed like the log-mel cache (resolved path, size,
mtime), so folds, seeds and C values reuse one extraction.
"""
from __future__ import annotations

import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sertk.audio import MAX_FILE_SECONDS, SAMPLE_RATE, AudioError, load_audio
from sertk.data.cache import default_cache_root, file_key
from sertk.fileio import atomic_write

FORMAT_VERSION = 1  # bump when the stored vectors change meaning


@dataclass(frozen=True)
class FeatureSet:
    """An openSMILE functionals set: its ``opensmile.FeatureSet`` member, its length and
    the name of its cache folder."""

    smile_name: str
    dim: int
    cache_name: str


#: name -> set; ``egemaps`` is the classical baseline's, ``compare`` the larger one.
FEATURE_SETS = {"egemaps": FeatureSet("eGeMAPSv02", 88, "egemaps-v02"),
                "compare": FeatureSet("ComParE_2016", 6373, "compare-2016")}
EGEMAPS_DIM = FEATURE_SETS["egemaps"].dim


class FunctionalsExtractor:
    """openSMILE functionals, (D,) float32 per file, computed once and cached.

    Args:
        feature_set: a name of :data:`FEATURE_SETS` (D = 88 for ``egemaps``, 6373 for
            ``compare``).
        cache_root: folder for the cache (``None``: the feature cache root; ``False``: no cache).
        max_seconds: longer files are refused (like the neural path).
    """

    def __init__(self, feature_set: str = "egemaps",
                 cache_root: str | os.PathLike | None | bool = None,
                 max_seconds: float = MAX_FILE_SECONDS):
        import opensmile  # heavy: import when a classical model is used

        if feature_set not in FEATURE_SETS:
            raise ValueError(f"feature set must be one of {', '.join(FEATURE_SETS)}, "
                             f"got {feature_set!r}")
        self.feature_set = FEATURE_SETS[feature_set]
        self.dim = self.feature_set.dim
        self.smile = opensmile.Smile(
            feature_set=getattr(opensmile.FeatureSet, self.feature_set.smile_name),
            feature_level=opensmile.FeatureLevel.Functionals)
        self.names = list(self.smile.feature_names)
        self.max_seconds = max_seconds
        root = default_cache_root() if cache_root is None else cache_root
        self.cache = None if root is False else (
            Path(root) / f"{self.feature_set.cache_name}-{FORMAT_VERSION}")

    def of_wave(self, wave: np.ndarray, sample_rate: int = SAMPLE_RATE) -> np.ndarray:
        """(samples,) mono audio -> (D,) float32.

        Raises:
            ValueError: the clip is too short for openSMILE (no functionals).
        """
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # "Segment too short": checked below
            values = self.smile.process_signal(np.asarray(wave, np.float32), sample_rate)
        vector = np.asarray(values.to_numpy()[0], dtype=np.float32)
        if vector.shape != (self.dim,) or not np.isfinite(vector).all():
            raise ValueError(f"too short or silent for {self.feature_set.smile_name} "
                             "functionals")
        return vector

    def of_file(self, path: str | os.PathLike) -> np.ndarray:
        """(D,) float32 for one file (from the cache when present).

        Raises:
            AudioError: the file cannot be read, or has no functionals.
        """
        entry = self._entry(path)
        if entry is not None and entry.is_file():
            cached = _read_vector(entry, self.dim)
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
        """(N, D) for the readable files, in order, and (path, reason) for the others.

        Rows of failed files are NaN, so row i always belongs to ``paths[i]``.
        """
        out = np.full((len(paths), self.dim), np.nan, dtype=np.float32)
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


def _read_vector(entry: Path, dim: int) -> np.ndarray | None:
    try:
        vector = np.load(entry, allow_pickle=False)
    except (OSError, ValueError):
        return None  # a torn or foreign entry: recompute it
    if vector.shape != (dim,) or vector.dtype != np.float32 or not np.isfinite(vector).all():
        return None
    return vector
