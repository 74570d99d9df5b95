"""Records: a published run reads back as the run that made it, and nothing else passes."""
from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sertk.eval.compare import compare_runs, load_run, render_comparison
from sertk.eval.fusion import fuse_runs
from sertk.eval.record import fold_results, is_record, publish
from sertk.eval.report import aggregate_run
from sertk.eval.rundir import ReportError
from tests.eval.test_compare import N_FOLDS, make_run


def finished_run(path, wrong, val_ua=None):
    make_run(path, wrong, val_ua=val_ua)
    aggregate_run(path, plots=False)
    (path / "config.yaml").write_text("model: proposed\n")
    (path / "run.log").write_text("a log the record leaves out\n")
    return path


def table(runs, names):
    loaded = [load_run(r, n) for r, n in zip(runs, names)]
    return render_comparison(loaded, compare_runs(loaded, n_boot=200, seed=3), n_boot=200)


def test_a_record_reads_back_as_its_run(tmp_path):
    run = finished_run(tmp_path / "runs" / "net", [k % 4 for k in range(N_FOLDS)], val_ua=0.6)
    assert publish(run, tmp_path / "rec") == [run]
    record = tmp_path / "rec"
    assert is_record(record) and not is_record(run)
    assert sorted(p.name for p in record.iterdir()) == [
        "config.yaml", "metrics.json", "predictions.csv", "report.md", "run.json"]
    for live, kept in zip(fold_results(run), fold_results(record)):
        assert kept.fold == live.fold and kept.info == live.info
        assert kept.predictions.ids == live.predictions.ids
        np.testing.assert_allclose(kept.predictions.probs, live.predictions.probs, atol=1e-6)


def test_comparisons_and_fusions_of_records_equal_those_of_the_runs(tmp_path):
    svm = finished_run(tmp_path / "runs" / "svm", [4] * N_FOLDS, val_ua=0.7)
    net = tmp_path / "runs" / "net"
    for seed, wrong in enumerate(([1] * N_FOLDS, [k % 5 for k in range(N_FOLDS)])):
        finished_run(net / f"seed-{seed}", wrong, val_ua=0.5 + seed / 10)
    publish(svm, tmp_path / "rec" / "svm")
    publish(net, tmp_path / "rec" / "net")
    assert (tmp_path / "rec" / "net" / "seed-1" / "run.json").is_file()
    group_metrics = json.loads((tmp_path / "rec" / "net" / "metrics.json").read_text())
    assert group_metrics["seeds"][1]["seed"] == "1" and group_metrics["group"] == "net"
    assert "# Seed group `net`:" in (tmp_path / "rec" / "net" / "report.md").read_text()
    live = table([svm, net], ["svm", "net"])
    assert "| seeds | 1 | 2 |" in live and "| validation UA (selection) | 74.5 | 59.5 |" in live
    assert table([tmp_path / "rec" / "svm", tmp_path / "rec" / "net"], ["svm", "net"]) == live
    fused = fuse_runs([svm, net], tmp_path / "fused-live", plots=False)
    kept = fuse_runs([tmp_path / "rec" / "svm", tmp_path / "rec" / "net"],
                     tmp_path / "fused-kept", plots=False)
    assert kept["pooled"]["ua"] == pytest.approx(fused["pooled"]["ua"])
    assert kept["mean"]["ua"] == pytest.approx(fused["mean"]["ua"])


def test_unfinished_seeds_are_refused_or_left_out_by_request(tmp_path):
    group = tmp_path / "group"
    finished_run(group / "seed-0", [1] * N_FOLDS)
    make_run(group / "seed-1", [2] * N_FOLDS)  # folds done, never aggregated
    with pytest.raises(ReportError, match="seed-1: not finished"):
        publish(group, tmp_path / "rec")
    assert not (tmp_path / "rec").exists()
    assert publish(group, tmp_path / "rec", skip_unfinished=True) == [group / "seed-0"]
    assert [s["seed"] for s in json.loads((tmp_path / "rec" / "metrics.json").read_text())[
        "seeds"]] == ["0"]


def test_a_record_of_an_unfinished_run_is_refused(tmp_path):
    run = tmp_path / "half"
    make_run(run, [1] * N_FOLDS)
    shutil.rmtree(run / "fold-03")
    aggregate_run(run, partial=True, plots=False)
    with pytest.raises(ReportError, match="not finished"):
        publish(run, tmp_path / "rec")
    for fold in run.glob("fold-*"):  # a partial record made by hand says so when read
        shutil.rmtree(fold)
    with pytest.raises(ReportError, match="unfinished run"):
        load_run(run)


def test_a_tampered_record_names_the_fold(tmp_path):
    publish(finished_run(tmp_path / "run", [1] * N_FOLDS), tmp_path / "rec")
    path = tmp_path / "rec" / "predictions.csv"
    lines = path.read_text().splitlines()
    path.write_text("\n".join(line for line in lines if not line.startswith("u045,")) + "\n")
    with pytest.raises(ReportError, match=r"speaker=2.*1 missing"):
        fold_results(tmp_path / "rec")


def test_publishing_replaces_a_record_but_never_a_run_or_other_files(tmp_path):
    run = finished_run(tmp_path / "run", [1] * N_FOLDS)
    out = tmp_path / "rec"
    publish(run, out)
    (out / "stale.png").write_bytes(b"old figure")
    publish(run, out)  # a new record replaces the old one as a whole
    assert not (out / "stale.png").exists() and is_record(out)
    with pytest.raises(ReportError, match="fold folders"):
        publish(out, run)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "todo.txt").write_text("mine")
    with pytest.raises(ReportError, match="no record"):
        publish(run, tmp_path / "notes")
    assert (tmp_path / "notes" / "todo.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes", "rec", "run"]  # no staging


def test_cli_publishes_and_names_what_it_left_out(tmp_path, capsys):
    from sertk.cli import main

    group = tmp_path / "group"
    finished_run(group / "seed-0", [1] * N_FOLDS)
    make_run(group / "seed-1", [2] * N_FOLDS)
    assert main(["publish", str(group), "-o", str(tmp_path / "rec")]) == 2
    assert "seed-1: not finished" in capsys.readouterr().err
    assert main(["publish", str(group), "-o", str(tmp_path / "rec"), "--skip-unfinished"]) == 0
    captured = capsys.readouterr()
    assert "left out unfinished seed-1" in captured.err and "published seed-0" in captured.out
    assert main(["publish", str(tmp_path / "nothing"), "-o", str(tmp_path / "x")]) == 2
    assert "no run.json" in capsys.readouterr().err


@pytest.mark.parametrize("damage, message", [
    ({"metrics.json": "[1, 2]"}, "expected a JSON object, got list"),
    ({"metrics.json": '{"complete": true, "folds": "none"}'}, "unfinished run"),
    ({"metrics.json": "{not json"}, "not valid JSON"),
    ({"run.json": '{"protocol": "lospk", "labels": ["a", "b"], "folds": [{"index": 0}]}'},
     "malformed run file"),
    ({"predictions.csv": "id,fold,true,pred,prob_a,prob_b\nu000,0,a,a,0.9,0.1\n"
                         "u999,77,a,b,0.1,0.9\n"}, "fold indices \\[77\\]"),
])
def test_a_damaged_record_gets_one_clear_error(tmp_path, damage, message):
    publish(finished_run(tmp_path / "run", [1] * N_FOLDS), tmp_path / "rec")
    for name, text in damage.items():
        (tmp_path / "rec" / name).write_text(text)
    with pytest.raises(ReportError, match=message):
        load_run(tmp_path / "rec")


def test_a_group_with_a_damaged_seed_report_names_the_file(tmp_path):
    from sertk.eval.seeds import aggregate_seeds

    publish(finished_run(tmp_path / "g" / "seed-0", [1] * N_FOLDS), tmp_path / "rec" / "seed-0")
    metrics = json.loads((tmp_path / "rec" / "seed-0" / "metrics.json").read_text())
    del metrics["pooled"]
    (tmp_path / "rec" / "seed-0" / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(ReportError, match="seed-0/metrics.json: no numeric mean and pooled"):
        aggregate_seeds(tmp_path / "rec")


def test_a_run_whose_report_is_older_than_a_fold_is_not_published(tmp_path):
    run = finished_run(tmp_path / "run", [1] * N_FOLDS)
    make_run(tmp_path / "again", [3] * N_FOLDS)  # fold 4 trained again with other results
    shutil.rmtree(run / "fold-04")
    shutil.copytree(tmp_path / "again" / "fold-04", run / "fold-04")
    with pytest.raises(ReportError, match="differs from fold-04's; report the run again"):
        publish(run, tmp_path / "rec")
    assert not (tmp_path / "rec").exists()
    aggregate_run(run, plots=False)
    publish(run, tmp_path / "rec")
