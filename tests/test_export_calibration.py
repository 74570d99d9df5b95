"""An exported model divides by the checkpoint's temperature (its probabilities are the
predictor's), and an ONNX file names its labels in its own metadata."""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from sertk.export import export_onnx, runner
from sertk.infer import Predictor
from sertk.models import load_checkpoint, save_checkpoint
from tests.infer.tiny import LABELS, make_checkpoint, speech_like
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    root = tmp_path_factory.mktemp("calibrated")
    c = load_checkpoint(make_checkpoint(root / "plain", padding="fixed"))
    return save_checkpoint(root / "hot", c.model, model_name=c.model_name, labels=c.labels,
                           feature_config=c.feature_config, norm_mean=c.norm_mean,
                           norm_std=c.norm_std, temperature=2.75)


@pytest.fixture(scope="module")
def report(calibrated):
    return export_onnx(calibrated, calibrated.parent / "m.onnx")


def test_onnx_probabilities_are_the_calibrated_predictors(calibrated, report):
    waves = [speech_like(s, seed=i) for i, s in enumerate((0.7, 1.3, 2.0))]
    predictor = Predictor(load_checkpoint(calibrated), device="cpu")
    run = runner(report.path, "onnx")
    got = np.concatenate([run(w[None, :], np.array([w.size])) for w in waves])
    assert np.abs(got - predictor.probabilities(waves)).max() < 1e-4
    # ... and not the uncalibrated ones
    plain = Predictor(load_checkpoint(calibrated.parent / "plain"), device="cpu")
    assert np.abs(got - plain.probabilities(waves)).max() > 1e-2
    sidecar = json.loads(report.sidecar.read_text())
    assert sidecar["temperature"] == 2.75


def test_onnx_metadata_names_the_labels(report):
    props = {p.key: p.value for p in onnx.load(str(report.path)).metadata_props}
    assert json.loads(props["labels"]) == LABELS
    assert float(props["temperature"]) == 2.75
    assert props["sample_rate"] == "16000" and int(props["min_samples"]) == 400
