"""The inference pool's deadline: every model call of a timed-out request stops it."""
from __future__ import annotations

import time

import numpy as np
import pytest

from sertk.infer import load_model
from sertk.serve.pool import DeadlinePassed, deadline_predictor
from tests.infer.tiny import make_checkpoint


@pytest.fixture(scope="module")
def predictor(tmp_path_factory):
    return load_model(make_checkpoint(tmp_path_factory.mktemp("ck") / "tiny", padding="batch"),
                      vad=False)


@pytest.mark.parametrize("call", [
    lambda p, waves: p.probabilities(waves),
    lambda p, waves: p.outputs(waves),
    lambda p, waves: p.predict(waves[0], 16000),
])
def test_a_passed_deadline_stops_every_prediction_path(predictor, call):
    waves = [np.random.default_rng(0).standard_normal(16000).astype(np.float32) * 0.1]
    late = deadline_predictor(predictor, time.monotonic() - 1.0)
    with pytest.raises(DeadlinePassed):
        call(late, waves)
    call(deadline_predictor(predictor, time.monotonic() + 60.0), waves)  # in time: answers
    assert "outputs" not in vars(predictor)  # the shared predictor is untouched


def test_a_long_recording_stops_at_its_first_window_after_the_deadline(predictor):
    wave = np.random.default_rng(1).standard_normal(48000).astype(np.float32) * 0.1
    late = deadline_predictor(predictor, time.monotonic() - 1.0)
    result = late.predict_long(wave, 0.5, sample_rate=16000)
    assert result.windows == () and "DeadlinePassed" in result.error
    in_time = deadline_predictor(predictor, time.monotonic() + 60.0)
    assert len(in_time.predict_long(wave, 0.5, sample_rate=16000).windows) == 6

