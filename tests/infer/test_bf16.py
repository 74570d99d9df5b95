"""bfloat16 inference (``load_model(..., bf16=True)``, ``sertk predict --bf16``): the network
runs under bfloat16 autocast, the front-end stays float32, and the refusals.

Bounds. The tiny test model's classifier weights are scaled 20x (``tests/infer/tiny.py``), so
every rounding error of its bfloat16 embedding is amplified 20x in the logits (bfloat16 keeps
8 bits of mantissa, int8 about 7 over its range). The test allows the int8 tests' 0.15 and
lets the label change only where the float model's two best probabilities are within 0.15
of each other. The bundled model moves by ~1e-2 (``bench/int8_accuracy.py``).
"""
from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import torch

from sertk.cli import main
from sertk.infer import load_model
from sertk.quantize import Bf16Error, check_bf16_device, cpu_has_bf16
from tests.infer.tiny import assert_label_changes_only_on_near_ties, make_checkpoint

BOUND = 0.15  # tiny model (20x logits): max |p_bf16 - p_float| allowed, and near-tie margin

needs_bf16_cpu = pytest.mark.skipif(not cpu_has_bf16(),
                                    reason="this CPU has no native bfloat16 instructions")


@pytest.fixture(scope="module")
def dims_checkpoint(tmp_path_factory):
    """A tiny batch-padding model with a 2-dimension head."""
    return make_checkpoint(tmp_path_factory.mktemp("bf16") / "dims", padding="batch", seed=2,
                           n_dims=2)


@needs_bf16_cpu
@pytest.mark.parametrize("padding", ["fixed", "batch"])
def test_bf16_predictor_keeps_the_float_labels(checkpoints, varied_waves, padding):
    reference = load_model(checkpoints[padding], device="cpu", vad=False).probabilities(
        varied_waves)
    bf16 = load_model(checkpoints[padding], device="cpu", vad=False, bf16=True)
    reduced = bf16.probabilities(varied_waves)
    assert reduced.dtype == np.float64 and np.allclose(reduced.sum(1), 1)
    assert 0 < np.abs(reduced - reference).max() <= BOUND  # it ran, and it stays close
    assert_label_changes_only_on_near_ties(reference, reduced, BOUND)


@needs_bf16_cpu
def test_bf16_runs_the_network_in_bfloat16_and_the_front_end_in_float32(checkpoints,
                                                                        varied_waves):
    predictor = load_model(checkpoints["batch"], device="cpu", vad=False, bf16=True)
    seen = []
    predictor.model.head.register_forward_hook(lambda m, i, out: seen.append(out.dtype))
    feats, _ = predictor.features(varied_waves[:3])
    assert feats.dtype == torch.float32
    predictor.probabilities(varied_waves[:3])
    vectors = predictor.embeddings(varied_waves[:3])
    assert seen == [torch.bfloat16]  # the head ran under autocast (embeddings skip it)
    assert vectors.dtype == np.float32 and vectors.shape == (3, predictor.embedding_size)
    assert predictor.checkpoint.model.head.weight.dtype == torch.float32  # weights unchanged
    assert "bf16=True" in repr(predictor)


@needs_bf16_cpu
def test_bf16_keeps_a_dimension_models_ratings(dims_checkpoint, varied_waves):
    reference = load_model(dims_checkpoint, device="cpu", vad=False)
    bf16 = load_model(dims_checkpoint, device="cpu", vad=False, bf16=True)
    (_, ratings), (_, expected) = bf16.outputs(varied_waves), reference.outputs(varied_waves)
    assert ratings.dtype == np.float64 and ratings.shape == expected.shape == (len(varied_waves), 2)
    assert 0 < np.abs(ratings - expected).max() < 0.1 * np.ptp(expected)


def test_bf16_is_refused_where_it_would_be_emulated(checkpoints, monkeypatch):
    monkeypatch.setattr("sertk.quantize.cpu_has_bf16", lambda: False)
    with pytest.raises(Bf16Error, match="no native bfloat16") as err:
        load_model(checkpoints["fixed"], device="cpu", bf16=True)
    assert "\n" not in str(err.value)
    with pytest.raises(Bf16Error, match="not on meta"):
        check_bf16_device(torch.device("meta"))


def test_int8_and_bf16_together_are_refused(checkpoints):
    with pytest.raises(ValueError, match="choose one"):
        load_model(checkpoints["fixed"], device="cpu", int8=True, bf16=True)


def test_predict_bf16_without_native_bfloat16_is_a_one_line_usage_error(checkpoints, tmp_path,
                                                                        capsys, monkeypatch):
    monkeypatch.setattr("sertk.quantize.cpu_has_bf16", lambda: False)
    clip = tmp_path / "a.wav"
    sf.write(clip, np.zeros(16000, np.float32), 16000)
    assert main(["predict", str(clip), "--model", str(checkpoints["fixed"]), "--bf16",
                 "--device", "cpu", "--no-progress"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "bfloat16" in err[0] and "--bf16" in err[0]
