"""Dimensional emotion end to end on the IEMOCAP fixture: `sertk prepare iemocap` ->
`sertk cv --protocol loso` with a dimensions recipe -> report with CCC -> `sertk predict`."""
from __future__ import annotations

import csv
import json

from sertk.cli import main
from sertk.data.manifest import read_manifest
from tests.data.iemocap_fixture import write_iemocap

DIMS = ["arousal", "valence", "dominance"]


def test_prepare_cv_report_predict_with_dimensions(tmp_path, capsys):
    fixture = write_iemocap(tmp_path / "IEMOCAP_full_release")
    manifest = tmp_path / "iemocap.csv"
    assert main(["prepare", "iemocap", str(tmp_path), "-o", str(manifest)]) == 0
    rated = {u.id: u for u in read_manifest(manifest)}
    assert all(rated[i].valence == e["valence"] for i, e in fixture.expected.items())

    out = tmp_path / "run"
    assert main(["cv", "--manifest", str(manifest), "--protocol", "loso", "--max-folds", "2",
                 "--model", "base7", "--set", "model_args.hidden=8", "--epochs", "2",
                 "--batch-size", "8", "--padding", "batch", "--threads", "1", "--no-progress",
                 "--set", f"dimensions={','.join(DIMS)}", "--set", "dimension_loss=ccc",
                 "--cache-dir", str(tmp_path / "cache"), "-o", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["dimensions"]["names"] == DIMS and metrics["n_folds"] == 2
    for name in DIMS:
        assert metrics["dimensions"]["std"][name]["mae"] is not None  # two folds
        assert metrics["dimensions"]["pooled"][name]["n"] == metrics["pooled"]["n"]
        assert (out / f"scatter-{name}.png").is_file()
    report = (out / "report.md").read_text()
    assert "## Dimensions" in report and "CCC (pooled)" in report
    with open(out / "fold-00" / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["id"][:5] for r in rows} == {"Ses01"}  # loso: session 1 held out
    assert all(float(r["true_arousal"]) == rated[r["id"]].arousal for r in rows)

    clip = fixture.expected[rows[0]["id"]]["path"]
    predictions = tmp_path / "p.json"
    capsys.readouterr()
    assert main(["predict", clip, "--model", str(out / "fold-00" / "checkpoint"),
                 "--out", str(predictions), "--no-vad", "--device", "cpu"]) == 0
    record = json.loads(predictions.read_text())[0]
    assert list(record["dimensions"]) == DIMS
    assert all(isinstance(v, float) for v in record["dimensions"].values())
    assert main(["predict", clip, "--model", str(out / "fold-00" / "checkpoint"),
                 "--no-vad", "--device", "cpu"]) == 0
    assert capsys.readouterr().out.splitlines()[0].split()[-3:] == DIMS
