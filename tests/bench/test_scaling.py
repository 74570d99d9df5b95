"""bench/scaling.py measures segment prediction and training memory in fresh processes."""
from tests.bench.checks import assert_positive


def test_scaling_quick(run_bench, emodb_dir):
    result = run_bench("scaling", "--data", str(emodb_dir))
    predict = [r for r in result["rows"] if r["part"] == "predict --segment"]
    assert [r["audio_s"] for r in predict] == [1.0, 8.0]
    assert_positive(predict, "wall_s", "peak_rss_mb", "rss_model_loaded_mb")
    # --segment 4 cuts 1 s into one window and 8 s into two
    assert [r["windows"] for r in predict] == [1, 2]
    assert [round(r["duration_s"], 3) for r in predict] == [1.0, 8.0]
    train = [r for r in result["rows"] if r["part"].startswith("train memory")]
    assert train and all(r["peak_rss_mb"] >= r["rss_start_mb"] > 0 for r in train)
    assert all(r["utterances"] == 64 for r in train)
    mix = [r for r in result["rows"] if r["part"].startswith("train: fit")]
    assert [r["part"] for r in mix] == ["train: fit, iemocap-like, padding=batch",
                                        "train: fit, iemocap-like-equal, padding=batch"]
    assert_positive(mix, "wall_s", "peak_rss_mb", "wall_vs_equal")
    assert mix[1]["wall_vs_equal"] == 1.0


def test_scaling_ssl_store_quick(run_bench):
    result = run_bench("scaling", "--ssl-store", "40,80")
    build, *train = result["rows"]
    assert build["part"] == "ssl store: build (encoder once)" and build["computed"] == 80
    assert build["store_mb"] > 0
    assert [r["utterances"] for r in train] == [40, 80]
    assert_positive(train, "wall_s", "peak_rss_mb", "features_mb")
    assert train[0]["peak_vs_smallest"] == 1.0
