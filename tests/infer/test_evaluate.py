"""Cross-corpus evaluation: the bundled EmoDB model scored on the RAVDESS sample's shared
classes, the report files of `sertk cv`, and refused label maps."""
from __future__ import annotations

import csv
import re
import json

import numpy as np
import pytest

from sertk.cli import main as sertk_main
from sertk.data.manifest import Utterance
from sertk.data.prepare import prepare_corpus
from sertk.infer.evaluate import LabelMapError, plan, read_label_map, restrict
from tests.conftest import REPO
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)

EMODB = ["anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness"]
RAVDESS_MAP = REPO / "configs" / "labelmaps" / "ravdess-to-emodb.yaml"


def _utts(*labels):
    return [Utterance(f"u{i}", f"/x/{i}.wav", label) for i, label in enumerate(labels)]


def test_plan_maps_manifest_labels_to_model_labels():
    utts = _utts("angry", "angry", "calm", "neutral", "surprised", "happy")
    scoring = plan(EMODB, utts, {"angry": "anger", "happy": "happiness", "calm": None})
    assert scoring.targets == {"angry": "anger", "happy": "happiness", "neutral": "neutral"}
    assert scoring.labels == ["anger", "happiness", "neutral"]  # the model's order
    assert scoring.left_out == {"calm": 1, "surprised": 1}
    # without a map, the names both spell the same way
    assert plan(EMODB, utts).targets == {"neutral": "neutral"}


@pytest.mark.parametrize("mapping, named", [
    ({"hapy": "happiness"}, "'hapy' is not a label of the manifest"),
    ({"happy": "joy"}, "'joy' (for 'happy') is not a label of the model"),
])
def test_plan_refuses_a_map_naming_unknown_labels(mapping, named):
    with pytest.raises(LabelMapError, match=re.escape(named)):
        plan(EMODB, _utts("happy", "neutral"), mapping)


def test_plan_refuses_when_nothing_is_shared():
    with pytest.raises(LabelMapError, match="give a label map"):
        plan(EMODB, _utts("calm", "surprised"))


def test_restrict_renormalises_over_the_mapped_labels():
    probs = np.array([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]])
    out = restrict(probs, ["a", "b", "c"], ["a", "c"])
    assert np.allclose(out, [[0.5 / 0.7, 0.2 / 0.7], [0.1 / 0.9, 0.8 / 0.9]])


@pytest.mark.parametrize("text, words", [
    ("[a, b]", "non-empty mapping"), ("a: [b]", "is not 'manifest label: model label'"),
    ("a: b: c", "not a YAML/JSON label map"), ("", "non-empty mapping")])
def test_bad_label_map_files(tmp_path, text, words):
    path = tmp_path / "map.yaml"
    path.write_text(text)
    with pytest.raises(LabelMapError, match=words):
        read_label_map(path)


@pytest.fixture(scope="module")
def ravdess_manifest(ravdess_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("ravdess") / "ravdess.csv"
    prepare_corpus("ravdess", ravdess_dir, out)
    return out


def test_emodb_model_on_ravdess_writes_the_cv_report(ravdess_manifest, tmp_path, capsys):
    out = tmp_path / "run"
    assert sertk_main(["evaluate", "emodb", "--manifest", str(ravdess_manifest),
                       "--label-map", str(RAVDESS_MAP), "-o", str(out), "--no-progress"]) == 0
    err = capsys.readouterr().err
    assert "left out 3 utterance(s)" in err and "calm 2, surprised 1" in err
    for name in ("run.json", "metrics.json", "predictions.csv", "report.md", "confusion.png",
                 "fold-00/metrics.json", "fold-00/predictions.csv"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    shared = ["anger", "disgust", "fear", "happiness", "neutral", "sadness"]
    assert metrics["labels"] == shared and metrics["pooled"]["n"] == 7
    assert metrics["protocol"] == "cross-corpus"
    with open(out / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["true"] for r in rows} == set(shared) and len(rows) == 7
    for row in rows:  # probabilities over the shared classes only, summing to 1
        probs = [float(row[f"prob_{c}"]) for c in shared]
        assert sum(probs) == pytest.approx(1.0, abs=1e-4)
        assert row["pred"] == shared[int(np.argmax(probs))]
        assert "prob_boredom" not in row


@pytest.mark.parametrize("mapping, named", [
    ("hapy: happiness\n", "'hapy' is not a label of the manifest"),
    ("happy: joy\n", "'joy' (for 'happy') is not a label of the model"),
])
def test_cli_refuses_a_map_naming_unknown_labels(ravdess_manifest, tmp_path, capsys, mapping,
                                                 named):
    label_map = tmp_path / "map.yaml"
    label_map.write_text(mapping)
    out = tmp_path / "run"
    assert sertk_main(["evaluate", "emodb", "--manifest", str(ravdess_manifest),
                       "--label-map", str(label_map), "-o", str(out), "--no-progress"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and named in err
    assert not out.exists()  # nothing written
