"""bench/infer_speed.py predicts real-speech files with a checkpoint and writes JSON."""
from tests.bench.checks import assert_positive


def test_infer_speed_quick(run_bench, emodb_dir):
    result = run_bench("infer_speed", "--data", str(emodb_dir), "--no-onnx")
    rows = result["rows"]
    assert_positive(rows, "ms_per_clip", "x_realtime", "wall_s")
    kinds = {(r["inputs"], r["padding"], r["batch"]) for r in rows}
    assert ("4 s files", "fixed", 32) in kinds and ("4 s files", "fixed", 1) in kinds
    assert ("one 4 s file (latency)", "fixed", 1) in kinds
    assert ("EmoDB-2s files", "batch", 32) in kinds
    for padding in ("fixed", "batch"):  # the length mix beside its equal-length twin
        var, twin = [r for r in rows if r["padding"] == padding and "wall_vs_equal" in r]
        assert (var["inputs"], twin["inputs"]) == ("IEMOCAP-like files", "equal-length twin files")
        assert abs(var["audio_s"] - twin["audio_s"]) < 0.01 * var["clips"]
        assert twin["wall_vs_equal"] == 1.0
        assert abs(var["wall_vs_equal"] - var["wall_s"] / twin["wall_s"]) < 1e-9
    for r in rows:  # x real time is audio seconds over wall seconds
        assert abs(r["x_realtime"] - r["audio_s"] / r["wall_s"]) < 1e-6 * r["x_realtime"]
