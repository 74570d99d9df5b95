"""Run directory files: run.json, per-fold predictions/metrics, history, atomic writes."""
from __future__ import annotations

import json

import numpy as np
import pytest

from sertk.data.manifest import Utterance
from sertk.data.splits import make_folds
from sertk.eval.rundir import (HISTORY_COLUMNS, Predictions, ReportError, fold_dir, init_run,
                               read_json, read_predictions, read_run, write_fold, write_history,
                               write_json, write_predictions)

LABELS = ["ang", "hap", "sad"]


@pytest.fixture
def folds():
    utts = [Utterance(f"u{i}", "x.wav", LABELS[i % 3], speaker=f"s{i % 4}") for i in range(24)]
    return make_folds(utts, "lospk")


def test_init_run_round_trip_and_refuses_a_different_split(tmp_path, folds):
    init_run(tmp_path, folds, LABELS, protocol="lospk", info={"model": "proposed"})
    plan = read_run(tmp_path)
    assert plan["folds"] == folds and plan["labels"] == LABELS and plan["protocol"] == "lospk"
    assert plan["info"] == {"model": "proposed"}
    init_run(tmp_path, folds, LABELS, protocol="lospk")  # a second job: same split is fine
    with pytest.raises(ReportError, match="different protocol, labels or split"):
        init_run(tmp_path, folds[:2], LABELS, protocol="lospk")


def test_read_run_missing(tmp_path):
    with pytest.raises(ReportError, match="run.json: not found"):
        read_run(tmp_path)


def test_write_fold_predictions_and_metrics(tmp_path, folds):
    fold = folds[1]
    ids = fold.test_ids
    y_true = [LABELS[int(i[1:]) % 3] for i in ids]
    probs = np.tile([0.7, 0.2, 0.1], (len(ids), 1))  # always predicts "ang"
    metrics = write_fold(tmp_path, fold, ids, y_true, probs, LABELS,
                         info={"params": 10, "train_seconds": np.float64(1.5)})
    out = fold_dir(tmp_path, 1)
    assert out.name == "fold-01"
    preds = read_predictions(out / "predictions.csv")
    assert preds.ids == ids and preds.folds == (1,) * len(ids)
    assert preds.y_true == tuple(y_true) and set(preds.y_pred) == {"ang"}
    np.testing.assert_allclose(preds.probs, probs)
    assert preds.labels == tuple(LABELS)
    saved = read_json(out / "metrics.json")
    assert saved == json.loads(json.dumps(metrics))
    expected_wa = y_true.count("ang") / len(y_true)
    assert saved["wa"] == pytest.approx(expected_wa)
    assert saved["info"] == {"params": 10, "train_seconds": 1.5}
    assert saved["name"] == fold.name and saved["index"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["metrics.json", "predictions.csv"]


def test_write_fold_explicit_predictions_and_bad_input(tmp_path, folds):
    m = write_fold(tmp_path, 0, ["a", "b"], ["ang", "sad"], np.full((2, 3), 1 / 3), LABELS,
                   y_pred=["ang", "sad"])
    assert m["wa"] == 1.0
    with pytest.raises(ReportError, match=r"shape \(2, 2\), expected \(2, 3\)"):
        write_fold(tmp_path, 0, ["a", "b"], ["ang", "sad"], np.ones((2, 2)), LABELS)
    with pytest.raises(ReportError, match="must cover its 6 test ids exactly once"):
        write_fold(tmp_path, folds[0], folds[0].test_ids[:-1], ["ang"] * 5,
                   np.full((5, 3), 1 / 3), LABELS)
    with pytest.raises(ReportError, match="NaN"):
        write_fold(tmp_path, 0, ["a"], ["ang"], [[np.nan, 0, 0]], LABELS)


@pytest.mark.parametrize("text, message", [
    ("id,true,pred\n", "header must start with id,fold,true,pred"),
    ("id,fold,true,pred,prob_a\n", "no predictions"),
    ("id,fold,true,pred,prob_a,prob_b\nx,0,a,b,0.5\n", r"predictions.csv:2: 5 fields"),
    ("id,fold,true,pred,prob_a,prob_b\nx,0,a,z,0.5,0.5\n", r":2: label 'a' or 'z' not in"),
    ("id,fold,true,pred,prob_a,prob_b\nx,0,a,b,0.5,half\n", r":2: fold or probability"),
    ("id,fold,true,pred,p_a\n", "prob_<label> columns"),
])
def test_read_predictions_errors_name_file_and_row(tmp_path, text, message):
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(ReportError, match=message):
        read_predictions(path)


def test_predictions_concat_and_round_trip(tmp_path):
    a = Predictions(("x",), (0,), ("ang",), ("hap",), np.array([[0.1, 0.8, 0.1]]), tuple(LABELS))
    b = Predictions(("y", "z"), (1, 1), ("sad", "sad"), ("sad", "ang"),
                    np.array([[0, 0, 1.0], [0.5, 0, 0.5]]), tuple(LABELS))
    both = Predictions.concat([a, b])
    assert both.ids == ("x", "y", "z") and both.folds == (0, 1, 1) and len(both) == 3
    back = read_predictions(write_predictions(tmp_path / "p.csv", both))
    assert back.y_pred == both.y_pred
    np.testing.assert_allclose(back.probs, both.probs)
    with pytest.raises(ReportError, match="different label lists"):
        Predictions.concat([a, Predictions((), (), (), (), np.zeros((0, 2)), ("p", "q"))])


def test_write_history_columns_and_gaps(tmp_path):
    rows = [{"epoch": 1, "train_loss": 1.2, "val_loss": 1.3, "val_ua": 0.4, "val_wa": 0.5, "lr": 1e-4},
            {"epoch": 2, "train_loss": 1.0}]
    path = write_history(tmp_path, rows)
    lines = path.read_text().splitlines()
    assert lines[0].split(",") == [*HISTORY_COLUMNS, "lr"]
    assert lines[2] == "2,1.0,,,,"


def test_json_writes_are_atomic_and_clean(tmp_path):
    path = write_json(tmp_path / "sub" / "m.json", {"x": np.float32(0.5), "nan": float("nan"),
                                                     "arr": np.arange(2)})
    assert read_json(path) == {"x": 0.5, "nan": None, "arr": [0, 1]}
    assert [p.name for p in path.parent.iterdir()] == ["m.json"]  # no temporary left
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(ReportError, match="bad.json: not valid JSON"):
        read_json(tmp_path / "bad.json")
