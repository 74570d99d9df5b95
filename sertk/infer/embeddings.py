"""Embeddings of many files, and writing them as .npy, .parquet or .csv.

An embedding is the model's pooled vector before its head
(:meth:`sertk.infer.predictor.Predictor.embeddings`, ``forward_features``), computed
from a file's first ``max_seconds`` through the same front-end as prediction.

The voice activity detector does not hold an embedding back: a clip without speech
still gets one (a downstream model may want to see it), and its ``speech`` flag says
so (False: less than ``min_speech_fraction`` of speech; None when detection is off).

Output formats (:func:`write_embeddings`, the suffix picks one):

- ``.npy``: the (N, D) float32 array (``np.save`` with ``allow_pickle=False``), and a
  sidecar ``<stem>.files.csv`` beside it with one row per array row: ``row, file,
  speech``;
- ``.parquet`` (needs ``pyarrow`` or ``fastparquet``) and ``.csv``: a table with the
  columns ``file, speech, emb_0 ... emb_{D-1}``.

Only files that were embedded are written; the others are the caller's to report.
Every file appears whole or not at all.
"""
from __future__ import annotations

import csv
import importlib.util
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from sertk.audio import AudioError
from sertk.fileio import atomic_open, check_writable_folder
from sertk.infer.predictor import Predictor
from sertk.infer.results import NON_FINITE_OUTPUT

EMBEDDING_FORMATS = (".npy", ".parquet", ".csv")
PARQUET_ENGINES = ("pyarrow", "fastparquet")


@dataclass(frozen=True)
class EmbeddingResult:
    """One file's (D,) float32 embedding, or the reason it has none."""

    path: str
    vector: np.ndarray | None = None
    speech: bool | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def embed_files(predictor: Predictor, paths: Iterable[str | Path], *, batch_size: int = 32,
                progress: bool = False) -> list[EmbeddingResult]:
    """Embed files in batches; never raises for a bad file. One :class:`EmbeddingResult` per
    path, in order: ``error`` set for a file that cannot be read, is shorter than one analysis
    window or makes the model fail; ``speech`` set when ``predictor.vad`` is."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    paths = [str(p) for p in paths]
    results: list[EmbeddingResult | None] = [None] * len(paths)
    pending: list[tuple[int, np.ndarray]] = []
    for index, path in enumerate(tqdm(paths, desc="embed", unit="file", file=sys.stderr,
                                      disable=None if progress else True)):
        try:
            pending.append((index, predictor.load_clip(path)))
        except AudioError as err:
            results[index] = EmbeddingResult(path, error=err.reason)
        except Exception as err:  # an unexpected decoder failure must not end the batch
            results[index] = EmbeddingResult(path,
                                             error=f"cannot read ({type(err).__name__}: {err})")
        if len(pending) >= batch_size:
            _embed_batch(predictor, pending, paths, results)
            pending = []
    _embed_batch(predictor, pending, paths, results)
    return results  # type: ignore[return-value]


def _embed_batch(predictor: Predictor, pending, paths, results) -> None:
    """Embed the decoded files of one batch, one by one if the batch fails."""
    if not pending:
        return
    try:
        vectors = predictor.embeddings([wave for _, wave in pending])
    except Exception as err:
        if len(pending) > 1:
            for item in pending:
                _embed_batch(predictor, [item], paths, results)
            return
        index = pending[0][0]
        results[index] = EmbeddingResult(paths[index],
                                         error=f"model failed ({type(err).__name__}: {err})")
        return
    for (index, wave), vector in zip(pending, vectors):
        if not np.isfinite(vector).all():
            results[index] = EmbeddingResult(paths[index], error=NON_FINITE_OUTPUT)
            continue
        try:
            speech = None if predictor.vad is None else predictor.has_speech(wave)
        except Exception as err:
            results[index] = EmbeddingResult(paths[index], error=(
                f"voice activity detection failed ({type(err).__name__}: {err})"))
            continue
        results[index] = EmbeddingResult(paths[index], vector, speech)


def check_embedding_output(path: str | Path) -> Path:
    """Make sure embeddings can be written to ``path`` before any work.

    Raises:
        ValueError: a suffix other than .npy/.parquet/.csv, a folder or other
            non-regular file at ``path``, or .parquet without pyarrow/fastparquet.
        OSError: naming ``path``, when its folder cannot be created or written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in EMBEDDING_FORMATS:
        raise ValueError(f"{path}: output must end in .npy, .parquet or .csv")
    if suffix == ".parquet" and not any(importlib.util.find_spec(e) for e in PARQUET_ENGINES):
        raise ValueError(f"{path}: writing .parquet needs the pyarrow package, which is not "
                         f"installed (pip install pyarrow), or use .npy or .csv")
    for target in (path, sidecar_path(path)) if suffix == ".npy" else (path,):
        if target.is_dir():
            raise ValueError(f"{target}: is a folder; give a file name")
        if target.exists() and not target.is_file():
            raise ValueError(f"{target}: exists and is not a regular file")
    check_writable_folder(path)
    return path


def sidecar_path(path: str | Path) -> Path:
    """The file listing the rows of an .npy output: ``x.npy`` -> ``x.files.csv``."""
    path = Path(path)
    return path.with_name(f"{path.stem}.files.csv")


def write_embeddings(results: Sequence[EmbeddingResult], path: str | Path,
                     dimension: int) -> list[Path]:
    """Write the embedded files of ``results`` (failed ones left out) to ``path``; the files
    written (an .npy and its sidecar, or one table), or ``OSError`` naming the one that could
    not be. ``dimension``: D, so that an output without rows still has its width."""
    path = Path(path)
    done = [r for r in results if r.ok]
    matrix = (np.stack([r.vector for r in done]).astype(np.float32) if done
              else np.zeros((0, dimension), np.float32))
    suffix = path.suffix.lower()
    if suffix == ".npy":
        sidecar = sidecar_path(path)
        with atomic_open(path, "wb") as fh:
            np.save(fh, matrix, allow_pickle=False)
        with atomic_open(sidecar, newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["row", "file", "speech"])
            writer.writerows([i, r.path, "" if r.speech is None else str(r.speech).lower()]
                             for i, r in enumerate(done))
        return [path, sidecar]
    frame = embedding_frame(done, matrix)
    if suffix == ".parquet":
        with atomic_open(path, "wb") as fh:
            frame.to_parquet(fh, index=False)
    else:
        with atomic_open(path, newline="") as fh:
            frame.to_csv(fh, index=False)
    return [path]


def embedding_frame(results: Sequence[EmbeddingResult], matrix: np.ndarray):
    """A pandas DataFrame: ``file``, ``speech`` (boolean, missing without detection),
    then ``emb_0 ... emb_{D-1}`` float32 columns."""
    import pandas as pd

    frame = pd.DataFrame({"file": [r.path for r in results],
                          "speech": pd.array([r.speech for r in results], dtype="boolean")})
    columns = pd.DataFrame(matrix, columns=[f"emb_{i}" for i in range(matrix.shape[1])])
    return pd.concat([frame, columns], axis=1)
