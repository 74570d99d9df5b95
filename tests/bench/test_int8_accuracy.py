"""bench/int8_accuracy.py compares the bundled model float32 vs int8 on EmoDB-2s and writes JSON."""
from tests.bench.checks import assert_positive


def test_int8_accuracy_quick(run_bench, emodb_dir):
    rows = run_bench("int8_accuracy", "--data", str(emodb_dir), "--no-onnx")["rows"]
    accuracy = {r["precision"]: r for r in rows if r["part"] == "accuracy"}
    assert set(accuracy) == {"float32", "int8"}
    assert accuracy["float32"]["clips"] == accuracy["int8"]["clips"] > 50
    for row in accuracy.values():
        assert 0 <= row["ua"] <= 1
    change = 100 * (accuracy["int8"]["ua"] - accuracy["float32"]["ua"])
    assert abs(accuracy["int8"]["ua_change_points"] - change) < 1e-9
    assert 0 < accuracy["int8"]["max_abs_prob_diff"] < 1  # int8 ran and differs a little
    assert 0 <= accuracy["int8"]["label_agreement"] <= 1
    speed = [r for r in rows if r["part"] == "speed"]
    assert {(r["engine"], r["precision"], r["batch"]) for r in speed} == {
        ("pytorch", p, b) for p in ("float32", "int8") for b in (32, 1)}
    assert_positive(speed, "ms_per_clip", "x_realtime", "speedup_vs_float32")
    for r in speed:  # each precision's speed-up is over the float32 row of its batch size
        base = next(s for s in speed if s["batch"] == r["batch"] and s["precision"] == "float32")
        assert abs(r["speedup_vs_float32"] - base["wall_s"] / r["wall_s"]) < 1e-9
