"""Writing prediction results: a terminal table, CSV or JSON.

Utterance results (:class:`FileResult`) give one row per file: ``path, label, probability, <one
column per class>, error``. Segment results (:class:`LongformResult`) give one row per window,
one per segment of the merged timeline and one for the whole file (``scope`` = ``window``,
``segment`` or ``file``, with ``start`` and ``end`` in seconds; the file row's ``summary`` gives
each label's share of the time, e.g. ``neutral 62 %, no-speech 8 %``); in JSON the windows,
segments, summary and speech regions are nested under their file. The terminal table leaves the
windows out. A ``no-speech`` row has no probabilities (empty cells, ``null`` in JSON). A model
with dimensions adds one column per dimension after the probabilities (``arousal``, ``valence``
...) and a ``"dimensions": {"arousal": 3.1, ...}`` key (JSON) to each file and window (segments
carry none; the file's are the duration-weighted mean of its speech windows).

JSON output is always valid JSON: probabilities are finite by construction (a
:class:`~sertk.infer.predictor.Prediction` refuses NaN and infinity), other non-finite
numbers are written as ``null``, and the encoder refuses ``NaN``/``Infinity`` outright.
:func:`check_output_path` checks an output file before any prediction work.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from sertk.fileio import atomic_open, atomic_write, check_writable_folder
from sertk.infer.longform import LongformResult
from sertk.infer.results import FileResult, Prediction
from sertk.tables import text_table
from sertk.infer.timeline import Segment, format_summary

Result = Union[FileResult, LongformResult]
OUTPUT_FORMATS = (".csv", ".json")


def write_results(results: Sequence[Result], path: str | Path, labels: Sequence[str],
                  *, top_k: int | None = None, dimensions: Sequence[str] = ()) -> Path:
    """Write ``results`` to ``path``, whole or not at all (else ``OSError`` naming it); the
    suffix (.csv or .json) picks the format. ``top_k`` (JSON only) adds
    ``"top": [{"label", "score"}, ...]`` to every prediction (:meth:`Prediction.top`).
    ``dimensions``: the model's dimension names (``Predictor.dimensions``), for their columns
    and keys."""
    path = Path(path)
    suffix = _suffix(path)
    if suffix == ".json":
        records = [to_record(r, labels, top_k=top_k, dimensions=dimensions) for r in results]
        atomic_write(path, json.dumps(records, indent=2, allow_nan=False) + "\n")
        return path
    rows = [row for r in results for row in to_rows(r, labels, dimensions=dimensions)]
    with atomic_open(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns(results, labels, dimensions))
        writer.writeheader()
        writer.writerows(rows)
    return path


def check_output_path(path: str | Path) -> Path:
    """Make sure results can be written to ``path`` before predicting anything.

    Raises:
        ValueError: the suffix is not .csv or .json, or ``path`` exists and is a folder
            or another non-regular file (a FIFO, a device).
        OSError: naming ``path``, when its folder cannot be created or written.
    """
    path = Path(path)
    _suffix(path)
    if path.is_dir():
        raise ValueError(f"{path}: is a folder; give a file name ending in .csv or .json")
    if path.exists() and not path.is_file():
        raise ValueError(f"{path}: exists and is not a regular file")
    check_writable_folder(path)
    return path


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"{path}: output must end in .csv or .json")
    return suffix


def csv_columns(results: Sequence[Result], labels: Sequence[str],
                dimensions: Sequence[str] = ()) -> list[str]:
    segments = any(isinstance(r, LongformResult) for r in results)
    head = ["path", "scope", "start", "end"] if segments else ["path"]
    tail = ["summary", "error"] if segments else ["error"]
    return head + ["label", "probability", *labels, *dimensions, *tail]


def to_rows(result: Result, labels: Sequence[str], *, windows: bool = True,
            dimensions: Sequence[str] = ()) -> list[dict[str, Any]]:
    """Flat CSV rows for one result (several for a segmented file)."""
    if isinstance(result, FileResult):
        return [_row({"path": result.path}, result.prediction, result.error, labels, dimensions)]
    rows = [_row({"path": result.path, "scope": "window", "start": round(w.start, 3),
                  "end": round(w.end, 3)}, w.prediction, None, labels, dimensions)
            for w in (result.windows if windows else ())]
    rows += [_row({"path": result.path, "scope": "segment", "start": round(s.start, 3),
                   "end": round(s.end, 3)}, _segment_prediction(s, labels), None, labels)
             for s in result.segments]
    end = round(result.duration, 3) if result.duration is not None else ""
    start = 0.0 if end != "" else ""
    summary = format_summary(result.summary) if result.summary is not None else ""
    rows.append(_row({"path": result.path, "scope": "file", "start": start, "end": end,
                      "summary": summary}, result.prediction, result.error, labels, dimensions))
    return rows


def _segment_prediction(segment: Segment, labels: Sequence[str]) -> Prediction:
    if segment.probabilities is None:
        return Prediction(segment.label, {})
    return Prediction(segment.label, {k: float(p) for k, p in zip(labels, segment.probabilities)})


def to_record(result: Result, labels: Sequence[str] = (), *,
              top_k: int | None = None, dimensions: Sequence[str] = ()) -> dict[str, Any]:
    """A JSON-ready dict for one result (with ``top``, the ``top_k`` most probable labels of
    each prediction, when ``top_k`` is given, and the ratings when the model has
    ``dimensions``)."""
    record: dict[str, Any] = {"path": result.path,
                              **_prediction_fields(result.prediction, top_k, dimensions),
                              "error": result.error, "duration": _finite(result.duration)}
    if isinstance(result, LongformResult):
        record["windows"] = [{"start": _finite(w.start), "end": _finite(w.end),
                              **_prediction_fields(w.prediction, top_k, dimensions)}
                             for w in result.windows]
        record["segments"] = [
            {"start": _finite(s.start), "end": _finite(s.end), "label": s.label,
             "probabilities": None if s.probabilities is None or not labels
             else {k: float(p) for k, p in zip(labels, s.probabilities)}}
            for s in result.segments]
        record["summary"] = None if result.summary is None else {
            "dominant": result.summary.dominant, "shares": dict(result.summary.shares)}
        record["speech_regions"] = (None if result.regions is None
                                    else [[a, b] for a, b in result.regions])
    return record


def _finite(value: float | None) -> float | None:
    """``value``, or None where JSON has no number for it (NaN, infinity)."""
    return value if value is None or math.isfinite(value) else None


def format_table(results: Sequence[Result], labels: Sequence[str],
                 dimensions: Sequence[str] = ()) -> str:
    """A fixed-width table for the terminal (probabilities and ratings to 3 decimals)."""
    columns = csv_columns(results, labels, dimensions)
    rows = [[_cell(row.get(c)) for c in columns] for r in results
            for row in to_rows(r, labels, windows=False, dimensions=dimensions)]
    if all(not row[-1] for row in rows):
        columns, rows = columns[:-1], [row[:-1] for row in rows]
    return text_table([columns, *rows])


def _row(head: dict[str, Any], prediction: Prediction | None, error: str | None,
         labels: Sequence[str], dimensions: Sequence[str] = ()) -> dict[str, Any]:
    row = dict(head)
    if prediction is not None:
        row.update(label=prediction.label, probability=prediction.probability)
        row.update({k: prediction.probabilities.get(k) for k in labels})
        row.update({k: prediction.dimensions.get(k) for k in dimensions})
    row["error"] = error or ""
    return row


def _prediction_fields(prediction: Prediction | None, top_k: int | None = None,
                       dimensions: Sequence[str] = ()) -> dict[str, Any]:
    if prediction is None:
        fields = {"label": None, "probability": None, "probabilities": None}
    else:
        fields = {"label": prediction.label, "probability": prediction.probability,
                  "probabilities": dict(prediction.probabilities) or None}
    if dimensions:  # a model with dimensions: its ratings, or null where it was not asked
        rated = prediction.dimensions if prediction is not None else {}
        fields["dimensions"] = {k: rated[k] for k in dimensions} if rated else None
    if top_k is not None:
        fields["top"] = None if prediction is None else prediction.top(top_k)
    return fields


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
