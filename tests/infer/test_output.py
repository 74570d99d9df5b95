"""Results as a terminal table, CSV and JSON."""
from __future__ import annotations

import csv
import json
import math
import os

import pytest

from sertk.infer import FileResult, LongformResult, Prediction
from sertk.infer.longform import WindowPrediction
from sertk.infer.output import check_output_path, format_table, write_results

LABELS = ["anger", "sadness"]


def _p(anger: float) -> Prediction:
    return Prediction.from_probabilities(LABELS, [anger, 1 - anger])


def test_file_results_as_csv_json_and_table(tmp_path):
    results = [FileResult("a.wav", _p(0.75), duration=2.0), FileResult("b.wav", error="empty file")]
    rows = list(csv.DictReader(write_results(results, tmp_path / "o.csv", LABELS).open()))
    assert list(rows[0]) == ["path", "label", "probability", "anger", "sadness", "error"]
    assert rows[0]["label"] == "anger" and float(rows[0]["sadness"]) == pytest.approx(0.25)
    assert rows[1]["label"] == "" and rows[1]["error"] == "empty file"

    records = json.loads(write_results(results, tmp_path / "o.json", LABELS).read_text())
    assert records[0]["probabilities"] == {"anger": 0.75, "sadness": 0.25}
    assert records[1] == {"path": "b.wav", "label": None, "probability": None,
                          "probabilities": None, "error": "empty file", "duration": None}

    table = format_table(results, LABELS).splitlines()
    assert table[0].split() == ["path", "label", "probability", "anger", "sadness", "error"]
    assert table[1].split() == ["a.wav", "anger", "0.750", "0.750", "0.250"]
    assert table[2].split()[0] == "b.wav" and table[2].endswith("empty file")


def test_segment_results_have_window_rows_and_a_file_row(tmp_path):
    windows = (WindowPrediction(0.0, 2.0, _p(0.9)), WindowPrediction(2.0, 3.5, _p(0.3)))
    result = LongformResult("talk.wav", windows, _p(0.6), duration=3.5)
    failed = LongformResult("bad.wav", error="file not found")
    rows = list(csv.DictReader(write_results([result, failed], tmp_path / "o.csv", LABELS).open()))
    assert [(r["scope"], r["start"], r["end"], r["label"]) for r in rows] == [
        ("window", "0.0", "2.0", "anger"), ("window", "2.0", "3.5", "sadness"),
        ("file", "0.0", "3.5", "anger"), ("file", "", "", "")]
    assert rows[-1]["error"] == "file not found"

    records = json.loads(write_results([result], tmp_path / "o.json", LABELS).read_text())
    assert [w["start"] for w in records[0]["windows"]] == [0.0, 2.0]
    assert records[0]["label"] == "anger" and records[0]["duration"] == 3.5


def test_unknown_output_suffix_is_refused(tmp_path):
    with pytest.raises(ValueError, match=".csv or .json"):
        write_results([], tmp_path / "o.xlsx", LABELS)


def test_json_output_is_always_valid_json(tmp_path):
    windows = (WindowPrediction(0.0, math.inf, _p(0.9)),)
    results = [LongformResult("talk.wav", windows, _p(0.9), duration=math.nan),
               FileResult("a.wav", _p(0.5), duration=math.inf)]

    def refuse(constant):
        raise AssertionError(f"invalid JSON constant {constant}")

    text = write_results(results, tmp_path / "o.json", LABELS).read_text()
    records = json.loads(text, parse_constant=refuse)
    assert records[0]["duration"] is None and records[0]["windows"][0]["end"] is None
    assert records[1]["duration"] is None and records[1]["label"] == "anger"


def test_output_paths_are_checked_before_any_work(tmp_path):
    (tmp_path / "taken.json").mkdir()
    with pytest.raises(ValueError, match="is a folder"):
        check_output_path(tmp_path / "taken.json")
    os.mkfifo(tmp_path / "pipe.csv")
    with pytest.raises(ValueError, match="not a regular file"):
        check_output_path(tmp_path / "pipe.csv")
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError):
        check_output_path(tmp_path / "file" / "o.csv")
    with pytest.raises(ValueError, match=".csv or .json"):
        check_output_path(tmp_path / "o.txt")
    assert check_output_path(tmp_path / "new" / "o.csv") == tmp_path / "new" / "o.csv"
    assert not (tmp_path / "new" / "o.csv").exists()  # checked, not written
