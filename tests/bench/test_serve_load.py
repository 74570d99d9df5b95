"""bench/serve_load.py loads a real server with concurrent clients and writes JSON."""
from tests.bench.checks import assert_positive


def test_serve_load_quick(run_bench, emodb_dir):
    result = run_bench("serve_load", "--data", str(emodb_dir), "--workers", "1", "2")
    rows = result["rows"]
    assert {(r["workers"], r["clients"]) for r in rows} == {(1, 1), (1, 3), (2, 1), (2, 3)}
    assert_positive(rows, "requests", "ok", "p50_ms", "throughput_per_s", "peak_server_rss_mb")
    for r in rows:
        assert r["lost"] == 0 and r["errors"] == 0  # every request answered, only 200/503
        assert r["requests"] == r["ok"] + r["refused_503"]
        assert r["p50_ms"] <= r["p95_ms"] <= r["p99_ms"]
        if r["clients"] <= r["pool"]:  # no more clients than one worker's slots
            assert r["refused_503"] == 0, r
