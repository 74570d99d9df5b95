"""`sertk predict --top-k K`: the K most probable labels in the JSON output (real
EmoDB-2s clips, bundled model)."""
from __future__ import annotations

import json

import pytest

from sertk.cli import main
from tests.infer.emodb import bundled, emodb_clips  # noqa: F401 (fixtures)
from tests.infer.tiny import single_thread  # noqa: F401 (autouse)


def _predict(*args: str) -> int:
    return main(["predict", *args, "--device", "cpu", "--no-progress"])


def test_json_records_carry_the_top_labels(bundled, emodb_clips, tmp_path):
    out = tmp_path / "p.json"
    assert _predict(*map(str, emodb_clips[:2]), "--out", str(out), "--top-k", "3") == 0
    records = json.loads(out.read_text())
    for record, path in zip(records, emodb_clips):
        ranked = sorted(record["probabilities"].items(), key=lambda kv: -kv[1])[:3]
        assert [(t["label"], t["score"]) for t in record["top"]] == ranked
        alone = bundled.predict_file(path).top(3)
        assert [t["label"] for t in record["top"]] == [t["label"] for t in alone]
        assert [t["score"] for t in record["top"]] == pytest.approx(
            [t["score"] for t in alone], abs=1e-5)


def test_windows_carry_them_too(emodb_clips, tmp_path):
    out = tmp_path / "p.json"
    assert _predict(str(emodb_clips[0]), "--segment", "1", "--out", str(out),
                    "--top-k", "1") == 0
    record = json.loads(out.read_text())[0]
    assert record["windows"]
    for window in record["windows"]:
        assert window["top"] == [{"label": window["label"],
                                  "score": window["probability"] or 1.0}]


@pytest.mark.parametrize("args, reason", [(["--top-k", "0", "--out", "p.json"], ">= 1"),
                                          (["--top-k", "2"], "JSON output"),
                                          (["--top-k", "2", "--out", "p.csv"], "JSON output")])
def test_top_k_usage_errors(emodb_clips, tmp_path, monkeypatch, capsys, args, reason):
    monkeypatch.chdir(tmp_path)
    assert _predict(str(emodb_clips[0]), *args) == 2
    assert reason in capsys.readouterr().err
