"""Helpers for the bench smoke tests: run a bench script with ``--quick`` and read its JSON.

These tests check that every benchmark runs end to end and writes well-formed results;
they never assert anything about speed (the figures of a --quick run mean nothing).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def run_bench(tmp_path):
    """``run_bench(name, *args) -> dict``: run bench/<name>.py --quick, return its JSON."""
    def run(name: str, *args: str) -> dict:
        out = tmp_path / f"{name}.json"
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [sys.executable, str(REPO / "bench" / f"{name}.py"), "--quick", "--threads", "1",
             "--out", str(out), *args],
            cwd=tmp_path, capture_output=True, text=True, timeout=300, env=env)
        assert proc.returncode == 0, f"bench/{name}.py failed:\n{proc.stdout}\n{proc.stderr}"
        payload = json.loads(out.read_text())
        assert payload["benchmark"] == name and payload["quick"] is True
        assert payload["machine"]["torch_threads"] == 1
        assert payload["rows"], "no result rows"
        assert "wrote" in proc.stdout  # the table and the path were printed
        return payload
    return run

