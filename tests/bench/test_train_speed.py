"""bench/train_speed.py runs the reference loop and sertk's fit side by side and writes JSON."""
from sertk.quantize import cpu_has_bf16
from tests.bench.checks import assert_positive


def test_train_speed_quick(run_bench, emodb_dir):
    result = run_bench("train_speed", "--data", str(emodb_dir))
    rows = result["rows"]
    paths = {(r["corpus"], r["path"]) for r in rows}
    for corpus in ("synthetic-4s", "synthetic-2s", "emodb-2s"):
        assert (corpus, "reference (pad to 4 s)") in paths
        assert (corpus, "sertk fit, padding=fixed") in paths
    assert ("emodb-2s", "sertk fit, padding=batch") in paths
    # the IEMOCAP-like mix: every path of it is followed by its equal-length twin's row
    mix = [r for r in rows if r["corpus"].startswith("iemocap-like")]
    assert {r["path"] for r in mix} >= {"reference (pad to 4 s)", "sertk fit, padding=batch",
                                        "sertk fit, padding=batch + bucketed"}
    for var, twin in zip(mix[::2], mix[1::2]):
        assert (var["corpus"], twin["corpus"]) == ("iemocap-like", "iemocap-like-equal")
        assert var["path"] == twin["path"] and twin["step_vs_equal"] == 1.0
        assert abs(var["step_vs_equal"] - var["median_step_s"] / twin["median_step_s"]) < 1e-9
        assert abs(var["clip_s"] - twin["clip_s"]) < 0.01  # same total frames
    assert_positive(rows, "utt_per_s", "median_step_s", "ratio_vs_reference")
    assert all(r["steps"] >= 1 for r in rows)
    # the ratio is this row's speed over the reference row's of the same corpus
    ref = {r["corpus"]: r["utt_per_s"] for r in rows if r["path"].startswith("reference")}
    for r in rows:
        assert abs(r["ratio_vs_reference"] - r["utt_per_s"] / ref[r["corpus"]]) < 1e-9
    # the former packed BLSTM is the baseline of x_before; the recipes are timed on EmoDB-2s
    before = {r["corpus"]: r["utt_per_s"] for r in mix
              if r["path"] == "sertk fit, padding=batch, packed BLSTM (before)"}
    assert set(before) == {"iemocap-like", "iemocap-like-equal"}
    for r in mix[2:]:  # every sertk row of the mix
        assert abs(r["x_before"] - r["utt_per_s"] / before[r["corpus"]]) < 1e-9
    recipes = [r for r in rows if "recipe" in r["path"]]
    bf16 = ["sertk fit, recipe configs/best.yaml, precision=bf16-mixed"] if cpu_has_bf16() else []
    assert [r["path"] for r in recipes] == ["sertk fit, recipe configs/paper.yaml",
                                            "sertk fit, recipe configs/best.yaml", *bf16]
    assert recipes[0]["x_paper_recipe"] == 1.0
    for r in recipes[1:]:
        assert abs(r["x_paper_recipe"] - r["median_step_s"] / recipes[0]["median_step_s"]) < 1e-9
