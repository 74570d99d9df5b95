"""Prediction with a model that has a dimension head: Predictor, long recordings, output
files and `sertk predict`; a categorical model's output keeps its old shape."""
from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from sertk.cli import main
from sertk.infer import FileResult, Prediction, load_model
from sertk.infer.output import format_table, write_results
from sertk.infer.results import ModelOutputError
from tests.infer.tiny import LABELS, make_checkpoint, speech_like, write_clip
from tests.infer.tiny import single_thread  # noqa: F401 (autouse fixture)

DIMS = ("arousal", "valence")


@pytest.fixture(scope="module")
def rated_checkpoint(tmp_path_factory):
    return make_checkpoint(tmp_path_factory.mktemp("ckpt") / "dims", padding="batch", n_dims=2)


def test_predict_gives_the_unscaled_ratings_of_the_head(rated_checkpoint):
    predictor = load_model(rated_checkpoint, device="cpu", vad=False)
    assert predictor.dimensions == DIMS and "dimensions=['arousal', 'valence']" in repr(predictor)
    wave = speech_like(1.2, seed=3)
    prediction = predictor.predict(wave, 16_000)
    feats, frames = predictor.features([wave])
    with torch.no_grad():
        scaled = predictor.model.forward_outputs(feats, frames)[1][0].numpy()
    want = scaled * 0.5 + 3.0  # make_checkpoint's scaling: mean 3, std 0.5
    assert list(prediction.dimensions) == list(DIMS)
    np.testing.assert_allclose([prediction.dimensions[k] for k in DIMS], want, rtol=1e-5)
    # batched and alone agree (padding="batch"), and the label still comes from the classes
    batch = predictor.predict_batch([speech_like(0.6, seed=1), wave], 16_000)
    assert batch[1].dimensions == pytest.approx(prediction.dimensions, rel=1e-4)
    assert prediction.label == max(prediction.probabilities, key=prediction.probabilities.get)


def test_a_non_finite_rating_is_a_model_output_error():
    with pytest.raises(ModelOutputError):
        Prediction("a", {"a": 1.0}, {"arousal": float("nan")})
    uncertain = Prediction("a", {"a": 0.4, "b": 0.6}, {"arousal": 2.0}).abstaining(0.9)
    assert uncertain.label == "uncertain" and uncertain.dimensions == {"arousal": 2.0}


def test_long_recordings_rate_every_window_and_the_file(rated_checkpoint, tmp_path):
    predictor = load_model(rated_checkpoint, device="cpu", vad=False)
    wave = np.concatenate([speech_like(1.5, seed=s) for s in range(3)])
    result = predictor.predict_long(wave, 1.0, 0.5, sample_rate=16_000)
    assert result.ok and len(result.windows) >= 3
    for window in result.windows:
        assert set(window.prediction.dimensions) == set(DIMS)
    weights = np.array([w.end - w.start for w in result.windows])
    mean = weights @ np.array([w.prediction.dimensions["valence"] for w in result.windows])
    assert result.prediction.dimensions["valence"] == pytest.approx(mean / weights.sum())

    rows = list(csv.DictReader(write_results([result], tmp_path / "t.csv", predictor.labels,
                                             dimensions=DIMS).open()))
    window_rows = [r for r in rows if r["scope"] == "window"]
    assert [float(r["arousal"]) for r in window_rows] == pytest.approx(
        [w.prediction.dimensions["arousal"] for w in result.windows], rel=1e-6)
    assert all(r["arousal"] == "" for r in rows if r["scope"] == "segment")
    record = json.loads(write_results([result], tmp_path / "t.json", predictor.labels,
                                      dimensions=DIMS).read_text())[0]
    assert set(record["dimensions"]) == set(DIMS)
    assert [w["dimensions"]["valence"] for w in record["windows"]] == pytest.approx(
        [w.prediction.dimensions["valence"] for w in result.windows])


def test_output_columns_and_keys_only_for_a_model_with_dimensions(tmp_path):
    rated = Prediction.from_probabilities(LABELS[:2], [0.7, 0.3], DIMS, [3.25, 2.5])
    results = [FileResult("a.wav", rated), FileResult("b.wav", Prediction.no_speech()),
               FileResult("c.wav", error="empty file")]
    header = next(csv.reader(write_results(results, tmp_path / "o.csv", LABELS[:2],
                                           dimensions=DIMS).open()))
    assert header == ["path", "label", "probability", *LABELS[:2], *DIMS, "error"]
    records = json.loads(write_results(results, tmp_path / "o.json", LABELS[:2],
                                       dimensions=DIMS).read_text())
    assert [r["dimensions"] for r in records] == [{"arousal": 3.25, "valence": 2.5}, None, None]
    assert format_table(results, LABELS[:2], DIMS).splitlines()[1].split()[-2:] == [
        "3.250", "2.500"]
    plain = [FileResult("a.wav", Prediction.from_probabilities(LABELS[:2], [0.7, 0.3]))]
    header = next(csv.reader(write_results(plain, tmp_path / "p.csv", LABELS[:2]).open()))
    assert header == ["path", "label", "probability", *LABELS[:2], "error"]
    assert "dimensions" not in json.loads(
        write_results(plain, tmp_path / "p.json", LABELS[:2]).read_text())[0]


def test_sertk_predict_writes_dimensions_for_a_rated_model_only(rated_checkpoint, tmp_path):
    clip = write_clip(tmp_path / "clip.wav", 1.0)
    plain = make_checkpoint(tmp_path / "plain", padding="batch")
    for checkpoint, want in ((rated_checkpoint, list(DIMS)), (plain, [])):
        out = tmp_path / f"{checkpoint.name}.csv"
        assert main(["predict", str(clip), "--model", str(checkpoint), "--out", str(out),
                     "--device", "cpu", "--no-vad"]) == 0
        header = next(csv.reader(out.open()))
        assert header[3 + len(LABELS):-1] == want
        js = tmp_path / f"{checkpoint.name}.json"
        assert main(["predict", str(clip), "--model", str(checkpoint), "--out", str(js),
                     "--device", "cpu", "--no-vad"]) == 0
        record = json.loads(js.read_text())[0]
        assert (sorted(record["dimensions"]) if want else "dimensions" not in record) == (
            sorted(want) if want else True)
