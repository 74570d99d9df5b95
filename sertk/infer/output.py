"""Writing prediction results: a terminal table, CSV or JSON.

Utterance results (:class:`FileResult`) give one row per file:
``path, label, probability, <one column per class>, error``.
Segment results (:class:`LongformResult`) give one row per window plus one row for
the whole file (``scope`` = ``window`` or ``file``, with ``start`` and ``end`` in
seconds); in JSON the windows are nested under their file.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Union

from sertk.fileio import atomic_open, atomic_write
from sertk.infer.longform import LongformResult
from sertk.infer.predictor import FileResult, Prediction

Result = Union[FileResult, LongformResult]
OUTPUT_FORMATS = (".csv", ".json")


def write_results(results: Sequence[Result], path: str | Path, labels: Sequence[str]) -> Path:
    """Write ``results`` to ``path``; the suffix (.csv or .json) picks the format.

    The file appears whole or not at all (a full disk leaves no truncated table).

    Raises:
        OSError: naming ``path``, when it cannot be written.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in OUTPUT_FORMATS:
        raise ValueError(f"{path}: output must end in .csv or .json")
    if suffix == ".json":
        records = [to_record(r) for r in results]
        atomic_write(path, json.dumps(records, indent=2) + "\n")
        return path
    rows = [row for r in results for row in to_rows(r, labels)]
    with atomic_open(path, newline="") as f:
        writer = csv.DictWriter(f, fieldnames=csv_columns(results, labels))
        writer.writeheader()
        writer.writerows(rows)
    return path


def csv_columns(results: Sequence[Result], labels: Sequence[str]) -> list[str]:
    segments = any(isinstance(r, LongformResult) for r in results)
    head = ["path", "scope", "start", "end"] if segments else ["path"]
    return head + ["label", "probability", *labels, "error"]


def to_rows(result: Result, labels: Sequence[str]) -> list[dict[str, Any]]:
    """Flat CSV rows for one result (several for a segmented file)."""
    if isinstance(result, FileResult):
        return [_row({"path": result.path}, result.prediction, result.error, labels)]
    rows = [_row({"path": result.path, "scope": "window", "start": round(w.start, 3),
                  "end": round(w.end, 3)}, w.prediction, None, labels) for w in result.windows]
    end = round(result.duration, 3) if result.duration is not None else ""
    start = 0.0 if end != "" else ""
    rows.append(_row({"path": result.path, "scope": "file", "start": start, "end": end},
                     result.prediction, result.error, labels))
    return rows


def to_record(result: Result) -> dict[str, Any]:
    """A JSON-ready dict for one result."""
    record: dict[str, Any] = {"path": result.path, **_prediction_fields(result.prediction),
                              "error": result.error, "duration": result.duration}
    if isinstance(result, LongformResult):
        record["windows"] = [{"start": w.start, "end": w.end, **_prediction_fields(w.prediction)}
                             for w in result.windows]
    return record


def format_table(results: Sequence[Result], labels: Sequence[str]) -> str:
    """A fixed-width table for the terminal (probabilities to 3 decimals)."""
    columns = csv_columns(results, labels)
    rows = [[_cell(row.get(c)) for c in columns] for r in results for row in to_rows(r, labels)]
    if all(not row[-1] for row in rows):
        columns, rows = columns[:-1], [row[:-1] for row in rows]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _row(head: dict[str, Any], prediction: Prediction | None, error: str | None,
         labels: Sequence[str]) -> dict[str, Any]:
    row = dict(head)
    if prediction is not None:
        row.update(label=prediction.label, probability=prediction.probability)
        row.update({k: prediction.probabilities[k] for k in labels})
    row["error"] = error or ""
    return row


def _prediction_fields(prediction: Prediction | None) -> dict[str, Any]:
    if prediction is None:
        return {"label": None, "probability": None, "probabilities": None}
    return {"label": prediction.label, "probability": prediction.probability,
            "probabilities": dict(prediction.probabilities)}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
