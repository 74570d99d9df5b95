"""The IEMOCAP-like length mix follows the distribution bench/benchdata.py documents."""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import benchdata  # noqa: E402


def test_iemocap_like_durations_match_the_documented_quantiles():
    seconds = benchdata.iemocap_like_seconds(20_000, seed=3)
    assert abs((seconds < 1.0).mean() - 0.05) < 0.01
    assert abs((seconds >= 4.0).mean() - 0.25) < 0.015  # the clips cut at 4 s
    assert abs(np.median(seconds) - 2.67) < 0.05
    assert seconds.min() >= benchdata.MIN_SECONDS and seconds.max() <= 4.0
    assert np.array_equal(seconds, benchdata.iemocap_like_seconds(20_000, seed=3))


def test_equal_twin_keeps_the_count_and_total_frames():
    seconds = benchdata.iemocap_like_seconds(384)
    twin = benchdata.equal_twin(seconds)
    assert len(twin) == 384 and len(set(twin.tolist())) == 1
    frames, twin_frames = (benchdata.seconds_to_frames(s).sum() for s in (seconds, twin))
    assert abs(frames - twin_frames) <= 384  # rounding the mean to 10 ms: <= 1 frame per clip
    assert benchdata.seconds_to_frames(np.array([2.0]))[0] == 201  # 1 + 100 * s
