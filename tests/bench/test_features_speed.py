"""bench/features_speed.py runs on real clips and writes its table as JSON."""
from tests.bench.checks import assert_positive


def test_features_speed_quick(run_bench, emodb_dir):
    result = run_bench("features_speed", "--data", str(emodb_dir))
    stages = [row["stage"] for row in result["rows"]]
    assert stages[0] == "decode" and any("cache hit" in s for s in stages)
    assert_positive(result["rows"], "sertk_ms_per_clip", "librosa_ms_per_clip",
                    "speedup_vs_librosa", "sertk_x_realtime")
    assert result["files"] == 8
    # sertk and librosa compute the same log-mels (tests/test_features.py pins 1e-3)
    assert result["max_abs_diff_vs_librosa"] < 1e-3
