"""bench/threads.py times fresh worker processes per thread setting and writes JSON."""
from tests.bench.checks import assert_positive


def test_threads_quick(run_bench):
    result = run_bench("threads")
    rows = result["rows"]
    assert [(r["threads"], r["environment"]) for r in rows] == [
        (1, "default"), (1, "malloc keeps freed memory")]
    assert all(r["machine"] == "idle" for r in rows)
    assert_positive(rows, "train_step_2s_s", "train_step_4s_s", "infer_b32_4s_s",
                    "infer_b1_4s_s")
