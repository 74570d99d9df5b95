"""Predicting files with a classical model: the bundled ComParE logistic regression on real
EmoDB-2s clips."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from sertk.classical import FunctionalsExtractor, load_linear
from sertk.infer import resolve_model
from sertk.infer.linear import LinearPredictor, is_linear_model
from tests.infer.emodb import emodb_clips  # noqa: F401 (fixture)

BUNDLED = "emodb-compare-logreg"


def test_the_bundled_classical_model_is_one_the_neural_one_is_not():
    assert is_linear_model(resolve_model(BUNDLED))
    assert not is_linear_model(resolve_model("emodb")) and not is_linear_model(None)


def test_the_bundled_classical_model_scores_files_as_its_own_functionals_say(emodb_clips, tmp_path):
    silence = tmp_path / "silence.wav"
    sf.write(silence, np.zeros(32000, np.float32), 16000)
    predictor = LinearPredictor(resolve_model(BUNDLED))
    results = predictor.predict_files([*emodb_clips, silence])
    assert all(r.ok for r in results)
    assert results[-1].prediction.label == "no-speech"  # the detector, not the model
    model = load_linear(resolve_model(BUNDLED))
    x, failures = FunctionalsExtractor("compare", cache_root=False).of_files(emodb_clips)
    assert failures == []
    assert [r.prediction.label for r in results[:-1]] == model.predict(x)
    for result in results[:-1]:
        assert sorted(result.prediction.probabilities) == sorted(model.labels)
        assert sum(result.prediction.probabilities.values()) == pytest.approx(1.0)
        assert result.duration == pytest.approx(2.0, abs=0.01)


def test_the_cli_takes_the_bundled_classical_model_by_name(emodb_clips, capsys):
    from sertk.cli import main

    assert main(["predict", "--model", BUNDLED, str(emodb_clips[0]), "--no-vad"]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines()
               if line.startswith(str(emodb_clips[0])))
    model = load_linear(resolve_model(BUNDLED))
    x, _ = FunctionalsExtractor("compare", cache_root=False).of_files(emodb_clips[:1])
    assert row.split()[1] == model.predict(x)[0]
