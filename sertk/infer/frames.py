"""Predictions as a pandas DataFrame indexed by (file, start, end), like audinterface.

The shape follows audinterface and opensmile (``process_files`` / ``process_index``):
a :class:`pandas.MultiIndex` with the levels ``file`` (the path as given, a folder or
list file expanded), ``start`` and ``end``, both :class:`pandas.Timedelta` in
``timedelta64[ns]`` (the audformat "segmented index" convention, so frames from sertk,
opensmile and audformat tables join on their index; seconds are
``index.get_level_values("start").total_seconds()``). Columns, in order:

- ``label``: the predicted label (``no-speech`` where the voice activity detector
  found too little speech; missing where the file failed);
- one float column per class of the model (the probabilities; NaN for ``no-speech``
  rows and failed files);
- ``error``: why the file has no prediction, or None.

Rows:

- utterance mode (``segment=None``): one row per file spanning ``[0, used)``, ``used``
  being the audio the model saw (the file's length, at most ``max_seconds``);
- segment mode (``segment=S``): one row per window of
  :func:`sertk.infer.longform.predict_long`, in time order.

A file that cannot be predicted gets a row ``(file, 0, NaT)`` with ``error`` set (NaT:
the end is unknown; audformat reads NaT as "to the end of the file"); in segment mode
it follows the windows predicted before the failure. No row is ever dropped silently.
"""
from __future__ import annotations

import math
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from sertk.infer.longform import LongformResult, SegmentOptions, predict_long
from sertk.infer.paths import list_inputs
from sertk.infer.results import FileResult, Prediction

if TYPE_CHECKING:  # pragma: no cover
    from sertk.infer.predictor import Predictor

INDEX_NAMES = ("file", "start", "end")
TIME_DTYPE = "timedelta64[ns]"  # audformat's resolution, so indexes join without conversion


def predict_frame(predictor: Predictor, inputs: str | Path | Iterable[str | Path],
                  segment: float | None = None, hop: float | None = None, *,
                  batch_size: int = 32, progress: bool = False, **options) -> pd.DataFrame:
    """Predict files into one DataFrame (as the module docstring describes).

    Args:
        inputs: a path or paths: audio files, folders, or ``.txt``/``.lst`` list files
            (as ``sertk predict`` takes them).
        segment, hop: None for one row per file; seconds for sliding windows.
        batch_size: clips or windows per forward pass.
        options: further :class:`~sertk.infer.longform.SegmentOptions` fields
            (``min_last``, ``mode="speech"``, ``min_gap``, ``timeline``).

    Raises:
        WindowOptionError: bad window options (before any file is read).
        ValueError: window options without ``segment``.
    """
    listing = list_inputs([inputs] if isinstance(inputs, (str, Path)) else inputs)
    if segment is None:
        if options or hop is not None:
            raise ValueError("hop and window options need segment")
        results = listing.results(predictor.predict_files(listing.readable, batch_size=batch_size,
                                                          progress=progress), FileResult)
        max_seconds = predictor.feature_config.max_seconds
        return to_frame([_utterance_row(r, max_seconds) for r in results], predictor.labels)
    window_options = SegmentOptions(segment, hop, batch_size=batch_size, **options)
    window_options.samples(predictor.feature_config)  # refuse bad options before any work
    results = listing.results((predict_long(predictor, path, window_options, progress=progress)
                               for path in listing.readable), LongformResult)
    return to_frame([row for r in results for row in _window_rows(r)], predictor.labels)


def to_frame(rows: list[tuple[str, float, float | None, Prediction | None, str | None]],
             labels: Iterable[str]) -> pd.DataFrame:
    """(file, start s, end s or None, prediction or None, error or None) rows -> the
    DataFrame of the module docstring."""
    labels = list(labels)
    index = pd.MultiIndex.from_arrays([
        pd.Index([r[0] for r in rows]),
        pd.to_timedelta([r[1] for r in rows], unit="s").astype(TIME_DTYPE),
        pd.to_timedelta([math.nan if r[2] is None else r[2] for r in rows],
                        unit="s").astype(TIME_DTYPE),
    ], names=list(INDEX_NAMES))
    data: dict[str, object] = {
        "label": pd.Series([None if r[3] is None else r[3].label for r in rows],
                           index=index, dtype="object")}
    for label in labels:
        data[label] = np.array([np.nan if r[3] is None else r[3].probabilities.get(label, np.nan)
                                for r in rows], dtype=np.float64)
    data["error"] = pd.Series([r[4] for r in rows], index=index, dtype="object")
    return pd.DataFrame(data, index=index)


def _utterance_row(result: FileResult, max_seconds: float):
    if not result.ok:
        return result.path, 0.0, None, None, result.error
    used = max_seconds if result.duration is None else min(result.duration, max_seconds)
    return result.path, 0.0, used, result.prediction, None


def _window_rows(result: LongformResult):
    rows = [(result.path, w.start, w.end, w.prediction, None) for w in result.windows]
    if not result.ok:
        rows.append((result.path, 0.0, None, None, result.error))
    return rows
