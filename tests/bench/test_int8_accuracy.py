"""bench/int8_accuracy.py compares the bundled model float32 vs int8 (and bfloat16 where the CPU
computes it natively) on EmoDB-2s and writes JSON."""
from sertk.quantize import cpu_has_bf16
from tests.bench.checks import assert_positive


def test_int8_accuracy_quick(run_bench, emodb_dir):
    rows = run_bench("int8_accuracy", "--data", str(emodb_dir), "--no-onnx")["rows"]
    accuracy = {r["precision"]: r for r in rows if r["part"] == "accuracy"}
    reduced = ("int8", "bf16") if cpu_has_bf16() else ("int8",)
    assert set(accuracy) == {"float32", *reduced}
    assert accuracy["float32"]["clips"] > 50
    assert accuracy["float32"]["max_abs_prob_diff"] == 0 == 1 - accuracy["float32"][
        "label_agreement"]
    for row in accuracy.values():
        assert 0 <= row["ua"] <= 1 and row["clips"] == accuracy["float32"]["clips"]
    for precision in reduced:
        row = accuracy[precision]
        change = 100 * (row["ua"] - accuracy["float32"]["ua"])
        assert abs(row["ua_change_points"] - change) < 1e-9
        assert 0 < row["max_abs_prob_diff"] < 1  # it ran and differs a little
        assert 0 <= row["label_agreement"] <= 1
    speed = [r for r in rows if r["part"] == "speed"]
    assert {(r["engine"], r["precision"], r["batch"]) for r in speed} == {
        ("pytorch", p, b) for p in ("float32", *reduced) for b in (32, 1)}
    assert_positive(speed, "ms_per_clip", "x_realtime", "speedup_vs_float32")
    for r in speed:  # each precision's speed-up is over the float32 row of its batch size
        base = next(s for s in speed if s["batch"] == r["batch"] and s["precision"] == "float32")
        assert abs(r["speedup_vs_float32"] - base["wall_s"] / r["wall_s"]) < 1e-9
