"""bench/varlen_blstm.py times the equal, packed and dense paths side by side."""
from tests.bench.checks import assert_positive


def test_varlen_blstm_quick(run_bench):
    result = run_bench("varlen_blstm")
    rows = result["rows"]
    assert_positive(rows, "median_step_s", "ratio_vs_equal")
    for scope in ("training step", "BLSTM block fwd+bwd"):
        got = {r["batch"]: r for r in rows if r["scope"] == scope}
        assert set(got) == {"equal", "variable, packed", "variable, dense"}
        assert got["equal"]["ratio_vs_equal"] == 1.0
        # the equal-length twin holds the same real frames, up to rounding the mean
        assert abs(got["equal"]["total_frames"] - got["variable, dense"]["total_frames"]) < 32
        equal = got["equal"]["median_step_s"]
        for r in got.values():
            assert abs(r["ratio_vs_equal"] - r["median_step_s"] / equal) < 1e-9
