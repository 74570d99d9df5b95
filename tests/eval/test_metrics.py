"""WA / UA / macro-F1 / confusion, checked against values worked out by hand."""
from __future__ import annotations

import math
import warnings

import pytest
from sklearn.metrics import balanced_accuracy_score

from sertk.eval.metrics import fold_metrics, summarize

LABELS = ["a", "b", "c"]
# c is only predicted, never true
Y_TRUE = ["a", "a", "a", "b", "b"]
Y_PRED = ["a", "a", "c", "b", "a"]


def test_only_predicted_class_adds_no_zero_to_ua():
    m = fold_metrics(Y_TRUE, Y_PRED, LABELS)
    assert m["n"] == 5
    assert m["wa"] == pytest.approx(3 / 5)
    recall_a, recall_b = 2 / 3, 1 / 2
    assert m["ua"] == pytest.approx((recall_a + recall_b) / 2)  # 7/12, not (.. + 0) / 3
    assert m["ua"] != pytest.approx((recall_a + recall_b + 0) / 3)
    # F1 over the present classes: a: P=2/3 (b->a is a false a), R=2/3; b: P=1, R=1/2
    f1_a = 2 / 3
    f1_b = 2 * 1 * 0.5 / 1.5
    assert m["f1"] == pytest.approx((f1_a + f1_b) / 2)
    assert m["confusion"] == [[2, 0, 1], [1, 1, 0], [0, 0, 0]]
    assert m["labels"] == LABELS
    assert m["per_class"]["a"] == pytest.approx(
        {"support": 3, "recall": 2 / 3, "precision": 2 / 3, "f1": 2 / 3})
    assert m["per_class"]["c"] == {"support": 0, "recall": None, "precision": 0.0, "f1": None}


def test_ua_is_balanced_accuracy():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about the only-predicted class
        expected = balanced_accuracy_score(Y_TRUE, Y_PRED)
    assert fold_metrics(Y_TRUE, Y_PRED, LABELS)["ua"] == pytest.approx(expected)


def test_ua_and_wa_differ_on_imbalanced_data():
    # 8 a all right, 2 b all wrong: WA 0.8, UA (1 + 0) / 2
    m = fold_metrics(["a"] * 8 + ["b"] * 2, ["a"] * 10, ["a", "b"])
    assert (m["wa"], m["ua"]) == pytest.approx((0.8, 0.5))
    assert m["per_class"]["b"]["precision"] is None  # never predicted


def test_confusion_order_follows_labels_rows_true():
    m = fold_metrics(["x", "y"], ["y", "y"], ["y", "x"])
    assert m["confusion"] == [[1, 0], [1, 0]]  # row y: 1 -> y; row x: 1 -> y


@pytest.mark.parametrize("y_true, y_pred, labels, message", [
    (["a"], ["a", "b"], LABELS, "y_true has 1 labels but y_pred has 2"),
    ([], [], LABELS, "no predictions"),
    (["a", "d"], ["a", "a"], LABELS, "label.*d not in the class list"),
    (["a"], ["a"], ["a", "a"], "distinct"),
])
def test_bad_input(y_true, y_pred, labels, message):
    with pytest.raises(ValueError, match=message):
        fold_metrics(y_true, y_pred, labels)


def test_summarize_mean_sample_std_and_pooled():
    f1 = fold_metrics(Y_TRUE, Y_PRED, LABELS)           # WA 3/5, UA 7/12
    f2 = fold_metrics(["b", "c"], ["b", "c"], LABELS)   # WA 1, UA 1
    s = summarize([f1, f2], Y_TRUE + ["b", "c"], Y_PRED + ["b", "c"])
    assert s["n_folds"] == 2 and s["std_ddof"] == 1
    assert s["mean"]["wa"] == pytest.approx((0.6 + 1.0) / 2)
    assert s["std"]["wa"] == pytest.approx(math.sqrt(2 * 0.2 ** 2 / 1))  # n-1 = 1
    assert s["mean"]["ua"] == pytest.approx((7 / 12 + 1) / 2)
    # pooled: 7 utterances, 5 right; recalls a 2/3, b 2/3, c 1/1
    assert s["pooled"]["wa"] == pytest.approx(5 / 7)
    assert s["pooled"]["ua"] == pytest.approx((2 / 3 + 2 / 3 + 1) / 3)
    assert s["pooled"]["confusion"] == [[2, 0, 1], [1, 2, 0], [0, 0, 1]]


def test_summarize_single_fold_has_no_std_and_checks_consistency():
    f1 = fold_metrics(Y_TRUE, Y_PRED, LABELS)
    s = summarize([f1], Y_TRUE, Y_PRED)
    assert s["std"] == {"wa": None, "ua": None, "f1": None}
    assert s["mean"]["ua"] == pytest.approx(f1["ua"]) == pytest.approx(s["pooled"]["ua"])
    with pytest.raises(ValueError, match="do not match"):
        summarize([f1], Y_TRUE[:4], Y_PRED[:4])
    with pytest.raises(ValueError, match="disagree on the label list"):
        summarize([f1, fold_metrics(["a"], ["a"], ["a", "b"])], Y_TRUE + ["a"], Y_PRED + ["a"])
    with pytest.raises(ValueError, match="at least one fold"):
        summarize([], [], [])
