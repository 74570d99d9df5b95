"""bench/flops.py measures matmul GFLOP/s, a training step's FLOPs and time, and a profile."""
from sertk.quantize import cpu_has_bf16
from tests.bench.checks import assert_positive


def test_flops_quick(run_bench):
    result = run_bench("flops")
    rows = result["rows"]
    matmul = [r for r in rows if r["part"] == "matmul"]
    peak = result["matmul_peak_gflop_per_s"]
    assert_positive(matmul, "seconds", "gflop", "gflop_per_s")
    assert peak == max(r["gflop_per_s"] for r in matmul)
    step, *bf16 = [r for r in rows if r["part"] == "training step"]
    assert step["what"] == "batch 32 x 0.5 s (51 frames)"
    if cpu_has_bf16():  # the same step under bfloat16 autocast, and a bfloat16 matmul row
        (bf16,) = bf16
        assert bf16["what"] == "batch 32 x 0.5 s (51 frames), bf16 autocast"
        assert bf16["gflop"] == step["gflop"]
        assert abs(bf16["vs_float32"] - bf16["seconds"] / step["seconds"]) < 1e-9
        (cube,) = [r for r in rows if r["part"] == "matmul bf16"]
        assert cube["gflop_per_s"] > 0 and cube["what"].endswith("bfloat16")
    else:
        assert bf16 == []
    # the LSTMs' FLOPs (which FlopCounterMode does not count) from their shapes: 2 blocks,
    # 2 directions, forward 2 * B * T * 4H * (I + H) with I = H = 16, backward twice that
    assert abs(step["gflop_lstm_formula"] - 2 * 2 * 3 * 2 * 32 * 51 * 64 * 32 / 1e9) < 1e-12
    assert abs(step["gflop"] - step["gflop_counted"] - step["gflop_lstm_formula"]) < 1e-9
    assert step["gflop_counted"] > 0
    assert abs(step["gflop_per_s"] - step["gflop"] / step["seconds"]) < 1e-9 * step["gflop_per_s"]
    assert abs(step["fraction_of_peak"] - step["gflop_per_s"] / peak) < 1e-12
    profile = [r for r in rows if r["part"] == "profile 0.5 s"]
    assert {r["what"] for r in profile} >= {"LSTM recurrence", "attention", "conv",
                                            "data (collate)", "optimizer (fused Adam)"}
    assert all(r["seconds"] >= 0 and r["share"] >= 0 for r in profile)
    assert 0.5 < sum(r["share"] for r in profile) < 1.5  # medians of phases ~ median step
    assert next(r for r in profile if r["what"] == "LSTM recurrence")["seconds"] > 0
